"""Attempts at hashing an upload that ended without an outcome: the hasher's way to tell the upload that kills it.

An upload that runs the hasher out of memory or time ends its whole invocation, so every record of
the batch comes back, and SQS's receive count cannot say which one was to blame. So a redelivered
upload (receive count above one) is marked in the idempotency table before it is hashed and unmarked
when it ends either way; a mark still there on the next delivery is an attempt that never ended.
Uploads delivered once, the usual case, cost nothing here.
"""

from __future__ import annotations

import time

# Marks live a day: longer than any message waits between deliveries, then the table's TTL removes them.
MARK_SECONDS = 24 * 3600
# Powertools' own records are named "<function>.<handler>#<hash>": no mark can take one's place.
KEY_PREFIX = "hashing-attempts#"


class HashingAttempts:
    """Counts unfinished attempts per upload in a DynamoDB table keyed by `id` with TTL attribute `expiration`."""

    def __init__(self, table):
        self.table = table

    def start(self, upload_id: str) -> int:
        """Mark an attempt begun; returns how many earlier marked attempts never ended."""
        answer = self.table.update_item(
            Key={"id": KEY_PREFIX + upload_id},
            UpdateExpression="ADD attempts :one SET expiration = :expiration",
            ExpressionAttributeValues={":one": 1, ":expiration": int(time.time()) + MARK_SECONDS},
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["attempts"]) - 1

    def end(self, upload_id: str) -> None:
        """The attempt ended (hashed, rejected, or failed in a way the function survived): forget the marks."""
        self.table.delete_item(Key={"id": KEY_PREFIX + upload_id})
