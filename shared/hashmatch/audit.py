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
    RETRO_MATCHED = "retro-matched"  # under upload_id "retro:<match_id>": a retro-match was published (usecases/retro_match.py)
    REVIEWED = "reviewed"  # a reviewer's decision (usecases/review.py), one per version of the upload's trail: review_event(version)
    CASE_CLOSED = "case-closed"  # the upload's case is closed: its evidence may expire once its retention ends (admin close-case)


class ExemptionScope(StrEnum):
    """Where a restore's exemption holds (the restore request's scope, or VERSION for bytes never read): stored values, never renamed."""

    UPLOAD = "upload"  # these bytes at the restored upload's bucket and key only: the same bytes elsewhere are matched again
    BYTES = "bytes"  # these bytes wherever they are uploaded, by anyone (content judged lawful)
    VERSION = "version"  # one stored version of an object too large to read for its digest: its version, ETag and size, never its key


def review_event(version: int) -> str:
    """The sort key of the review decision taken on the trail as it stood at `version` (its number of records):
    "reviewed#00003". One decision per version, written once, so of two reviewers who saw the same trail only the
    first decides; any record written since (a takedown, another decision) makes the version another."""
    if version < 0:
        raise ValueError("a trail's version is its number of records: not negative")
    return f"{AuditEvent.REVIEWED.value}#{version:05d}"


def is_review_event(event: str) -> bool:
    return event.startswith(f"{AuditEvent.REVIEWED.value}#")


class ExemptionCovers(StrEnum):
    """What a restore's exemption covers, from what was taken down: stored values, never renamed."""

    MATCHES = "matches"  # a match was taken down and the complaint upheld: its matches and its holds are not published
    CANNOT_CHECK = "cannot-check"  # a hold was restored: the reviewer judged what could be seen, so only holds are covered; a match found later is published


def exemption_id(sha256: str, bucket: str | None = None, key: str | None = None, *, covers: ExemptionCovers | str = ExemptionCovers.MATCHES) -> str:
    """The audit record id of an exemption: "sha256:<hex>" for the bytes everywhere, "sha256:<hex>@s3://bucket/key" at one key;
    one that covers holds only ends in "#cannot-check", so that it never takes the place of one covering matches."""
    suffix = "#cannot-check" if ExemptionCovers(covers) == ExemptionCovers.CANNOT_CHECK else ""
    if not sha256:
        raise ValueError("an exemption of bytes names their SHA-256 (one too large to read is exempted by version: version_exemption_id)")
    if bucket is None and key is None:
        return f"sha256:{sha256}{suffix}"
    if not bucket or not key:
        raise ValueError("an upload-scoped exemption names both the bucket and the key")
    return f"sha256:{sha256}@s3://{bucket}/{key}{suffix}"


def version_exemption_id(upload_id: str, *, covers: ExemptionCovers | str = ExemptionCovers.CANNOT_CHECK) -> str:
    """The audit record id of the exemption of one stored version (an object too large to read for its digest): its upload id."""
    suffix = "#cannot-check" if ExemptionCovers(covers) == ExemptionCovers.CANNOT_CHECK else ""
    return f"version:{upload_id}{suffix}"


def exemptions_to_consult(sha256: str, bucket: str | None, key: str | None, upload_id: str | None, *, hold: bool) -> list[str]:
    """The exemption records that may cover a match (or, with `hold`, a hold) of these bytes at this place, first one first.

    The bytes' own exemption, then one scoped to this bucket and key; bytes never read for their digest (sha256 "")
    only by their version (checked for its ETag and size by the caller), never by key. A match is covered only by
    exemptions covering matches; a hold by those and by those covering holds only.
    """
    covering = [ExemptionCovers.MATCHES] + ([ExemptionCovers.CANNOT_CHECK] if hold else [])
    if not sha256:
        return [version_exemption_id(upload_id, covers=covers) for covers in covering] if upload_id and bucket and key else []
    ids = [exemption_id(sha256, covers=covers) for covers in covering]
    if bucket and key:
        ids += [exemption_id(sha256, bucket, key, covers=covers) for covers in covering]
    return ids


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

    def exempt(
        self,
        sha256: str,
        *,
        reinstated: str,
        reason: str,
        requested_by: str,
        expires_at: str | None = None,
        scope: ExemptionScope | str = ExemptionScope.BYTES,
        bucket: str | None = None,
        key: str | None = None,
        covers: ExemptionCovers | str = ExemptionCovers.MATCHES,
        version: dict | None = None,
    ) -> bool:
        """Record a restore's exemption once (False when that one was made before); `version` (upload_id, etag, size) for scope VERSION."""

    def in_force(self, exempted: str, at: str | None = None) -> dict | None:
        """The exemption record under this id when it is in force at `at` (default now): None when there is none, it expired or was revoked."""


def find_exemption(audit: AuditTrail, sha256: str, *, bucket: str | None = None, key: str | None = None, upload_id: str | None = None, etag: str | None = None, size: int | None = None, hold: bool = False, at: str | None = None) -> dict | None:
    """The exemption in force for a match (or with `hold`, a hold) of these bytes at this place (exemptions_to_consult's order).
    A version's exemption counts only while the object is still that version's ETag and size."""
    for exempted in exemptions_to_consult(sha256, bucket, key, upload_id, hold=hold):
        found = audit.in_force(exempted, at)
        if found is None:
            continue
        if found.get("scope") == ExemptionScope.VERSION.value and (found.get("etag") != etag or found.get("size") != size):
            continue
        return found
    return None
