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
    EXEMPTION = "exemption"  # under upload_id "sha256:<hex>": the reinstatement decision for those bytes
    EXEMPTION_REVOKED = "exemption-revoked"  # under upload_id "sha256:<hex>": that decision withdrawn (admin revoke-exemption)
    TAKEDOWN_REFUSED = "takedown-refused"  # the match message named an object that is not provably the one hashed (takedown.py)
    MATCHED = "matched"  # the matcher published a match message for the upload (match_id, action, references)
    RETRO_MATCHED = "retro-matched"  # under upload_id "retro:<match_id>": a retro-match was published (retro_matches.py)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def exemption_id(sha256: str) -> str:
    return f"sha256:{sha256}"


class AuditLog:
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

    def exempt(self, sha256: str, *, reinstated: str, reason: str, requested_by: str, expires_at: str | None = None) -> bool:
        """Record that these exact bytes were reinstated (`reinstated`: that upload's id): later matches of them are not
        published until `expires_at` (ISO time; None: no end) or until the exemption is revoked."""
        return self.record(exemption_id(sha256), AuditEvent.EXEMPTION, sha256=sha256, reinstated=reinstated, reason=reason, requested_by=requested_by, expires_at=expires_at)

    def revoke_exemption(self, sha256: str, *, reason: str, requested_by: str) -> bool:
        """Withdraw the exemption of these bytes: their next match is published again. False when it was already revoked."""
        return self.record(exemption_id(sha256), AuditEvent.EXEMPTION_REVOKED, sha256=sha256, reason=reason, requested_by=requested_by)

    def exemption(self, sha256: str, at: str | None = None) -> dict | None:
        """The exemption in force for these bytes at `at` (default now): None when there is none, it has expired or it was revoked."""
        found = self.get(exemption_id(sha256), AuditEvent.EXEMPTION)
        if found is None or (found.get("expires_at") and found["expires_at"] <= (at or now())):
            return None
        if self.get(exemption_id(sha256), AuditEvent.EXEMPTION_REVOKED):
            return None
        return found
