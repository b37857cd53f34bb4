"""The closed sets the takedown stores or is configured with keep their values: audit events, takedown outcomes and modes."""

from __future__ import annotations

from pathlib import Path

from hashmatch.audit import AuditEvent
from hashmatch.aws.settings import RetroMatchEngine
from hashmatch.vocabulary import TakedownMode
from hashmatch.usecases.take_down import TakedownOutcome
from hashmatch.vocabulary import CannotCheckAction, CannotCheckReason
from hashmatch_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[3]


def test_audit_events_keep_the_values_stored_in_the_audit_table():
    assert [event.value for event in AuditEvent] == ["rejected", "gone", "exempted", "takedown", "review", "restored", "exemption", "exemption-revoked", "takedown-refused", "matched", "cannot-check", "retro-matched", "reviewed", "case-closed"]


def test_takedown_outcomes_keep_the_values_recorded_and_logged():
    assert [outcome.value for outcome in TakedownOutcome] == ["quarantined", "held", "review-only", "gone", "duplicate", "not-an-object", "not-the-matched-object"]


def test_takedown_modes_are_the_templates_allowed_values():
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["TakedownMode"]

    assert [mode.value for mode in TakedownMode] == parameter["AllowedValues"]
    assert TakedownMode(parameter["Default"]) == TakedownMode.QUARANTINE


def test_retro_match_engines_are_the_templates_allowed_values():
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["RetroMatchEngine"]

    assert [engine.value for engine in RetroMatchEngine] == parameter["AllowedValues"]
    assert RetroMatchEngine(parameter["Default"]) == RetroMatchEngine.ATHENA


def test_cannot_check_actions_are_the_templates_allowed_values_and_hold_is_the_default():
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["CannotCheckAction"]

    assert [action.value for action in CannotCheckAction] == parameter["AllowedValues"]
    assert CannotCheckAction(parameter["Default"]) == CannotCheckAction.HOLD


def test_cannot_check_reasons_keep_the_values_the_hold_message_schema_names():
    import json

    schema = json.loads((ROOT / "schemas" / "hold-message.schema.json").read_text())

    assert [reason.value for reason in CannotCheckReason] == schema["properties"]["reason"]["enum"]
