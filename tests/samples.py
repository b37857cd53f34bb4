"""The sample events in events/ (one per function), and the messages inside them, as the tests read them."""

from __future__ import annotations

import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[1] / "events"


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def sample_match_message() -> dict:
    """The match message inside events/take_down.json (SQS record -> SNS notification -> Message)."""
    return json.loads(json.loads(event("take_down")["Records"][0]["body"])["Message"])


def sample_hashes_message() -> dict:
    return json.loads(event("match_hashes")["Records"][0]["body"])
