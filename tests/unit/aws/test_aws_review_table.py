"""The review desk's items in DynamoDB (ReviewTable) and the review queue read into them, on moto's in-process mock
(the table and the queue's visibility timeout as template.yaml defines them: tests/aws_moto.py).

What the decisions do with the items is the use case's (tests/unit/usecases/test_review.py); these are the adapter's
own promises: each message kept once and read back whole, a decided item expiring and an open one not, every item
listed whatever the page size, and what is not a review message left on the queue.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.aws_moto import all_items, page_size, sqs_client, template_queue, template_table
from tests.samples import sample_match_message
from hashmatch.aws.review_table import DECIDED_KEPT_DAYS, MESSAGE_PREFIX, ReviewTable, take_review_queue
from hashmatch.messages.models import MatchMessage
from hashmatch.usecases.review_queue import ItemStatus

DAY = 24 * 3600


def review_match(n: int, *, match: int | None = None, matched_at: str = "2026-12-07T09:00:00.000+00:00") -> MatchMessage:
    """The sample match message as a review match of upload `n` (its own upload id; match id `match`, by default `n`)."""
    message = sample_match_message()
    message["action"] = "review"
    message["match_id"] = f"0b7e4c2a-8f61-4d1e-9a53-{n if match is None else match:012d}"
    message["upload"]["upload_id"] = f"s3://uploads/incoming/{n}.jpg"
    message["upload"]["key"] = f"incoming/{n}.jpg"
    message["times"]["matched_at"] = matched_at
    return MatchMessage.model_validate_json(json.dumps(message))


def notification(message: MatchMessage) -> str:
    """The body the review queue delivers: the SNS notification around the message."""
    return json.dumps({"Type": "Notification", "Message": message.model_dump_json()})


@pytest.fixture
def table(aws):
    return template_table("ReviewTable", "review")


@pytest.fixture
def items(table) -> ReviewTable:
    return ReviewTable(table)


@pytest.fixture
def queue(aws):
    """The review queue, with the template's visibility timeout: a message received and not deleted stays out of sight."""
    sqs = sqs_client()
    return sqs, template_queue(sqs, "ReviewQueue", "review")


def test_a_kept_message_reads_back_equal_and_is_stored_compressed(items, table):
    message = review_match(1)

    items.add(message)

    assert items.get(message.upload.upload_id).messages == (message,)
    [stored] = [value for name, value in all_items(table)[0].items() if name.startswith(MESSAGE_PREFIX)]
    assert len(bytes(stored.value)) < len(message.model_dump_json())


def test_an_upload_never_queued_has_no_item(items):
    assert items.get("s3://uploads/incoming/never.jpg") is None


def test_a_decided_item_expires_after_the_days_it_is_kept(items, table):
    message = review_match(1)
    items.add(message)

    before = int(time.time())
    items.settle(message.upload.upload_id, ItemStatus.DECIDED, {"decision": "confirm"})

    [item] = all_items(table)
    assert item["status"] == "decided" and before + DECIDED_KEPT_DAYS * DAY <= item["expires_at"] <= int(time.time()) + DECIDED_KEPT_DAYS * DAY


def test_an_escalated_item_does_not_expire(items, table):
    message = review_match(1)
    items.add(message)
    items.settle(message.upload.upload_id, ItemStatus.DECIDED, {"decision": "confirm"})

    items.settle(message.upload.upload_id, ItemStatus.ESCALATED, {"decision": "escalate"})

    [item] = all_items(table)
    assert item["status"] == "escalated" and "expires_at" not in item


def test_a_new_message_about_a_decided_upload_opens_its_item_again_and_stops_its_expiry(items, table):
    first = review_match(1)
    items.add(first)
    items.settle(first.upload.upload_id, ItemStatus.DECIDED, {"decision": "confirm"})

    assert items.add(review_match(1, match=2, matched_at="2026-12-07T10:00:00.000+00:00")) is True

    [item] = all_items(table)
    assert item["status"] == "open" and "expires_at" not in item


def test_every_item_is_listed_when_the_table_answers_in_small_pages(table):
    items = ReviewTable(page_size(table, 2))
    for n in range(5):
        items.add(review_match(n))

    assert sorted(item.upload_id for item in items.all()) == [f"s3://uploads/incoming/{n}.jpg" for n in range(5)]


def test_reading_the_queue_keeps_each_message_and_deletes_it(items, queue):
    sqs, url = queue
    for n in range(12):  # more than one receive's worth
        sqs.send_message(QueueUrl=url, MessageBody=notification(review_match(n)))

    read = take_review_queue(sqs, url, items)

    assert read == {"kept": 12, "again": 0, "unreadable": 0}
    assert len(list(items.all())) == 12
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_a_message_that_is_not_a_match_or_hold_message_is_left_on_the_queue(items, queue):
    sqs, url = queue
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Type": "Notification", "Message": json.dumps({"message_type": "hashmatch.hashes"})}))
    sqs.send_message(QueueUrl=url, MessageBody=notification(review_match(1)))

    read = take_review_queue(sqs, url, items)

    assert read == {"kept": 1, "again": 0, "unreadable": 1}
    # Received, not deleted: out of sight for the visibility timeout, then received again until the dead-letter queue takes it.
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
