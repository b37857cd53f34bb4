"""Watching the controls nothing else reports: versioning of the uploads and snapshot buckets, and the evidence bucket's Object Lock.

Suspended versioning on the uploads bucket makes every S3 notification name no version, so the takedown refuses
every match (it cannot prove the object is the one hashed) and matched uploads stay online, counted but unseen.
A scheduled check reads the settings and counts each control that is off (1) or on (0) under its own metric, which
an alarm watches; a check that stops running leaves no data, which alarms too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from hashmatch.usecases.ports import Log, Metrics


class Control(StrEnum):
    """A control watched, named by the metric that counts it off (template: <name>Alarm)."""

    UPLOADS_VERSIONING = "UploadsVersioningOff"
    SNAPSHOT_VERSIONING = "SnapshotVersioningOff"
    EVIDENCE_LOCK = "EvidenceLockOff"


@dataclass(frozen=True)
class ControlSettings:
    """What the buckets say of themselves now."""

    uploads_versioning: str | None  # "Enabled", "Suspended", or None (never enabled)
    snapshot_versioning: str | None
    evidence_lock_retention: dict | None  # the evidence bucket's Object Lock default retention (Mode, Days), None when there is none


class ControlReader(Protocol):
    """The buckets' settings (hashmatch.aws.controls.BucketControls)."""

    def read(self) -> ControlSettings: ...


def controls_off(settings: ControlSettings) -> list[Control]:
    """The controls that are off: versioning that is not Enabled, an evidence bucket without a default retention."""
    off = []
    if settings.uploads_versioning != "Enabled":
        off.append(Control.UPLOADS_VERSIONING)
    if settings.snapshot_versioning != "Enabled":
        off.append(Control.SNAPSHOT_VERSIONING)
    if not settings.evidence_lock_retention or not settings.evidence_lock_retention.get("Mode"):
        off.append(Control.EVIDENCE_LOCK)
    return off


def watch_controls(reader: ControlReader, log: Log, metrics: Metrics) -> dict:
    """Read the controls and count each one: 1 when off, 0 when on (so that a missing count means the check did not run)."""
    settings = reader.read()
    off = controls_off(settings)
    for control in Control:
        metrics.count(control.value, 1 if control in off else 0)
    answer = {"off": [control.value for control in off], "uploads_versioning": settings.uploads_versioning, "snapshot_versioning": settings.snapshot_versioning, "evidence_lock_retention": settings.evidence_lock_retention}
    if off:
        log.error("controls off", **answer)
    else:
        log.info("controls on", **answer)
    return answer
