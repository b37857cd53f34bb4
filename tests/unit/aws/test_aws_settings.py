"""Settings: one frozen object from the environment, refused whole when a variable is missing or malformed.

(That every missing variable is named at once is tested beside template.yaml, in tests/functional/test_template.py.)
"""

from __future__ import annotations

import pydantic

import pytest

from hashmatch.aws import settings

TAKE_DOWN = {"EVIDENCE_BUCKET": "evidence", "AUDIT_TABLE": "audit", "TAKEDOWN_MODE": "quarantine", "EVIDENCE_RETENTION_DAYS": "183", "IDEMPOTENCY_TABLE": "idempotency"}


def test_settings_are_read_and_parsed_from_the_environment():
    loaded = settings.load(settings.TakeDownSettings, TAKE_DOWN)

    assert loaded == settings.TakeDownSettings(evidence_bucket="evidence", audit_table="audit", takedown_mode="quarantine", evidence_retention_days=183, idempotency_table="idempotency")


def test_loaded_settings_cannot_change():
    loaded = settings.load(settings.TakeDownSettings, TAKE_DOWN)

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        loaded.takedown_mode = "review-only"


def test_review_only_is_a_takedown_mode():
    assert settings.load(settings.TakeDownSettings, {**TAKE_DOWN, "TAKEDOWN_MODE": "review-only"}).takedown_mode == "review-only"


def test_an_unknown_takedown_mode_is_refused_naming_the_modes():
    with pytest.raises(settings.SettingsError, match="TAKEDOWN_MODE='delete'.*quarantine, review-only"):
        settings.load(settings.TakeDownSettings, {**TAKE_DOWN, "TAKEDOWN_MODE": "delete"})


def test_a_negative_count_is_refused():
    with pytest.raises(settings.SettingsError, match="EVIDENCE_RETENTION_DAYS='-1': must not be negative"):
        settings.load(settings.TakeDownSettings, {**TAKE_DOWN, "EVIDENCE_RETENTION_DAYS": "-1"})


def test_zero_is_an_accepted_count():
    # A refresh interval of 0 makes the matcher check the hash set's version on every batch.
    environ = {name: "x" for name in settings.environment_names(settings.MatchHashesSettings)}

    counts = {"PDQ_MATCH_THRESHOLD": "31", "HASH_SET_REFRESH_SECONDS": "0", "FLOOD_MATCHES": "100", "FLOOD_WINDOW_MINUTES": "60", "HASH_SET_STALENESS_LIMIT_SECONDS": "600"}
    loaded = settings.load(settings.MatchHashesSettings, {**environ, **counts, "CANNOT_CHECK_ACTION": "hold"})

    assert loaded.hash_set_refresh_seconds == 0


def test_a_count_that_is_not_a_whole_number_is_refused():
    with pytest.raises(settings.SettingsError, match="EVIDENCE_RETENTION_DAYS='1.5'"):
        settings.load(settings.TakeDownSettings, {**TAKE_DOWN, "EVIDENCE_RETENTION_DAYS": "1.5"})


def test_an_empty_variable_counts_as_not_set():
    with pytest.raises(settings.SettingsError, match="AUDIT_TABLE is not set"):
        settings.load(settings.TakeDownSettings, {**TAKE_DOWN, "AUDIT_TABLE": ""})


def test_missing_and_malformed_variables_are_reported_together():
    environ = {key: value for key, value in TAKE_DOWN.items() if key != "EVIDENCE_BUCKET"}

    with pytest.raises(settings.SettingsError) as raised:
        settings.load(settings.TakeDownSettings, {**environ, "TAKEDOWN_MODE": "delete", "EVIDENCE_RETENTION_DAYS": "-1"})

    message = str(raised.value)
    assert message.startswith("TakeDownSettings: ")
    assert all(name in message for name in ("EVIDENCE_BUCKET", "TAKEDOWN_MODE", "EVIDENCE_RETENTION_DAYS"))


def test_settings_read_the_process_environment_when_given_none(monkeypatch):
    for name, value in TAKE_DOWN.items():
        monkeypatch.setenv(name, value)

    assert settings.load(settings.TakeDownSettings).evidence_bucket == "evidence"


def test_the_environment_names_are_the_variables_load_reads():
    assert settings.environment_names(settings.TakeDownSettings) == set(TAKE_DOWN)
