"""The audit trail's vocabulary: what happened to an upload (AuditEvent), what an exemption covers, and the
trail itself as the use cases see it (AuditTrail; hashmatch.aws.audit_table keeps it in DynamoDB).

Each record is keyed by (upload_id, event) and written once, so redelivered messages do not
duplicate records. Exemptions (a restore's decision about some bytes) are records too, under
an id of their own (exemption_id).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class AuditEvent(StrEnum):
    """An audit record's event (its sort key): stored values, never renamed."""

    REJECTED = "rejected"  # the hasher could not hash the object (reason: empty, unsupported, corrupt, oversized)
    GONE = "gone"  # the object was deleted or replaced before it could be read or quarantined
    EXEMPTED = "exempted"  # a match was not published: these exact bytes were reinstated after a complaint
    TAKEDOWN = "takedown"  # the takedown subscriber quarantined the object (outcome "quarantined")
    REVIEW = "review"  # the takedown subscriber ran review-only and left the object in place
    RESTORED = "restored"  # the object was put back after a complaint
    EXEMPTION = "exemption"  # under exemption_id(...): the reinstatement decision for those bytes (everywhere, or at one bucket and key)
    EXEMPTION_REVOKED = "exemption-revoked"  # under the same id: that decision withdrawn (admin revoke-exemption)
    TAKEDOWN_REFUSED = "takedown-refused"  # the match message named an object that is not provably the one hashed (takedown.py)
    MATCHED = "matched"  # the matcher published a match message for the upload (match_id, action, references)
    CANNOT_CHECK = "cannot-check"  # the upload could not be checked (reason, detail) and was held or allowed (action: CannotCheckAction)
    RETRO_MATCHED = "retro-matched"  # under upload_id "retro:<match_id>": a retro-match was published (retro_matches.py)
    REVIEWED = "reviewed"  # a reviewer's decision (usecases/review.py), one per version of the upload's trail: review_event(version)


class ExemptionScope(StrEnum):
    """What a restore's exemption covers (the restore request's scope): stored values, never renamed."""

    UPLOAD = "upload"  # these bytes at the restored upload's bucket and key only: the same bytes elsewhere are matched again
    BYTES = "bytes"  # these bytes wherever they are uploaded, by anyone (content judged lawful)


def review_event(version: int) -> str:
    """The sort key of the review decision taken on the trail as it stood at `version` (its number of records):
    "reviewed#00003". One decision per version, written once, so of two reviewers who saw the same trail only the
    first decides; any record written since (a takedown, another decision) makes the version another."""
    if version < 0:
        raise ValueError("a trail's version is its number of records: not negative")
    return f"{AuditEvent.REVIEWED.value}#{version:05d}"


def is_review_event(event: str) -> bool:
    return event.startswith(f"{AuditEvent.REVIEWED.value}#")


def exemption_id(sha256: str, bucket: str | None = None, key: str | None = None) -> str:
    """The audit record id of an exemption: "sha256:<hex>" for the bytes everywhere, "sha256:<hex>@s3://bucket/key" at one key."""
    if bucket is None and key is None:
        return f"sha256:{sha256}"
    if not bucket or not key:
        raise ValueError("an upload-scoped exemption names both the bucket and the key")
    return f"sha256:{sha256}@s3://{bucket}/{key}"


class AuditTrail(Protocol):
    """The audit records, as the use cases read and write them."""

    def record(self, upload_id: str, event: AuditEvent | str, **details) -> bool:
        """Write the record once; False when this upload already has this event (a redelivery)."""

    def get(self, upload_id: str, event: AuditEvent | str) -> dict | None: ...

    def events(self, upload_id: str) -> list[dict]: ...

    def record_review(self, upload_id: str, version: int, **details) -> bool:
        """Write the review decision taken at this version of the upload's trail once; False when one was (someone decided first)."""

    def review(self, upload_id: str, version: int) -> dict | None:
        """The review decision taken at this version of the upload's trail, if any."""

    def exempt(self, sha256: str, *, reinstated: str, reason: str, requested_by: str, expires_at: str | None = None, scope: ExemptionScope | str = ExemptionScope.BYTES, bucket: str | None = None, key: str | None = None) -> bool: ...

    def exemption(self, sha256: str, at: str | None = None, *, bucket: str | None = None, key: str | None = None) -> dict | None:
        """The exemption in force for an upload of these bytes at `bucket` and `key` (the bytes' own, else one scoped to that place)."""
