"""Each function's settings: one frozen object read once from the environment variables template.yaml sets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Mapping, TypeVar

# Read by Powertools itself, not by our settings; template.yaml sets them for every function.
POWERTOOLS_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"})


class TakedownMode(StrEnum):
    """What the takedown does with a match (template parameter TakedownMode: the same values)."""

    QUARANTINE = "quarantine"  # move the upload into the evidence bucket
    REVIEW_ONLY = "review-only"  # record it for review and leave it in place


class SettingsError(RuntimeError):
    """A missing or malformed environment variable: the function cannot start."""


def _env(name: str, parse=str):
    return field(metadata={"env": name, "parse": parse})


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _takedown_mode(text: str) -> TakedownMode:
    try:
        return TakedownMode(text)
    except ValueError:
        raise ValueError(f"must be one of {', '.join(TakedownMode)}") from None


S = TypeVar("S")


def environment_names(settings_class: type) -> frozenset[str]:
    """The environment variables a settings class reads (checked against template.yaml by a test)."""
    return frozenset(f.metadata["env"] for f in fields(settings_class))


def load(settings_class: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Read every field's variable; all missing or malformed ones are reported at once."""
    environ = os.environ if environ is None else environ
    values, problems = {}, []
    for f in fields(settings_class):
        name = f.metadata["env"]
        text = environ.get(name)
        if text is None or text == "":
            problems.append(f"{name} is not set")
            continue
        try:
            values[f.name] = f.metadata["parse"](text)
        except ValueError as error:
            problems.append(f"{name}={text!r}: {error}")
    if problems:
        raise SettingsError(f"{settings_class.__name__}: " + "; ".join(problems))
    return settings_class(**values)


@dataclass(frozen=True)
class HashUploadSettings:
    hashes_queue_url: str = _env("HASHES_QUEUE_URL")
    hashes_bucket: str = _env("HASHES_BUCKET")
    details_bucket: str = _env("DETAILS_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    max_upload_bytes: int = _env("MAX_UPLOAD_BYTES", _positive_int)


@dataclass(frozen=True)
class MatchHashesSettings:
    hash_set_table: str = _env("HASH_SET_TABLE")
    reference_features_bucket: str = _env("REFERENCE_FEATURES_BUCKET")
    hashes_bucket: str = _env("HASHES_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    match_topic_arn: str = _env("MATCH_TOPIC_ARN")
    pdq_match_threshold: int = _env("PDQ_MATCH_THRESHOLD", _positive_int)
    hash_set_refresh_seconds: int = _env("HASH_SET_REFRESH_SECONDS", _positive_int)
    snapshot_bucket: str = _env("SNAPSHOT_BUCKET")


@dataclass(frozen=True)
class IndexHashSetSettings:
    hash_set_table: str = _env("HASH_SET_TABLE")
    snapshot_bucket: str = _env("SNAPSHOT_BUCKET")
    compact_after_changes: int = _env("COMPACT_AFTER_CHANGES", _positive_int)


@dataclass(frozen=True)
class TakeDownSettings:
    evidence_bucket: str = _env("EVIDENCE_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    takedown_mode: TakedownMode = _env("TAKEDOWN_MODE", _takedown_mode)
    evidence_retention_days: int = _env("EVIDENCE_RETENTION_DAYS", _positive_int)


@dataclass(frozen=True)
class RestoreUploadSettings:
    evidence_bucket: str = _env("EVIDENCE_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
