"""The review desk's items in DynamoDB (ReviewTable), and the review queue (SQS) read into them.

One item per upload (partition key upload_id):
  status          open | escalated | decided (usecases.review.ItemStatus)
  arrived_at      when the first of its messages was published (the one-hour target runs from it)
  m#<message id>  each match or hold message, once (zlib-compressed JSON: a match message may be 256 KB)
  last_decision   the latest decision: who, what, when, at which version of the trail, and how it ended
  expires_at      set once decided: the item leaves the table 30 days later (the audit table keeps the record)

The queue is read by the desk itself (`hashmatch review`), not by a function: each message is kept in
its item and then deleted from the queue, so every reviewer's desk lists the same items, and a
message delivered twice is kept once. One that is not a match or hold message is left on the queue,
which dead-letters it after five receives (ReviewDeadLetterAlarm).
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Iterator

from botocore.exceptions import ClientError

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.usecases.review_queue import ItemStatus, ReviewItem, ReviewMessage, arrived_at, message_id, review_message_of

MESSAGE_PREFIX = "m#"
# Decided items stay listed (status decided) this long, then DynamoDB's TTL removes them.
DECIDED_KEPT_DAYS = 30
_RECEIVE_MAX = 10


class ReviewTable:
    """The review desk's items (a boto3 DynamoDB Table resource)."""

    def __init__(self, table):
        self.table = table

    def add(self, message: ReviewMessage) -> bool:
        """Keep a message in its upload's item (made open if new, opened again if decided); False when it was kept already."""
        upload_id = message.upload.upload_id
        try:
            answer = self.table.update_item(
                Key={"upload_id": upload_id},
                UpdateExpression="SET #message = :message, #status = if_not_exists(#status, :open), arrived_at = if_not_exists(arrived_at, :arrived)",
                ConditionExpression="attribute_not_exists(#message)",
                ExpressionAttributeNames={"#message": f"{MESSAGE_PREFIX}{message_id(message)}", "#status": "status"},
                ExpressionAttributeValues={":message": zlib.compress(message.model_dump_json().encode()), ":open": ItemStatus.OPEN.value, ":arrived": arrived_at(message)},
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        if answer["Attributes"].get("status") == ItemStatus.DECIDED.value:
            # New news about an upload already decided (a hold after its match was decided, say): someone must look again.
            self.table.update_item(
                Key={"upload_id": upload_id},
                UpdateExpression="SET #status = :open REMOVE expires_at",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":open": ItemStatus.OPEN.value},
            )
        return True

    def get(self, upload_id: str) -> ReviewItem | None:
        found = self.table.get_item(Key={"upload_id": upload_id}, ConsistentRead=True).get("Item")
        return _item(found) if found else None

    def all(self) -> Iterator[ReviewItem]:
        """Every item, open or decided in the last DECIDED_KEPT_DAYS (a scan: the table holds the review queue only)."""
        for found in items(self.table, "scan", ConsistentRead=True):
            yield _item(found)

    def settle(self, upload_id: str, status: ItemStatus, decision: dict) -> None:
        expression = "SET #status = :status, last_decision = :decision"
        values = {":status": ItemStatus(status).value, ":decision": to_item(decision)}
        if status == ItemStatus.DECIDED:
            expression += ", expires_at = :expires"
            values[":expires"] = int(time.time()) + DECIDED_KEPT_DAYS * 24 * 3600
        else:
            expression += " REMOVE expires_at"
        self.table.update_item(Key={"upload_id": upload_id}, UpdateExpression=expression, ExpressionAttributeNames={"#status": "status"}, ExpressionAttributeValues=values)


def _item(found: dict) -> ReviewItem:
    messages = [review_message_of(json.loads(zlib.decompress(bytes(value.value if hasattr(value, "value") else value)))) for name, value in found.items() if name.startswith(MESSAGE_PREFIX)]
    decision = from_item(found["last_decision"]) if "last_decision" in found else None
    return ReviewItem.of(messages, found.get("status", ItemStatus.OPEN.value), decision)


def take_review_queue(sqs, queue_url: str, table: ReviewTable, max_messages: int = 500) -> dict:
    """Read the review queue into the table: each message kept in its item, then deleted. Returns what was read:
    {"kept": new messages, "again": redeliveries, "unreadable": messages left on the queue}."""
    read = {"kept": 0, "again": 0, "unreadable": 0}
    while sum(read.values()) < max_messages:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=_RECEIVE_MAX, WaitTimeSeconds=0).get("Messages", [])
        if not received:
            break
        done = []
        for delivered in received:
            try:
                message = review_message_of(delivered["Body"])
            except ValueError:
                read["unreadable"] += 1
                continue
            read["kept" if table.add(message) else "again"] += 1
            done.append(delivered)
        if done:
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
    return read
