"""What a match message leads to (quarantine, or review only) and how a complaint reverses it, with audit records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from enum import StrEnum

from hashmatch.aws.audit import AuditEvent, AuditTable, ExemptionScope
from hashmatch.aws.messages import HoldMessage, MatchMessage, RestoreRequest
from hashmatch.aws.quarantine import Evidence, NotTheMatchedObject, Quarantine
from hashmatch.aws.settings import TakedownMode
from hashmatch.aws.uploads import Upload, UploadGone


class NotQuarantined(LookupError):
    """A restore was asked for an upload that has no quarantine on record."""


class AlsoMatched(RuntimeError):
    """A restore of an upload held as uncheckable that a match message also named: the takedown kept the hold's
    outcome, so the reviewer asked to restore it may not have seen the match; refused until the match is looked at."""


class ExemptionSpent(RuntimeError):
    """A restore of bytes whose one exemption has expired or been revoked: refused, since they would be taken down again."""


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
_REFERENCE_FIELDS = {"reference_id", "label", "source", "signal_type", "distance", "inliers", "query_match_percent", "reference_match_percent"}


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
        **media,
    }


def take_down(message: MatchMessage | HoldMessage, mode: TakedownMode, quarantine: Quarantine, audit: AuditTable) -> TakedownOutcome:
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
    try:
        # A hold of an object too large to read for its SHA-256 carries none: its version, ETag and size are checked.
        unread = isinstance(message, HoldMessage) and not message.upload.sha256
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


def exemption_expiry(days: int) -> str | None:
    """When an exemption made now ends: `days` from now; 0 means it does not end."""
    if days <= 0:
        return None
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat(timespec="milliseconds")


def restore(request: RestoreRequest, quarantine: Quarantine, audit: AuditTable, exemption_days: int = 0) -> dict:
    """Reinstate a quarantined upload after a complaint, and exempt its exact bytes from future matches for
    `exemption_days` (0: until revoked): at its own bucket and key (scope "upload") or everywhere (scope "bytes").
    Raises NotQuarantined, AlsoMatched, UploadGone (no evidence), KeyOccupied or ExemptionSpent."""
    upload_id, reason, requested_by = request.upload_id, request.reason, request.requested_by
    scope = ExemptionScope(request.scope)
    done = audit.get(upload_id, AuditEvent.RESTORED)
    if done:
        return done
    takedown = audit.get(upload_id, AuditEvent.TAKEDOWN)
    if not takedown:
        raise NotQuarantined(f"no quarantine is recorded for {upload_id}")
    matched = audit.get(upload_id, AuditEvent.MATCHED)
    if takedown.get("outcome") == TakedownOutcome.HELD.value and matched:
        references = ", ".join(matched.get("references", []))
        raise AlsoMatched(f"{upload_id} was held as uncheckable and also matched the hash set ({references}, match {matched.get('match_id')}); not restored")
    upload = Upload.from_object(takedown["bucket"], takedown["key"], takedown.get("version_id"))
    kept = takedown["evidence"]
    evidence = Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", ""))
    taken_down_at = datetime.fromisoformat(takedown["recorded_at"])
    # Checked before anything is written: a restore that cannot happen leaves no exemption behind.
    quarantine.check_restorable(upload, evidence, taken_down_at)
    # The exemption comes next: the restored object raises a new upload notification at once.
    sha256 = takedown["sha256"]
    if not sha256:
        # Held too large to read for its digest: "these bytes everywhere" would name every such upload.
        scope = ExemptionScope.UPLOAD
    audit.exempt(
        sha256,
        scope=scope,
        bucket=upload.bucket,
        key=upload.key,
        reinstated=upload_id,
        reason=reason,
        requested_by=requested_by,
        expires_at=exemption_expiry(exemption_days),
    )
    # What the matcher will ask of the restored object: is an exemption of its bytes at its key in force? Not when the
    # one just asked for was made once before and has since expired or been revoked (one per scope and place): the
    # object would be quarantined again at once.
    exemption = audit.exemption(sha256, bucket=upload.bucket, key=upload.key)
    if exemption is None:
        raise ExemptionSpent(f"the bytes of {upload_id} (sha256 {sha256}) were exempted ({scope.value} scope) once before and that exemption has ended; not restored")
    version_id = quarantine.restore(upload, evidence, taken_down_at)
    restored_as = Upload.from_object(upload.bucket, upload.key, version_id).upload_id
    audit.record(
        upload_id,
        AuditEvent.RESTORED,
        reason=reason,
        requested_by=requested_by,
        restored_as=restored_as,
        sha256=sha256,
        scope=scope.value,
        exemption={"scope": exemption.get("scope", ExemptionScope.BYTES.value), "id": exemption["upload_id"], "expires_at": exemption.get("expires_at")},
    )
    return audit.get(upload_id, AuditEvent.RESTORED)


def legal_hold(upload_id: str, on: bool, quarantine: Quarantine, audit: AuditTable) -> dict:
    """Put (or lift) a legal hold on a quarantined upload's evidence; returns where the evidence is. Raises NotQuarantined."""
    takedown = audit.get(upload_id, AuditEvent.TAKEDOWN)
    if takedown is None:
        raise NotQuarantined(f"{upload_id} has no quarantine on record")
    kept = takedown["evidence"]
    quarantine.legal_hold(Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", "")), on)
    return {"upload_id": upload_id, "evidence": kept, "legal_hold": "ON" if on else "OFF"}
