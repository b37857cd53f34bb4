"""What a match message leads to (quarantine, or review only) and how a complaint reverses it, with audit records."""

from __future__ import annotations

from hashmatch.aws.audit import AuditLog
from hashmatch.aws.quarantine import Evidence, Quarantine
from hashmatch.aws.uploads import Upload, UploadGone


class NotQuarantined(LookupError):
    """A restore was asked for an upload that has no quarantine on record."""


def _why(message: dict) -> dict:
    """The audit record's why: the recommended action and every matched reference."""
    return {
        "action": message["action"],
        "match_id": message["match_id"],
        "matched_at": message["times"]["matched_at"],
        "references": [
            {
                "reference_id": entry["reference_id"],
                "label": entry["label"],
                "source": entry["source"],
                "signal_type": entry["signal_type"],
                "distance": entry["distance"],
                "inliers": entry.get("inliers"),
                "query_match_percent": entry["query_match_percent"],
                "reference_match_percent": entry["reference_match_percent"],
            }
            for entry in message["matches"]
        ],
    }


def _what(message: dict) -> dict:
    upload, media = message["upload"], message["media"]
    return {
        "bucket": upload["bucket"],
        "key": upload["key"],
        "version_id": upload.get("version_id"),
        "etag": upload.get("etag"),
        "size": upload.get("size"),
        "sha256": upload["sha256"],
        "media_kind": media["kind"],
        "duration": media["duration"],
    }


def take_down(message: dict, mode: str, quarantine: Quarantine, audit: AuditLog) -> str:
    """Act on one match message; returns the outcome: quarantined, review-only, gone, duplicate or not-an-object."""
    upload = Upload.from_dict(message["upload"])
    if not upload.is_object:
        return "not-an-object"  # a hash-only request: there is nothing to remove
    if mode == "review-only":
        recorded = audit.record(upload.upload_id, "review", outcome="review-only", mode=mode, **_what(message), **_why(message))
        return "review-only" if recorded else "duplicate"
    if audit.get(upload.upload_id, "takedown"):
        return "duplicate"
    try:
        evidence = quarantine.quarantine(upload, message["match_id"])
    except UploadGone as gone:
        audit.record(upload.upload_id, "gone", stage="takedown", detail=str(gone), **_what(message), **_why(message))
        return "gone"
    audit.record(
        upload.upload_id,
        "takedown",
        outcome="quarantined",
        mode=mode,
        evidence={"bucket": evidence.bucket, "key": evidence.key, "version_id": evidence.version_id},
        retain_until=evidence.retain_until,
        **_what(message),
        **_why(message),
    )
    return "quarantined"


def restore(upload_id: str, reason: str, requested_by: str, quarantine: Quarantine, audit: AuditLog) -> dict:
    """Reinstate a quarantined upload after a complaint, and exempt its exact bytes from future matches."""
    done = audit.get(upload_id, "restored")
    if done:
        return done
    takedown = audit.get(upload_id, "takedown")
    if not takedown:
        raise NotQuarantined(f"no quarantine is recorded for {upload_id}")
    upload = Upload.from_object(takedown["bucket"], takedown["key"], takedown.get("version_id"))
    kept = takedown["evidence"]
    evidence = Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", ""))
    # The exemption comes first: the restored object raises a new upload notification at once.
    audit.exempt(takedown["sha256"], reinstated=upload_id, reason=reason, requested_by=requested_by)
    version_id = quarantine.restore(upload, evidence)
    restored_as = Upload.from_object(upload.bucket, upload.key, version_id).upload_id
    audit.record(upload_id, "restored", reason=reason, requested_by=requested_by, restored_as=restored_as, sha256=takedown["sha256"])
    return audit.get(upload_id, "restored")
