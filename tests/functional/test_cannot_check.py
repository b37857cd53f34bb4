"""Uploads that cannot be checked: the hasher sends them on as unchecked, the matcher records and holds them (a hold
message on the match topic), the takedown quarantines what it holds; CannotCheckAction allow records them only."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import uuid
from pathlib import Path
from urllib.parse import quote_plus

import jsonschema
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from hashmatch_tools.made_media import image_bytes, textured

from hashmatch.aws import upload_objects
from hashmatch.usecases import hash_upload as hash_upload_usecase
from hashmatch.messages import hashes as hash_messages
from hashmatch.clock import now
from hashmatch.messages.hashes import Unchecked
from hashmatch.aws.hashing_attempts import HashingAttempts
from hashmatch.uploads import Upload
from hashmatch.media.hashing import hash_media
from hashmatch.vocabulary import CannotCheckAction, CannotCheckReason

HASHER, MATCHER, TAKEDOWN = "HashUploadFunction", "MatchHashesFunction", "TakeDownFunction"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
HOLD_SCHEMA = json.loads((SCHEMAS / "hold-message.schema.json").read_text())
HASHES_SCHEMA = json.loads((SCHEMAS / "hashes-message.schema.json").read_text())
PICTURE = image_bytes(textured(33, 320, 240), "JPEG", quality=85)


def valid(message: dict, schema: dict) -> dict:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(message)
    return message


@pytest.fixture
def hashes_queue(stack, drain):
    url = stack.ref("HashesQueue")
    drain(url)
    return url


@pytest.fixture
def put(s3, bucket):
    """Put bytes at a fresh key in the uploads bucket; returns the Upload as its S3 notification names it."""

    def put_bytes(data: bytes, name: str = "clip.mp4") -> Upload:
        key = f"incoming/{uuid.uuid4().hex[:8]} {name}"
        written = s3.put_object(Bucket=bucket, Key=key, Body=data)
        return Upload.from_object(bucket, key, written["VersionId"], etag=written["ETag"].strip('"'), size=len(data), uploaded_at=now())

    return put_bytes


def unchecked_event(upload: Upload, reason: CannotCheckReason, sha256: str, detail: str = "over the limit") -> dict:
    """A hashes-queue delivery of the hasher's unchecked message for `upload`."""
    message = hash_messages.HashesMessage(upload, None, now(), unchecked=Unchecked(reason, detail, sha256)).to_dict()
    return {"Records": [sqs_record(message)]}


def sqs_record(message: dict, receive_count: int = 1) -> dict:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "handle",
        "body": json.dumps(message),
        "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "0", "SenderId": "local", "ApproximateFirstReceiveTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:local",
        "awsRegion": "us-east-1",
    }


def upload_notification(load_event, upload: Upload, receive_count: int = 1, size: int | None = None) -> dict:
    """The sample S3 notification (via the uploads queue) naming `upload`, delivered `receive_count` times."""
    event = copy.deepcopy(load_event("hash_upload"))
    body = json.loads(event["Records"][0]["body"])
    target = body["Records"][0]["s3"]
    target["bucket"] = {"name": upload.bucket, "arn": f"arn:aws:s3:::{upload.bucket}"}
    target["object"].update(key=quote_plus(upload.key), eTag=upload.etag, size=size if size is not None else upload.size, versionId=upload.version_id)
    event["Records"][0]["body"] = json.dumps(body)
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


def hold_of(envelope: dict) -> dict:
    assert envelope["MessageAttributes"]["action"]["Value"] == "hold"
    return valid(json.loads(envelope["Message"]), HOLD_SCHEMA)


# ------------------------------------------------------------------ matcher


