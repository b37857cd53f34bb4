"""The same event delivered twice, over the whole chain: one match message and one evidence copy per upload.

S3 event notifications, SQS and SNS all deliver at least once. The handler-level cases (the matcher given the
same hashes message twice, the takedown the same match message twice) are in tests/functional; here each hop
delivers a duplicate while the rest of the chain runs as deployed.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest
from hashmatch_tools.made_media import detailed, image_bytes

from hashmatch_tools.references import add_reference


@pytest.fixture(scope="module")
def known_picture():
    return detailed(95, 640, 480)


@pytest.fixture
def reference(runner, hash_set, known_picture):
    """The known picture in the hash set, indexed so the matcher has it; removed after the test."""
    added = add_reference(hash_set, image_bytes(known_picture), label="known picture (redelivery)", source="tests")
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    yield added
    hash_set.remove_reference(added.reference_id)
    runner.run_until_idle(functions=["IndexHashSetFunction"])


@pytest.fixture
def upload_copy(stack, s3, known_picture):
    """Put a JPEG copy of the known picture under a key of its own; returns its upload id and key."""
    bucket = stack.ref("UploadsBucket")

    def put(quality: int = 80) -> tuple[str, str]:
        key = f"redelivery/{uuid.uuid4().hex[:8]} copy.jpg"
        version = s3.put_object(Bucket=bucket, Key=key, Body=image_bytes(known_picture, "JPEG", quality=quality))["VersionId"]
        return f"s3://{bucket}/{key}?versionId={version}", key

    return put


def duplicate_waiting_messages(sqs, queue_url: str) -> int:
    """Send a copy of every message waiting on the queue (the originals stay, back after their visibility timeout)."""
    sent = 0
    for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"], MessageAttributes=message.get("MessageAttributes", {}))
        sent += 1
    return sent


def published(drain, observer) -> Counter:
    return Counter(json.loads(envelope["Message"])["upload"]["upload_id"] for envelope in drain(observer))


def evidence_copies(stack, s3, upload_id: str) -> int:
    bucket = stack.ref("UploadsBucket")
    key, version = upload_id.removeprefix(f"s3://{bucket}/").split("?versionId=")
    return len(s3.list_object_versions(Bucket=stack.ref("EvidenceBucket"), Prefix=f"{bucket}/{version}/{key}").get("Versions", []))


def events(audit, upload_id: str) -> Counter:
    return Counter(record["event"] for record in audit.events(upload_id))


def test_an_upload_notified_twice_is_published_once_and_quarantined_once(stack, runner, sqs, s3, audit, observer, drain, reference, upload_copy):
    runner.run_until_idle()
    upload_id, _ = upload_copy()

    assert duplicate_waiting_messages(sqs, stack.ref("UploadsQueue")) == 1
    runner.run_until_idle()

    assert published(drain, observer) == Counter({upload_id: 1})
    assert evidence_copies(stack, s3, upload_id) == 1
    assert events(audit, upload_id) == Counter({"matched": 1, "takedown": 1})


def test_hashes_delivered_twice_are_published_once_and_quarantined_once(stack, runner, sqs, s3, audit, observer, drain, reference, upload_copy):
    runner.run_until_idle()
    upload_id, _ = upload_copy()
    runner.run_until_idle(functions=["HashUploadFunction"])

    assert duplicate_waiting_messages(sqs, stack.ref("HashesQueue")) == 1
    runner.run_until_idle()

    assert published(drain, observer) == Counter({upload_id: 1})
    assert evidence_copies(stack, s3, upload_id) == 1
    assert events(audit, upload_id) == Counter({"matched": 1, "takedown": 1})


def test_a_match_message_delivered_twice_to_the_takedown_is_quarantined_once(stack, runner, sqs, s3, audit, observer, drain, reference, upload_copy):
    runner.run_until_idle()
    upload_id, _ = upload_copy()
    runner.run_until_idle(functions=["HashUploadFunction", "MatchHashesFunction"])

    assert duplicate_waiting_messages(sqs, stack.ref("TakedownQueue")) == 1
    runner.run_until_idle()

    assert published(drain, observer) == Counter({upload_id: 1})
    assert evidence_copies(stack, s3, upload_id) == 1
    assert events(audit, upload_id) == Counter({"matched": 1, "takedown": 1})
