"""Each function's settings: one frozen object read once from the environment variables template.yaml sets."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Mapping, TypeVar

from hashmatch.vocabulary import CannotCheckAction

# Read by Powertools itself, not by our settings; template.yaml sets them for every function.
POWERTOOLS_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"})


class TakedownMode(StrEnum):
    """What the takedown does with a match (template parameter TakedownMode: the same values)."""

    QUARANTINE = "quarantine"  # move the upload into the evidence bucket
    REVIEW_ONLY = "review-only"  # record it for review and leave it in place


class SettingsError(RuntimeError):
    """A missing or malformed environment variable: the function cannot start."""


def _env(name: str, parse=str, empty: bool = False):
    """A field read from the variable `name`; with `empty`, the variable must be set but may be empty (an empty list)."""
    return field(metadata={"env": name, "parse": parse, "empty": empty})


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _one_of(values: type[StrEnum]):
    """A parser for a closed set's values (a template parameter's AllowedValues)."""

    def parse(text: str):
        try:
            return values(text)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(values)}") from None

    return parse


def _role_names(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    if any(not re.fullmatch(r"[\w+=,.@-]{1,64}", name) for name in names):
        raise ValueError("must be IAM role names separated by commas")
    return names


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
        if text is None or (text == "" and not f.metadata["empty"]):
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
    # Counts the hasher's attempts at an upload that keeps ending without an outcome (out of memory or time).
    idempotency_table: str = _env("IDEMPOTENCY_TABLE")


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
    upload_log_queue_url: str = _env("UPLOAD_LOG_QUEUE_URL")
    idempotency_table: str = _env("IDEMPOTENCY_TABLE")
    cannot_check_action: CannotCheckAction = _env("CANNOT_CHECK_ACTION", _one_of(CannotCheckAction))


@dataclass(frozen=True)
class LogUploadHashesSettings:
    upload_log_bucket: str = _env("UPLOAD_LOG_BUCKET")


class RetroMatchEngine(StrEnum):
    """Where retro-match's SQL runs (template parameter RetroMatchEngine: the same values)."""

    ATHENA = "athena"  # in AWS, over the Glue tables
    DUCKDB = "duckdb"  # the local stack: the log's files copied to the function's /tmp


@dataclass(frozen=True)
class RetroMatchSettings:
    hash_set_table: str = _env("HASH_SET_TABLE")
    upload_log_bucket: str = _env("UPLOAD_LOG_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    match_topic_arn: str = _env("MATCH_TOPIC_ARN")
    pdq_match_threshold: int = _env("PDQ_MATCH_THRESHOLD", _positive_int)
    window_days: int = _env("RETRO_MATCH_WINDOW_DAYS", _positive_int)
    engine: RetroMatchEngine = _env("RETRO_MATCH_ENGINE", _one_of(RetroMatchEngine))
    athena_workgroup: str = _env("ATHENA_WORKGROUP")
    athena_database: str = _env("ATHENA_DATABASE")


@dataclass(frozen=True)
class IndexHashSetSettings:
    hash_set_table: str = _env("HASH_SET_TABLE")
    snapshot_bucket: str = _env("SNAPSHOT_BUCKET")
    reference_features_bucket: str = _env("REFERENCE_FEATURES_BUCKET")
    compact_after_changes: int = _env("COMPACT_AFTER_CHANGES", _positive_int)


@dataclass(frozen=True)
class TakeDownSettings:
    evidence_bucket: str = _env("EVIDENCE_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    takedown_mode: TakedownMode = _env("TAKEDOWN_MODE", _one_of(TakedownMode))
    evidence_retention_days: int = _env("EVIDENCE_RETENTION_DAYS", _positive_int)
    idempotency_table: str = _env("IDEMPOTENCY_TABLE")


@dataclass(frozen=True)
class RestoreUploadSettings:
    evidence_bucket: str = _env("EVIDENCE_BUCKET")
    audit_table: str = _env("AUDIT_TABLE")
    exemption_days: int = _env("EXEMPTION_DAYS", _positive_int)
    # The role of this account whose sessions may restore (RestoreRoleName, one name); empty: any caller IAM lets through.
    restore_roles: frozenset = _env("RESTORE_ROLE_NAME", _role_names, empty=True)


@dataclass(frozen=True)
class LookUpHashesSettings:
    hash_set_table: str = _env("HASH_SET_TABLE")
    snapshot_bucket: str = _env("SNAPSHOT_BUCKET")
    throttle_table: str = _env("THROTTLE_TABLE")
    pdq_match_threshold: int = _env("PDQ_MATCH_THRESHOLD", _positive_int)
    hash_set_refresh_seconds: int = _env("HASH_SET_REFRESH_SECONDS", _positive_int)
    hashes_per_minute: int = _env("LOOKUP_HASHES_PER_MINUTE", _positive_int)
    # Role names of this account whose sessions see labels; empty: nobody does.
    labels_role_names: frozenset = _env("LOOKUP_LABELS_ROLE_NAMES", _role_names, empty=True)

