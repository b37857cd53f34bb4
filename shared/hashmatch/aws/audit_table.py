"""The audit table (DynamoDB): each upload's records, partition key upload_id, sort key event (hashmatch.audit.AuditEvent).

Each (upload_id, event) is written once (a conditional put), so redelivered messages do not duplicate records.
"""

from __future__ import annotations

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from hashmatch.audit import AuditEvent, ExemptionCovers, ExemptionScope, exemption_id, find_exemption, review_event, version_exemption_id
from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.clock import now


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
        return self._put_once({"upload_id": upload_id, "event": event.value, "recorded_at": now(), **details})

    def record_review(self, upload_id: str, version: int, **details) -> bool:
        """Write the review decision taken at this version of the upload's trail (audit.review_event) once; False when
        one was written first (another reviewer who saw the same trail)."""
        return self._put_once({"upload_id": upload_id, "event": review_event(version), "recorded_at": now(), **details})

    def review(self, upload_id: str, version: int) -> dict | None:
        return self.get(upload_id, review_event(version))

    def _put_once(self, record: dict) -> bool:
        item = to_item(record)
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
        covers: ExemptionCovers | str = ExemptionCovers.MATCHES,
        version: dict | None = None,
    ) -> bool:
        """Record that these exact bytes were reinstated (`reinstated`: that upload's id): later matches of them (scope
        BYTES), or of them at `bucket` and `key` only (scope UPLOAD), are not published until `expires_at` (ISO time;
        None: no end) or until the exemption is revoked; with `covers` CANNOT_CHECK only later holds of them are not.
        Scope VERSION exempts one stored version never read for its digest (`version`: its upload_id, etag and size).
        False when that exemption was made before (one per scope, place and cover)."""
        scope, covers = ExemptionScope(scope), ExemptionCovers(covers)
        if scope == ExemptionScope.VERSION:
            if not version or not all(version.get(name) is not None for name in ("upload_id", "etag", "size")):
                raise ValueError("a version's exemption names its upload_id, etag and size")
            exempted = version_exemption_id(version["upload_id"], covers=covers)
            place = {"bucket": bucket, "key": key, "upload_id_exempted": version["upload_id"], "etag": version["etag"], "size": int(version["size"])}
        else:
            if scope == ExemptionScope.BYTES:
                bucket = key = None
            elif not (bucket and key):
                raise ValueError("an upload-scoped exemption names the upload's bucket and key")
            exempted = exemption_id(sha256, bucket, key, covers=covers)
            place = {"bucket": bucket, "key": key} if scope == ExemptionScope.UPLOAD else {}
        return self.record(
            exempted,
            AuditEvent.EXEMPTION,
            sha256=sha256,
            scope=scope.value,
            covers=covers.value,
            **place,
            reinstated=reinstated,
            reason=reason,
            requested_by=requested_by,
            expires_at=expires_at,
        )

    def revoke_exemption(self, sha256: str, *, reason: str, requested_by: str, bucket: str | None = None, key: str | None = None, covers: ExemptionCovers | str = ExemptionCovers.MATCHES, **details) -> bool:
        """Withdraw the exemption of these bytes (with `bucket` and `key`: the one scoped to that upload): their next
        match is published again. False when it was already revoked."""
        place = {"bucket": bucket, "key": key} if bucket or key else {}
        return self.record(exemption_id(sha256, bucket, key, covers=covers), AuditEvent.EXEMPTION_REVOKED, sha256=sha256, **place, reason=reason, requested_by=requested_by, **details)

    def in_force(self, exempted: str, at: str | None = None) -> dict | None:
        """The exemption record under this id when it is in force at `at` (default now): None when there is none, it has
        expired or it was revoked."""
        found = self.get(exempted, AuditEvent.EXEMPTION)
        if found is None or (found.get("expires_at") and found["expires_at"] <= (at or now())):
            return None
        if self.get(exempted, AuditEvent.EXEMPTION_REVOKED):
            return None
        return found

    def scoped_exemption(self, sha256: str, bucket: str | None = None, key: str | None = None, at: str | None = None) -> dict | None:
        """The one exemption record of these bytes (with `bucket` and `key`: scoped to that upload) covering matches, when in force."""
        return self.in_force(exemption_id(sha256, bucket, key), at)

    def exemption(self, sha256: str, at: str | None = None, *, bucket: str | None = None, key: str | None = None, upload_id: str | None = None, etag: str | None = None, size: int | None = None, hold: bool = False) -> dict | None:
        """The exemption in force at `at` (default now) for a match (`hold`: a hold) of these bytes at `bucket` and `key`
        (hashmatch.audit.find_exemption: the bytes' own, else one scoped to that upload; bytes never read, by version only)."""
        return find_exemption(self, sha256, bucket=bucket, key=key, upload_id=upload_id, etag=etag, size=size, hold=hold, at=at)