def test_an_unchecked_upload_is_held_by_a_schema_valid_hold_message(runner, put, observer, drain, audit):
    upload = put(b"\x00\x00\x00\x18ftypheic" + bytes(64))
    sha256 = hashlib.sha256(b"\x00\x00\x00\x18ftypheic" + bytes(64)).hexdigest()

    result = runner.invoke(MATCHER, unchecked_event(upload, CannotCheckReason.UNSUPPORTED, sha256, "HEIC cannot be decoded here"))

    assert result == {"batchItemFailures": []}
    [envelope] = drain(observer)
    hold = hold_of(envelope)
    assert (hold["upload"]["upload_id"], hold["upload"]["sha256"], hold["reason"]) == (upload.upload_id, sha256, "unsupported")
    recorded = audit.get(upload.upload_id, "cannot-check")
    assert (recorded["reason"], recorded["action"], recorded["hold_id"]) == ("unsupported", "hold", hold["hold_id"])


def test_an_unchecked_upload_delivered_twice_is_held_once(runner, put, observer, drain):
    upload = put(PICTURE)
    event = unchecked_event(upload, CannotCheckReason.CORRUPT, hashlib.sha256(PICTURE).hexdigest())

    runner.invoke(MATCHER, event)
    runner.invoke(MATCHER, event)

    assert len(drain(observer)) == 1


def test_with_cannot_check_action_allow_an_unchecked_upload_is_recorded_and_not_held(runner, put, observer, drain, audit, monkeypatch, output):
    matcher = runner.module(MATCHER)
    monkeypatch.setattr(matcher, "checker", dataclasses.replace(matcher.checker, cannot_check_action=CannotCheckAction.ALLOW))
    upload = put(PICTURE)

    runner.invoke(MATCHER, unchecked_event(upload, CannotCheckReason.OVERSIZED, hashlib.sha256(PICTURE).hexdigest()))

    assert drain(observer) == []
    assert audit.get(upload.upload_id, "cannot-check")["action"] == "allow"
    assert '"UploadsCannotCheck"' in output()


def test_a_partial_hash_that_matches_nothing_is_held_with_what_it_covered(runner, put, observer, drain):
    hashes = dataclasses.replace(hash_media(PICTURE, role="upload", extra_signals=()), kind="video", duration=1200.0, partial=True, covered_seconds=280.0)
    upload = put(PICTURE)
    message = hash_messages.HashesMessage(upload, hashes, now()).to_dict()

    runner.invoke(MATCHER, {"Records": [sqs_record(valid(message, HASHES_SCHEMA))]})

    [envelope] = drain(observer)
    hold = hold_of(envelope)
    assert (hold["reason"], hold["covered_seconds"], hold["duration"], hold["media_kind"]) == ("partial", 280.0, 1200.0, "video")


def test_an_unchecked_upload_reinstated_at_its_key_is_not_held_again(runner, put, observer, drain, audit):
    upload = put(PICTURE)
    sha256 = hashlib.sha256(PICTURE).hexdigest()
    audit.exempt(sha256, reinstated=upload.upload_id, reason="reviewed: not extremist", requested_by="arn:aws:iam::123456789012:role/restorer", scope="upload", bucket=upload.bucket, key=upload.key)

    runner.invoke(MATCHER, unchecked_event(upload, CannotCheckReason.OVERSIZED, sha256))

    assert drain(observer) == []
    assert audit.get(upload.upload_id, "cannot-check")["action"] == "exempted"


def test_a_partial_hash_that_matched_only_review_references_is_held_as_well(runner, put, observer, drain, hash_set, index):
    from hashmatch_tools.references import add_reference

    reference = add_reference(hash_set, PICTURE, label="needs review", source="tests", action="review")
    index()
    try:
        hashes = dataclasses.replace(hash_media(PICTURE, role="upload", extra_signals=()), partial=True, covered_seconds=0.0)
        message = hash_messages.HashesMessage(put(PICTURE), hashes, now()).to_dict()
        runner.invoke(MATCHER, {"Records": [sqs_record(message)]})
    finally:
        hash_set.remove_reference(reference.reference_id)
        index()

    published = [json.loads(envelope["Message"]) for envelope in drain(observer)]
    assert sorted((m["message_type"], m["action"]) for m in published) == [("hashmatch.hold", "hold"), ("hashmatch.match", "review")]


