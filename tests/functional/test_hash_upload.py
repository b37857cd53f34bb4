"""HashUploadFunction fed events/hash_upload*.json: S3 notification -> object -> hashes queue, and bad objects."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from urllib.parse import quote_plus

import io

import jsonschema
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hashmatch_tools.made_media import image_bytes, textured
from PIL import Image

FUNCTION = "HashUploadFunction"
HASHES_SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "hashes-message.schema.json").read_text())


@pytest.fixture(scope="module")
def picture() -> bytes:
    return image_bytes(textured(11, 640, 480), "JPEG", quality=90)


@pytest.fixture
def hashes_queue(stack, drain):
    url = stack.ref("HashesQueue")
    drain(url)
    return url


def notification(event: dict, key: str | None = None, data: bytes | None = None, *, size: int | None = None, bucket: str | None = None) -> dict:
    """The sample event naming another key (URL-encoded, as S3 sends keys), the bytes put there, or another bucket."""
    event = copy.deepcopy(event)
    body = json.loads(event["Records"][0]["body"])
    target = body["Records"][0]["s3"]
    if key is not None:
        target["object"]["key"] = quote_plus(key)
    if data is not None:
        target["object"]["eTag"] = hashlib.md5(data).hexdigest()
        target["object"]["size"] = len(data)
    if size is not None:
        target["object"]["size"] = size
    if bucket is not None:
        target["bucket"] = {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}
    event["Records"][0]["body"] = json.dumps(body)
    return event


def test_upload_event_queues_hashes_of_the_object_at_the_decoded_key(runner, s3, bucket, hashes_queue, drain, load_event, picture):
    event = load_event("hash_upload")
    s3.put_object(Bucket=bucket, Key="incoming/photo 01.jpg", Body=picture)  # the event's key is incoming/photo+01.jpg

    result = runner.invoke(FUNCTION, notification(event, data=picture))

    assert result == {"batchItemFailures": []}
    [message] = drain(hashes_queue)
    jsonschema.validate(message, HASHES_SCHEMA)
    assert message["upload"]["key"] == "incoming/photo 01.jpg"
    assert message["hashes"]["kind"] == "image"
    assert message["hashes"]["sha256"] == hashlib.sha256(picture).hexdigest()


def test_upload_event_stores_the_detail_pictures_the_hashes_message_points_at(stack, runner, s3, bucket, hashes_queue, drain, load_event, picture):
    s3.put_object(Bucket=bucket, Key="incoming/photo 01.jpg", Body=picture)

    runner.invoke(FUNCTION, notification(load_event("hash_upload"), data=picture))

    [message] = drain(hashes_queue)
    details = message["details"]
    [only] = details["pictures"]
    stored = s3.get_object(Bucket=details["bucket"], Key=details["key"])["Body"].read()
    detail = Image.open(io.BytesIO(stored[only["offset"] : only["offset"] + only["length"]]))
    assert (detail.format, detail.mode, detail.size) == ("JPEG", "L", (640, 480))
    assert (details["bucket"], details["key"]) == (stack.ref("DetailsBucket"), f"details/{message['hashes']['sha256']}.jpegs")


def test_hashes_name_the_object_version_that_was_read(runner, s3, bucket, hashes_queue, drain, load_event, picture):
    version = s3.put_object(Bucket=bucket, Key="incoming/versioned.jpg", Body=picture)["VersionId"]

    runner.invoke(FUNCTION, notification(load_event("hash_upload"), "incoming/versioned.jpg", picture))

    [message] = drain(hashes_queue)
    assert message["upload"]["version_id"] == version
    assert message["upload"]["upload_id"] == f"s3://{bucket}/incoming/versioned.jpg?versionId={version}"


def test_s3_test_event_is_skipped_and_counted(runner, hashes_queue, drain, load_event, counted):
    result = runner.invoke(FUNCTION, load_event("hash_upload_test_event"))

    assert result == {"batchItemFailures": []}
    assert drain(hashes_queue) == []
    assert counted("TestEventsSkipped")


@pytest.mark.parametrize(
    "name, reason",
    [("empty.mp4", "empty"), ("truncated.jpg", "corrupt"), ("notes.txt", "unsupported")],
)
def test_bad_object_is_a_recorded_counted_outcome_not_a_failure(runner, s3, bucket, hashes_queue, drain, load_event, audit, counted, picture, name, reason):
    body = {"empty": b"", "corrupt": picture[: len(picture) // 2], "unsupported": b"minutes of the meeting\n"}[reason]
    key = f"incoming/bad/{name}"
    version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]

    result = runner.invoke(FUNCTION, notification(load_event("hash_upload"), key, body))

    assert result == {"batchItemFailures": []}
    # A damaged picture is still media: it goes on unchecked, to be held (test_cannot_check.py); the others are not.
    assert [m["unchecked"]["reason"] for m in drain(hashes_queue)] == (["corrupt"] if reason == "corrupt" else [])
    record = audit.get(f"s3://{bucket}/{key}?versionId={version}", "rejected")
    assert record["reason"] == reason
    assert [blob["reason"] for blob in counted("UploadsRejected") if "reason" in blob] == [reason]


def test_oversized_object_is_rejected_on_its_notified_size(runner, stack, s3, bucket, load_event, audit):
    limit = int(stack.functions[FUNCTION].environment["MAX_UPLOAD_BYTES"])
    body = b"not really a video"
    s3.put_object(Bucket=bucket, Key="incoming/huge.mp4", Body=body)
    event = notification(load_event("hash_upload"), "incoming/huge.mp4", body, size=limit + 1)

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    assert audit.get(f"s3://{bucket}/incoming/huge.mp4", "rejected")["reason"] == "oversized"


def test_object_deleted_before_hashing_is_recorded_as_gone(runner, bucket, load_event, audit, counted, picture):
    event = notification(load_event("hash_upload"), "incoming/deleted-already.jpg", picture)

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    assert audit.get(f"s3://{bucket}/incoming/deleted-already.jpg", "gone")["stage"] == "hashing"
    assert counted("UploadsGone")


def test_one_bad_record_fails_alone_and_the_rest_of_its_batch_is_hashed(runner, s3, bucket, hashes_queue, drain, load_event, picture):
    s3.put_object(Bucket=bucket, Key="incoming/batch-good.jpg", Body=picture)
    good = notification(load_event("hash_upload"), "incoming/batch-good.jpg", picture)["Records"][0]
    broken = copy.deepcopy(good)
    broken["messageId"] = "broken-record"
    broken["body"] = "{this is not json"

    result = runner.invoke(FUNCTION, {"Records": [broken, good]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-record"}]}
    assert [m["upload"]["key"] for m in drain(hashes_queue)] == ["incoming/batch-good.jpg"]


def test_an_unreadable_bucket_fails_the_invocation_so_the_queue_retries_it(runner, load_event, picture):
    # Not bad input but an error (here: no such bucket; in production also throttling, network):
    # the record fails, and with every record of the batch failed Powertools fails the invocation.
    event = notification(load_event("hash_upload"), "incoming/x.jpg", picture, bucket="no-such-bucket-anywhere")

    with pytest.raises(BatchProcessingError, match="NoSuchBucket"):
        runner.invoke(FUNCTION, event)
