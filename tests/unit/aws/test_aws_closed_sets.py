"""The closed sets the takedown stores or is configured with keep their values: audit events, takedown outcomes and modes."""

from __future__ import annotations

from pathlib import Path

from hashmatch.aws.audit import AuditEvent
from hashmatch.aws.settings import RetroMatchEngine, TakedownMode
from hashmatch.aws.takedown import TakedownOutcome
from hashmatch_tools.local.stack import load_template

ROOT = Path(__file__).resolve().parents[3]


def test_audit_events_keep_the_values_stored_in_the_audit_table():
    assert [event.value for event in AuditEvent] == ["rejected", "gone", "exempted", "takedown", "review", "restored", "exemption", "exemption-revoked", "takedown-refused", "matched", "retro-matched"]


def test_takedown_outcomes_keep_the_values_recorded_and_logged():
    assert [outcome.value for outcome in TakedownOutcome] == ["quarantined", "review-only", "gone", "duplicate", "not-an-object", "not-the-matched-object"]


def test_takedown_modes_are_the_templates_allowed_values():
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["TakedownMode"]

    assert [mode.value for mode in TakedownMode] == parameter["AllowedValues"]
    assert TakedownMode(parameter["Default"]) == TakedownMode.QUARANTINE


def test_retro_match_engines_are_the_templates_allowed_values():
    parameter = load_template(ROOT / "template.yaml")["Parameters"]["RetroMatchEngine"]

    assert [engine.value for engine in RetroMatchEngine] == parameter["AllowedValues"]
    assert RetroMatchEngine(parameter["Default"]) == RetroMatchEngine.ATHENA