def test_a_hash_only_request_is_never_held(runner, observer, drain, audit):
    upload = Upload("partner-request-99")

    runner.invoke(MATCHER, unchecked_event(upload, CannotCheckReason.CORRUPT, hashlib.sha256(b"x").hexdigest()))

    assert drain(observer) == []
    assert audit.get(upload.upload_id, "cannot-check")["action"] == "not-an-object"


# ------------------------------------------------------------------ takedown


def delivered(message: dict) -> dict:
    """A takedown-queue delivery of `message` as SNS wraps it."""
    envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": "arn:aws:sns:us-east-1:123456789012:match", "Message": json.dumps(message), "Timestamp": now(), "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem", "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe", "MessageAttributes": {"action": {"Type": "String", "Value": "hold"}}}
    return {"Records": [sqs_record(envelope)]}


def held_message(upload: Upload, sha256: str) -> dict:
    from hashmatch.messages.building import hold_message

    request = hash_messages.HashesMessage(upload, None, now(), unchecked=Unchecked(CannotCheckReason.OVERSIZED, "over the limit", sha256))
    return json.loads(hold_message(request, CannotCheckReason.OVERSIZED, "over the limit").model_dump_json())


def test_a_hold_quarantines_the_upload_and_records_it_as_held(runner, put, s3, audit, stack):
    upload = put(PICTURE)

    result = runner.invoke(TAKEDOWN, delivered(held_message(upload, hashlib.sha256(PICTURE).hexdigest())))

    assert result == {"batchItemFailures": []}
    assert s3.list_object_versions(Bucket=upload.bucket, Prefix=upload.key).get("Versions", []) == []
    record = audit.get(upload.upload_id, "takedown")
    assert (record["outcome"], record["reason"], record["action"]) == ("held", "oversized", "hold")
    kept = s3.get_object(Bucket=stack.ref("EvidenceBucket"), Key=record["evidence"]["key"])["Body"].read()
    assert kept == PICTURE


def test_the_takedown_record_keeps_who_uploaded_it_and_from_where(runner, put, audit):
    upload = dataclasses.replace(put(PICTURE), uploader="AWS:AIDAEXAMPLE", source_ip="198.51.100.7")

    runner.invoke(TAKEDOWN, delivered(held_message(upload, hashlib.sha256(PICTURE).hexdigest())))

    record = audit.get(upload.upload_id, "takedown")
    assert (record["uploader"], record["source_ip"]) == ("AWS:AIDAEXAMPLE", "198.51.100.7")


def test_a_hold_without_a_digest_quarantines_the_named_version_of_the_same_etag_and_size(runner, put, s3, audit, monkeypatch):
    from hashmatch.usecases import take_down

    monkeypatch.setattr(take_down, "DIGEST_MAX_BYTES", len(PICTURE) - 1)  # this picture stands for an object over 2 GiB
    upload = put(PICTURE)

    runner.invoke(TAKEDOWN, delivered(held_message(upload, "")))

    assert audit.get(upload.upload_id, "takedown")["outcome"] == "held"
    assert s3.list_object_versions(Bucket=upload.bucket, Prefix=upload.key).get("Versions", []) == []


def test_a_hold_without_a_digest_naming_another_size_takes_nothing_down(runner, put, s3, audit, monkeypatch):
    from hashmatch.usecases import take_down

    monkeypatch.setattr(take_down, "DIGEST_MAX_BYTES", len(PICTURE) - 1)
    upload = dataclasses.replace(put(PICTURE), size=len(PICTURE) + 1)

    runner.invoke(TAKEDOWN, delivered(held_message(upload, "")))

    assert audit.get(upload.upload_id, "takedown-refused") is not None
    assert s3.head_object(Bucket=upload.bucket, Key=upload.key, VersionId=upload.version_id)["ContentLength"] == len(PICTURE)


