"""Taking down: what a match or hold message leads to (quarantine, or review only), with its audit records,
and legal holds on the evidence kept.

The quarantine itself (copy to the evidence bucket, remove the public copy, verify first that
the object is the one hashed) is the Quarantine collaborator's (hashmatch.aws.quarantine in AWS).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from hashmatch.audit import AuditEvent, AuditTrail
from hashmatch.evidence import Evidence, NotTheMatchedObject
from hashmatch.messages.models import HoldMessage, MatchMessage
from hashmatch.uploads import DIGEST_MAX_BYTES, Upload, UploadGone
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.vocabulary import TakedownMode


class NotQuarantined(LookupError):
    """An upload that has no quarantine on record (a restore or a legal hold asked for one)."""


class Quarantine(Protocol):
    """Where taken-down uploads are kept (hashmatch.aws.quarantine.Quarantine): each step idempotent."""

    def quarantine(self, upload: Upload, match_id: str, sha256: str | None) -> Evidence:
        """Keep the upload as evidence and remove the public copy; raises UploadGone or NotTheMatchedObject."""

    def legal_hold(self, evidence: Evidence, on: bool) -> None: ...

    def close_case(self, evidence: Evidence) -> None:
        """Mark the kept evidence as of a closed case (the evidence bucket's lifecycle expires only those)."""


class TakedownOutcome(StrEnum):
    """How one match message ended (logged, counted, and the review record's outcome)."""

    QUARANTINED = "quarantined"  # copied into the evidence bucket and removed from the uploads bucket
    HELD = "held"  # a hold message (an upload that could not be checked): quarantined the same way, for review
    REVIEW_ONLY = "review-only"  # TakedownMode review-only: recorded, left in place
    GONE = "gone"  # the upload was no longer there to quarantine
    DUPLICATE = "duplicate"  # a redelivered message: already done
    NOT_AN_OBJECT = "not-an-object"  # a hash-only request: there is nothing to remove
    NOT_THE_MATCHED_OBJECT = "not-the-matched-object"  # the named object is not provably the one hashed: left alone


# What the audit record keeps of each matched reference.
_REFERENCE_FIELDS = {"reference_id", "label", "source", "signal_type", "distance", "inliers", "query_match_percent", "reference_match_percent", "rule"}


def _why(message: MatchMessage | HoldMessage) -> dict:
    """The audit record's why: the recommended action and every matched reference, or why the upload is held."""
    if isinstance(message, HoldMessage):
        return {"action": message.action, "hold_id": message.hold_id, "held_at": message.times.held_at, "reason": message.reason, "hold_detail": message.detail}
    return {
        "action": message.action,
        "match_id": message.match_id,
        "matched_at": message.times.matched_at,
        "retroactive": message.retroactive,
        "references": [entry.model_dump(include=_REFERENCE_FIELDS) for entry in message.matches],
    }


def _what(message: MatchMessage | HoldMessage) -> dict:
    upload = message.upload
    if isinstance(message, HoldMessage):
        media = {"media_kind": message.media_kind, "duration": message.duration, "covered_seconds": message.covered_seconds}
    else:
        media = {"media_kind": message.media.kind, "duration": message.media.duration}
    return {
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id,
        "etag": upload.etag,
        "size": upload.size,
        "sha256": upload.sha256,
        "uploader": upload.uploader,
        "source_ip": upload.source_ip,
        "request_id": upload.request_id,
        **media,
    }


def take_down(message: MatchMessage | HoldMessage, mode: TakedownMode, quarantine: Quarantine, audit: AuditTrail) -> TakedownOutcome:
    """Act on one match or hold message; the outcome says how it ended (logged and counted by the handler).
    A hold is quarantined as a match is (the same checks that the object is the one read), with outcome held."""
    upload = Upload.from_dict(message.upload.model_dump())
    if not upload.is_object:
        return TakedownOutcome.NOT_AN_OBJECT
    if mode == TakedownMode.REVIEW_ONLY:
        recorded = audit.record(upload.upload_id, AuditEvent.REVIEW, outcome=TakedownOutcome.REVIEW_ONLY.value, mode=str(mode), **_what(message), **_why(message))
        return TakedownOutcome.REVIEW_ONLY if recorded else TakedownOutcome.DUPLICATE
    if audit.get(upload.upload_id, AuditEvent.TAKEDOWN):
        return TakedownOutcome.DUPLICATE
    # A hold of an object too large to read for its SHA-256 carries none: its version, ETag and size are checked. Only
    # such an object may come without one: a hold naming a smaller object and no SHA-256 is forged or broken.
    unread = isinstance(message, HoldMessage) and not message.upload.sha256
    if unread and (upload.size is None or upload.size <= DIGEST_MAX_BYTES):
        detail = f"{upload.upload_id}: a hold without a SHA-256 names {upload.size} bytes, which the hasher reads for one (only objects over {DIGEST_MAX_BYTES} come without)"
        audit.record(upload.upload_id, AuditEvent.TAKEDOWN_REFUSED, detail=detail, **_what(message), **_why(message))
        return TakedownOutcome.NOT_THE_MATCHED_OBJECT
    try:
        evidence = quarantine.quarantine(upload, message.match_id, None if unread else message.upload.sha256)
    except UploadGone as gone:
        audit.record(upload.upload_id, AuditEvent.GONE, stage="takedown", detail=str(gone), **_what(message), **_why(message))
        return TakedownOutcome.GONE
    except NotTheMatchedObject as refused:
        audit.record(upload.upload_id, AuditEvent.TAKEDOWN_REFUSED, detail=str(refused), **_what(message), **_why(message))
        return TakedownOutcome.NOT_THE_MATCHED_OBJECT
    done = TakedownOutcome.HELD if isinstance(message, HoldMessage) else TakedownOutcome.QUARANTINED
    audit.record(
        upload.upload_id,
        AuditEvent.TAKEDOWN,
        outcome=done.value,
        mode=str(mode),
        evidence={"bucket": evidence.bucket, "key": evidence.key, "version_id": evidence.version_id},
        retain_until=evidence.retain_until,
        **_what(message),
        **_why(message),
    )
    return done




# The metric each outcome is counted under.
OUTCOME_METRICS = {
    TakedownOutcome.QUARANTINED: "UploadsQuarantined",
    TakedownOutcome.HELD: "UploadsHeld",
    TakedownOutcome.REVIEW_ONLY: "UploadsReviewOnly",
    TakedownOutcome.GONE: "UploadsGone",
    TakedownOutcome.DUPLICATE: "DuplicateMatchMessages",
    TakedownOutcome.NOT_AN_OBJECT: "HashOnlyMatches",
    TakedownOutcome.NOT_THE_MATCHED_OBJECT: "TakedownsRefused",
}


def report_takedown(message: MatchMessage | HoldMessage, outcome: TakedownOutcome, mode: TakedownMode, log: Log, metrics: Metrics) -> None:
    """Count and log how one message ended; a refusal is an error someone should look at."""
    metrics.count(OUTCOME_METRICS[outcome])
    if outcome == TakedownOutcome.NOT_THE_MATCHED_OBJECT:
        # A forged or stale message, or an object replaced under its version's name.
        log.error("takedown refused: the named object is not the one hashed", upload_id=message.upload.upload_id, match_id=message.match_id)
        return
    log.info("takedown", outcome=outcome, upload_id=message.upload.upload_id, match_id=message.match_id, mode=mode)


def close_case(upload_id: str, reason: str, closed_by: str, quarantine: Quarantine, audit: AuditTrail) -> dict:
    """Close a quarantined upload's case: its evidence is tagged closed, so the evidence bucket's lifecycle may expire it once
    its retention (Object Lock) ends; until then nothing expires it, however old. Recorded once. Raises NotQuarantined."""
    takedown = audit.get(upload_id, AuditEvent.TAKEDOWN)
    if takedown is None:
        raise NotQuarantined(f"{upload_id} has no quarantine on record")
    kept = takedown["evidence"]
    quarantine.close_case(Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", "")))
    audit.record(upload_id, AuditEvent.CASE_CLOSED, reason=reason, closed_by=closed_by, evidence=kept)
    return {"upload_id": upload_id, "evidence": kept, "case": "closed", "retain_until": takedown.get("retain_until")}


def legal_hold(upload_id: str, on: bool, quarantine: Quarantine, audit: AuditTrail) -> dict:
    """Put (or lift) a legal hold on a quarantined upload's evidence; returns where the evidence is. Raises NotQuarantined."""
    takedown = audit.get(upload_id, AuditEvent.TAKEDOWN)
    if takedown is None:
        raise NotQuarantined(f"{upload_id} has no quarantine on record")
    kept = takedown["evidence"]
    quarantine.legal_hold(Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", "")), on)
    return {"upload_id": upload_id, "evidence": kept, "legal_hold": "ON" if on else "OFF"}
