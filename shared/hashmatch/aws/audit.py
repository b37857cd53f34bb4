"""The audit table: what happened to each upload, why, on which references, and when.

Partition key upload_id, sort key event (AuditEvent: what the pipeline writes). Each
(upload_id, event) is written once, so redelivered messages do not duplicate records.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from hashmatch.aws.dynamo import from_item, items, to_item


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


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class ExemptionScope(StrEnum):
    """What a restore's exemption covers (the restore request's scope): stored values, never renamed."""

    UPLOAD = "upload"  # these bytes at the restored upload's bucket and key only: the same bytes elsewhere are matched again
    BYTES = "bytes"  # these bytes wherever they are uploaded, by anyone (content judged lawful)


def exemption_id(sha256: str, bucket: str | None = None, key: str | None = None) -> str:
    """The audit record id of an exemption: "sha256:<hex>" for the bytes everywhere, "sha256:<hex>@s3://bucket/key" at one key."""
    if bucket is None and key is None:
        return f"sha256:{sha256}"
    if not bucket or not key:
        raise ValueError("an upload-scoped exemption names both the bucket and the key")
    return f"sha256:{sha256}@s3://{bucket}/{key}"


class AuditTable:
    """The audit table (a boto3 DynamoDB Table resource)."""

    def __init__(self, table):
        self.table = table

    def record(self, upload_id: str, event: AuditEvent | str, **details) -> bool:
        """Write the record once; False when this upload already has this event (a redelivery)."""
        try:
            event = AuditEvent(event)
        except ValueError:
            raise ValueError(f"unknown audit event {event!r}") from None
        item = to_item({"upload_id": upload_id, "event": event.value, "recorded_at": now(), **details})
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(upload_id)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, upload_id: str, event: AuditEvent | str) -> dict | None:
        item = self.table.get_item(Key={"upload_id": upload_id, "event": str(event)}, ConsistentRead=True).get("Item")
        return from_item(item) if item else None

    def events(self, upload_id: str) -> list[dict]:
        return [from_item(item) for item in items(self.table, "query", KeyConditionExpression=Key("upload_id").eq(upload_id), ConsistentRead=True)]

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
    ) -> bool:
        """Record that these exact bytes were reinstated (`reinstated`: that upload's id): later matches of them (scope
        BYTES), or of them at `bucket` and `key` only (scope UPLOAD), are not published until `expires_at` (ISO time;
        None: no end) or until the exemption is revoked. False when that exemption was made before (one per scope and place)."""
        scope = ExemptionScope(scope)
        if scope == ExemptionScope.BYTES:
            bucket = key = None
        elif not (bucket and key):
            raise ValueError("an upload-scoped exemption names the upload's bucket and key")
        place = {"bucket": bucket, "key": key} if scope == ExemptionScope.UPLOAD else {}
        return self.record(
            exemption_id(sha256, bucket, key),
            AuditEvent.EXEMPTION,
            sha256=sha256,
            scope=scope.value,
            **place,
            reinstated=reinstated,
            reason=reason,
            requested_by=requested_by,
            expires_at=expires_at,
        )

    def revoke_exemption(self, sha256: str, *, reason: str, requested_by: str, bucket: str | None = None, key: str | None = None, **details) -> bool:
        """Withdraw the exemption of these bytes (with `bucket` and `key`: the one scoped to that upload): their next
        match is published again. False when it was already revoked."""
        place = {"bucket": bucket, "key": key} if bucket or key else {}
        return self.record(exemption_id(sha256, bucket, key), AuditEvent.EXEMPTION_REVOKED, sha256=sha256, **place, reason=reason, requested_by=requested_by, **details)

    def scoped_exemption(self, sha256: str, bucket: str | None = None, key: str | None = None, at: str | None = None) -> dict | None:
        """The one exemption record of these bytes (with `bucket` and `key`: scoped to that upload) when it is in force at
        `at` (default now): None when there is none, it has expired or it was revoked."""
        exempted = exemption_id(sha256, bucket, key)
        found = self.get(exempted, AuditEvent.EXEMPTION)
        if found is None or (found.get("expires_at") and found["expires_at"] <= (at or now())):
            return None
        if self.get(exempted, AuditEvent.EXEMPTION_REVOKED):
            return None
        return found

    def exemption(self, sha256: str, at: str | None = None, *, bucket: str | None = None, key: str | None = None) -> dict | None:
        """The exemption in force at `at` (default now) for an upload of these bytes at `bucket` and `key`: the bytes'
        own, else one scoped to that upload. Without a bucket and key (a hash-only request) only the bytes' own counts:
        an upload-scoped exemption never covers bytes whose place is not known."""
        # An empty digest (an object held unread, too large) is never exempt everywhere, only at its own key.
        found = self.scoped_exemption(sha256, at=at) if sha256 else None
        if found is None and bucket and key:
            found = self.scoped_exemption(sha256, bucket, key, at)
        return found