def test_a_hold_without_a_digest_of_an_object_the_hasher_reads_for_one_takes_nothing_down(runner, put, s3, audit):
    upload = put(PICTURE)  # 2 GiB and less are always read for a SHA-256: a hold without one is forged or broken

    runner.invoke(TAKEDOWN, delivered(held_message(upload, "")))

    assert "without a SHA-256" in audit.get(upload.upload_id, "takedown-refused")["detail"]
    assert s3.head_object(Bucket=upload.bucket, Key=upload.key, VersionId=upload.version_id)["ContentLength"] == len(PICTURE)


def test_a_hold_of_an_object_over_copy_objects_limit_is_copied_in_parts(runner, put, s3, audit, stack, monkeypatch):
    from hashmatch.aws import quarantine

    monkeypatch.setattr(quarantine, "COPY_OBJECT_MAX_BYTES", 1000)
    big = image_bytes(textured(35, 1600, 1200), "PNG")
    upload = put(big)

    runner.invoke(TAKEDOWN, delivered(held_message(upload, hashlib.sha256(big).hexdigest())))

    record = audit.get(upload.upload_id, "takedown")
    assert s3.get_object(Bucket=stack.ref("EvidenceBucket"), Key=record["evidence"]["key"])["Body"].read() == big


def test_a_hold_naming_other_bytes_takes_nothing_down(runner, put, s3, audit):
    upload = put(PICTURE)

    runner.invoke(TAKEDOWN, delivered(held_message(upload, hashlib.sha256(b"other bytes").hexdigest())))

    assert s3.head_object(Bucket=upload.bucket, Key=upload.key, VersionId=upload.version_id)["ContentLength"] == len(PICTURE)
    assert audit.get(upload.upload_id, "takedown-refused") is not None


# ------------------------------------------------------------------ hasher


def test_an_oversized_upload_that_is_media_goes_on_unchecked_with_its_sha256(runner, put, load_event, hashes_queue, drain, audit):
    upload = put(PICTURE, "photo.jpg")
    limit = runner.module(HASHER).settings.max_upload_bytes

    runner.invoke(HASHER, upload_notification(load_event, upload, size=limit + 1))

    [message] = drain(hashes_queue)
    valid(message, HASHES_SCHEMA)
    assert message["hashes"] is None
    assert (message["unchecked"]["reason"], message["unchecked"]["sha256"]) == ("oversized", hashlib.sha256(PICTURE).hexdigest())
    assert message["upload"]["version_id"] == upload.version_id
    assert audit.get(upload.upload_id, "rejected")["recognised"] is True


def test_an_oversized_upload_is_held_whatever_its_first_bytes_say(runner, put, load_event, hashes_queue, drain, audit):
    upload = put(b"just some text, " * 64, "notes.txt")
    limit = runner.module(HASHER).settings.max_upload_bytes

    runner.invoke(HASHER, upload_notification(load_event, upload, size=limit + 1))

    [message] = drain(hashes_queue)
    assert message["unchecked"]["reason"] == "oversized"
    assert audit.get(upload.upload_id, "rejected")["recognised"] is False


def test_an_upload_too_large_to_digest_is_held_by_its_version_etag_and_size(runner, put, load_event, hashes_queue, drain, monkeypatch):
    monkeypatch.setattr(upload_objects, "DIGEST_MAX_BYTES", 100)
    upload = put(PICTURE, "photo.jpg")
    limit = runner.module(HASHER).settings.max_upload_bytes

    runner.invoke(HASHER, upload_notification(load_event, upload, size=limit + 1))

    [message] = drain(hashes_queue)
    assert message["unchecked"]["sha256"] == ""
    assert (message["upload"]["version_id"], message["upload"]["etag"], message["upload"]["size"]) == (upload.version_id, upload.etag, len(PICTURE))


def test_the_last_delivery_before_the_dead_letter_queue_holds_the_upload_without_hashing_it(runner, put, load_event, hashes_queue, drain):
    upload = put(PICTURE, "photo.jpg")
    last = hash_upload_usecase.MAX_DELIVERIES

    result = runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=last))

    assert result == {"batchItemFailures": []}
    [message] = drain(hashes_queue)
    assert (message["hashes"], message["unchecked"]["reason"]) == (None, "failed")


