"""Each function's settings: one frozen pydantic-settings object, read once from the environment variables template.yaml sets.

A field's variable is its name in capitals (hash_set_table: HASH_SET_TABLE). Every missing or
malformed variable is reported at once (SettingsError), and the function does not start: no
silent defaults. tests/functional/test_template.py checks that each function's variables in the
template are exactly those its settings read.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from enum import StrEnum
from typing import Annotated, Mapping, TypeVar

from pydantic import BeforeValidator, Field, StringConstraints, ValidationError
from pydantic_settings import BaseSettings, InitSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from hashmatch.vocabulary import CannotCheckAction, TakedownMode

# Read by Powertools itself, not by our settings; template.yaml sets them for every function.
POWERTOOLS_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"})
# The retro-match SQL and the sub-linear PDQ index are exact up to this many bits (template: PdqMatchThreshold's MaxValue).
MAX_PDQ_MATCH_THRESHOLD = 31


class SettingsError(RuntimeError):
    """A missing or malformed environment variable: the function cannot start."""


class RetroMatchEngine(StrEnum):
    """Where retro-match's SQL runs (template parameter RetroMatchEngine: the same values)."""

    ATHENA = "athena"  # in AWS, over the Glue tables
    DUCKDB = "duckdb"  # the local stack: the log's files copied to the function's /tmp


def _whole_number(text):
    if isinstance(text, str):
        if not re.fullmatch(r"\d+", text.strip()):
            raise ValueError("must not be negative" if re.fullmatch(r"-\d+", text.strip()) else "must be a whole number")
        return int(text)
    return text


def _one_of(values: type[StrEnum]):
    """A closed set's values (a template parameter's AllowedValues), refused naming them."""

    def parse(text):
        try:
            return values(text)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(values)}") from None

    return BeforeValidator(parse)


def _role_names(text):
    if not isinstance(text, str):
        return text
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    if any(not re.fullmatch(r"[\w+=,.@-]{1,64}", name) for name in names):
        raise ValueError("must be IAM role names separated by commas")
    return names


Name = Annotated[str, StringConstraints(min_length=1)]
Count = Annotated[int, BeforeValidator(_whole_number), Field(ge=0)]
PdqThreshold = Annotated[int, BeforeValidator(_whole_number), Field(ge=0, le=MAX_PDQ_MATCH_THRESHOLD)]
# Set, but may be empty (an empty list): the template passes "" for none.
RoleNames = Annotated[frozenset[str], NoDecode, BeforeValidator(_role_names)]

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("hashmatch_settings_environ", default=None)


class _Settings(BaseSettings):
    """Frozen, and read from one mapping (the environment unless `load` is given another), every field required."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        read = {name: environ[name.upper()] for name in settings_cls.model_fields if name.upper() in environ}
        return (init_settings, InitSettingsSource(settings_cls, init_kwargs=read))


S = TypeVar("S", bound=_Settings)


def environment_names(settings_class: type[_Settings]) -> frozenset[str]:
    """The environment variables a settings class reads (checked against template.yaml by a test)."""
    return frozenset(name.upper() for name in settings_class.model_fields)


def load(settings_class: type[S], environ: Mapping[str, str] | None = None) -> S:
    """Read every field's variable from `environ` (default: the environment); all missing or malformed ones are reported at once."""
    token = _ENVIRON.set(environ)
    try:
        return settings_class()
    except ValidationError as error:
        problems = []
        for problem in error.errors():
            name = str(problem["loc"][0]).upper() if problem["loc"] else "?"
            if problem["type"] == "missing" or (problem["type"] == "string_too_short" and problem.get("input") == ""):
                problems.append(f"{name} is not set")
            else:
                message = str(problem["msg"]).removeprefix("Value error, ")
                problems.append(f"{name}={problem.get('input')!r}: {message}")
        raise SettingsError(f"{settings_class.__name__}: " + "; ".join(problems)) from None
    finally:
        _ENVIRON.reset(token)


class HashUploadSettings(_Settings):
    hashes_queue_url: Name
    hashes_bucket: Name
    details_bucket: Name
    audit_table: Name
    max_upload_bytes: Count
    # Counts the hasher's attempts at an upload that keeps ending without an outcome (out of memory or time).
    idempotency_table: Name
    # The Secrets Manager secret that keys which instants of an upload are sampled (template: SamplingSecret).
    sampling_secret_arn: Name


class MatchHashesSettings(_Settings):
    hash_set_table: Name
    reference_features_bucket: Name
    hashes_bucket: Name
    audit_table: Name
    match_topic_arn: Name
    pdq_match_threshold: PdqThreshold
    hash_set_refresh_seconds: Count
    snapshot_bucket: Name
    upload_log_queue_url: Name
    idempotency_table: Name
    cannot_check_action: Annotated[CannotCheckAction, _one_of(CannotCheckAction)]
    # The key that signs the hash set's manifests: a manifest it does not verify is not believed.
    manifest_key_id: Name
    hash_set_staleness_limit_seconds: Count
    # Each source's policy and flood protection (aws/match_policy.py): more than FLOOD_MATCHES uploads in FLOOD_WINDOW_MINUTES switch an item to review.
    match_policy_table: Name
    flood_matches: Count
    flood_window_minutes: Count
    alarm_topic_arn: Name


class LogUploadHashesSettings(_Settings):
    upload_log_bucket: Name


class RetroMatchSettings(_Settings):
    hash_set_table: Name
    upload_log_bucket: Name
    audit_table: Name
    match_topic_arn: Name
    pdq_match_threshold: PdqThreshold
    retro_match_window_days: Count
    retro_match_engine: Annotated[RetroMatchEngine, _one_of(RetroMatchEngine)]
    athena_workgroup: Name
    athena_database: Name
    match_policy_table: Name
    flood_matches: Count
    flood_window_minutes: Count
    alarm_topic_arn: Name


class IndexHashSetSettings(_Settings):
    hash_set_table: Name
    snapshot_bucket: Name
    reference_features_bucket: Name
    compact_after_changes: Count
    manifest_key_id: Name


class TakeDownSettings(_Settings):
    evidence_bucket: Name
    audit_table: Name
    takedown_mode: Annotated[TakedownMode, _one_of(TakedownMode)]
    evidence_retention_days: Count
    idempotency_table: Name


class RestoreUploadSettings(_Settings):
    evidence_bucket: Name
    audit_table: Name
    exemption_days: Count
    # The role of this account whose sessions may restore (RestoreRoleName, one name); empty: any caller IAM lets through.
    restore_role_name: RoleNames
    # The reviewers' role (EvidenceReaderRoleName), whose sessions release held uploads from `hashmatch review`; may be empty.
    reviewer_role_name: RoleNames


class LookUpHashesSettings(_Settings):
    hash_set_table: Name
    snapshot_bucket: Name
    throttle_table: Name
    pdq_match_threshold: PdqThreshold
    hash_set_refresh_seconds: Count
    lookup_hashes_per_minute: Count
    lookup_hashes_per_day: Count
    lookup_account_hashes_per_minute: Count
    # Role names of this account whose sessions see labels; empty: nobody does.
    lookup_labels_role_names: RoleNames
    manifest_key_id: Name
    hash_set_staleness_limit_seconds: Count


class WatchControlsSettings(_Settings):
    uploads_bucket: Name
    snapshot_bucket: Name
    evidence_bucket: Name


class SyncExchangesSettings(_Settings):
    exchange_table: Name
    hash_set_table: Name
    # Secrets Manager names of the exchanges' credentials start with this (`<stack name>/exchanges/`); the function reads no other.
    exchange_secret_prefix: Name