def test_an_attempt_that_raises_before_hashing_counts_as_unfinished(runner, stack, put, load_event, hashes_queue, drain, monkeypatch):
    upload = put(PICTURE, "photo.jpg")
    hasher = runner.module(HASHER)

    def broken(*_args, **_options):
        raise RuntimeError("the read was cut off")  # not the bytes' doing: the queue delivers it again

    monkeypatch.setattr(hasher.uploads, "read", broken)
    for delivery in (2, 3):
        with pytest.raises(BatchProcessingError):  # the record fails and SQS would deliver it again
            runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=delivery))
    monkeypatch.undo()

    runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=4))

    [message] = drain(hashes_queue)
    assert message["unchecked"]["reason"] == "failed"


def test_an_upload_whose_hashing_raises_is_held_at_its_first_delivery(runner, put, load_event, hashes_queue, drain, monkeypatch):
    upload = put(PICTURE, "photo.jpg")

    def broken(*_args, **_options):
        raise RuntimeError("decoder blew up")

    monkeypatch.setattr(hash_upload_usecase, "hash_media", broken)
    result = runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=1))

    assert result == {"batchItemFailures": []}
    [message] = drain(hashes_queue)
    assert (message["hashes"], message["unchecked"]["reason"]) == (None, "failed") and "decoder blew up" in message["unchecked"]["detail"]


def test_a_sampling_secret_that_cannot_be_read_fails_the_record_without_holding_the_upload(runner, put, load_event, hashes_queue, drain, monkeypatch):
    upload = put(PICTURE, "photo.jpg")

    def unreachable():
        raise RuntimeError("Secrets Manager did not answer")  # not the bytes' doing: the queue delivers it again

    function = runner.module(HASHER)
    monkeypatch.setattr(function, "hasher", dataclasses.replace(function.hasher, sampling_secret=unreachable))
    with pytest.raises(BatchProcessingError):
        runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=1))

    assert drain(hashes_queue) == []


def test_spill_files_a_killed_invocation_left_are_swept_at_the_next_start(runner, put, load_event, hashes_queue, drain):
    left = Path(runner.module(HASHER).uploads.spill_directory) / "hashmatch-spill-left-behind-by-a-killed-invocation"
    left.write_bytes(b"x" * 1024)

    runner.invoke(HASHER, upload_notification(load_event, put(PICTURE, "photo.jpg")))

    assert not left.exists()
    drain(hashes_queue)


def test_a_damaged_picture_goes_on_unchecked_as_corrupt(runner, put, load_event, hashes_queue, drain):
    damaged = PICTURE[:200]
    upload = put(damaged, "photo.jpg")

    runner.invoke(HASHER, upload_notification(load_event, upload))

    [message] = drain(hashes_queue)
    assert (message["unchecked"]["reason"], message["unchecked"]["sha256"]) == ("corrupt", hashlib.sha256(damaged).hexdigest())


def test_an_upload_whose_attempts_ended_twice_without_an_outcome_goes_on_unchecked_as_failed(runner, stack, put, load_event, hashes_queue, drain):
    upload = put(PICTURE, "photo.jpg")
    attempts = HashingAttempts(stack.table("IdempotencyTable"))
    attempts.start(upload.upload_id)
    attempts.start(upload.upload_id)  # two deliveries that never ended (the invocation ran out of memory or time)

    result = runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=4))

    assert result == {"batchItemFailures": []}
    [message] = drain(hashes_queue)
    assert message["unchecked"]["reason"] == "failed"
    assert attempts.start(upload.upload_id) == 0  # the marks were cleared


def test_a_redelivered_upload_that_hashes_leaves_no_attempt_mark(runner, stack, put, load_event, hashes_queue, drain):
    upload = put(PICTURE, "photo.jpg")

    runner.invoke(HASHER, upload_notification(load_event, upload, receive_count=2))

    [message] = drain(hashes_queue)
    assert message["hashes"]["sha256"] == hashlib.sha256(PICTURE).hexdigest()
    assert HashingAttempts(stack.table("IdempotencyTable")).start(upload.upload_id) == 0
