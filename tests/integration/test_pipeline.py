"""Upload -> S3 notification -> hasher -> matcher -> SNS -> subscribed queue and takedown, all over real HTTP."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hashmatch_tools.made_media import detailed, image_bytes, textured

from hashmatch_tools.references import add_reference
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set.live import LiveHashSet
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch_tools.local.template import load_template
from hashmatch.hash_set.lists import HashListEntry, HashListFormat, read_hash_list
from hashmatch.vocabulary import ListedSignal
from hashmatch.media.hashing import hash_media
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.matching.local_features.orb import MIN_INLIERS
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "match-message.schema.json").read_text())
VIDEOS = "videos/tmk-sample-videos"
MAX_RECEIVE_COUNT = load_template(ROOT / "template.yaml")["Resources"]["UploadsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
DEFAULT_REFRESH_SECONDS = float(load_template(ROOT / "template.yaml")["Parameters"]["HashSetRefreshSeconds"]["Default"])
# What the product promises: a change to the hash set takes effect in a running matcher within this.
FRESHNESS_SECONDS = 5.0


def validate(message: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)


@pytest.fixture(scope="module")
def reference_video(stack, corpus):
    """The corpus chair video in the hash set for this module's tests."""
    hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(stack.client("s3"), stack.ref("ReferenceFeaturesBucket")))
    reference = add_reference(hash_set, corpus / VIDEOS / "chair-orig-22-sd-bar.mp4", label="known video", source="corpus")
    yield reference
    hash_set.remove_reference(reference.reference_id)


@pytest.fixture(scope="module")
def picture() -> bytes:
    return image_bytes(textured(31, 640, 480))


@pytest.fixture
def reference_picture(hash_set, picture):
    """A picture in the hash set (a PNG); uploads of it as JPEG are the altered copies."""
    reference = add_reference(hash_set, picture, label="known picture", source="tests")
    yield reference
    hash_set.remove_reference(reference.reference_id)


@pytest.fixture
def upload(stack, s3):
    bucket = stack.ref("UploadsBucket")

    def put(key: str, body: bytes) -> str:
        """Upload; returns the upload id the pipeline will use."""
        version = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        return f"s3://{bucket}/{key}?versionId={version}"

    return put


def messages(drain, observer) -> list[dict]:
    return [json.loads(envelope["Message"]) for envelope in drain(observer)]


def dead_letters(stack, sqs) -> dict[str, int]:
    counts = {}
    for name in ("UploadsDeadLetterQueue", "HashesDeadLetterQueue", "TakedownDeadLetterQueue"):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(name), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        counts[name] = int(attributes["ApproximateNumberOfMessages"])
    return counts


@pytest.mark.corpus
def test_altered_copy_of_a_reference_video_is_published_and_quarantined(stack, runner, s3, audit, observer, drain, upload, corpus, reference_video):
    upload_id = upload("user uploads/sepia copy.mp4", (corpus / VIDEOS / "chair-22-sd-sepia-bar.mp4").read_bytes())

    runner.run_until_idle()

    [message] = messages(drain, observer)
    validate(message)
    assert message["upload"]["upload_id"] == upload_id
    assert message["matches"][0]["reference_id"] == reference_video.reference_id
    assert message["matches"][0]["query_match_percent"] >= 80
    record = audit.get(upload_id, "takedown")
    assert record["outcome"] == "quarantined"
    assert s3.head_object(Bucket=record["evidence"]["bucket"], Key=record["evidence"]["key"])["ContentLength"] == message["upload"]["size"]
    assert s3.list_object_versions(Bucket=message["upload"]["bucket"], Prefix="user uploads/sepia copy.mp4").get("Versions", []) == []


@pytest.mark.corpus
def test_unrelated_video_publishes_nothing_and_stays_up(stack, runner, s3, audit, observer, drain, upload, corpus, reference_video):
    upload_id = upload("user uploads/doorknob.mp4", (corpus / VIDEOS / "doorknob-hd-no-bar.mp4").read_bytes())

    runner.run_until_idle()

    assert messages(drain, observer) == []
    assert audit.events(upload_id) == []
    assert s3.head_object(Bucket=stack.ref("UploadsBucket"), Key="user uploads/doorknob.mp4")["ContentLength"] > 0


def test_re_encoded_copy_of_a_reference_picture_is_quarantined_under_a_non_ascii_key(runner, audit, observer, drain, upload, picture, reference_picture):
    key = "user uploads/été 2025/photo (1)+.jpg"
    upload_id = upload(key, image_bytes(textured(31, 640, 480), "JPEG", quality=60))

    runner.run_until_idle()

    [message] = messages(drain, observer)
    validate(message)
    assert message["upload"]["key"] == key
    assert message["media"]["kind"] == "image"
    assert audit.get(upload_id, "takedown")["outcome"] == "quarantined"


def test_a_match_for_a_review_only_reference_reaches_subscribers_but_not_the_takedown(stack, runner, s3, hash_set, audit, observer, drain, upload, picture):
    reference = add_reference(hash_set, picture, label="needs review", source="tests", action="review")
    try:
        upload_id = upload("user uploads/for review.jpg", image_bytes(textured(31, 640, 480), "JPEG", quality=70))
        runner.run_until_idle()
    finally:
        hash_set.remove_reference(reference.reference_id)

    [message] = messages(drain, observer)
    assert message["action"] == "review"
    assert [record["event"] for record in audit.events(upload_id)] == ["matched"]
    reviews = [json.loads(envelope["Message"]) for envelope in drain(stack.ref("ReviewQueue"))]
    assert [review["match_id"] for review in reviews if review["upload"]["upload_id"] == upload_id] == [message["match_id"]]
    assert s3.head_object(Bucket=stack.ref("UploadsBucket"), Key="user uploads/for review.jpg")["ContentLength"] > 0


def test_bad_objects_end_as_recorded_outcomes_and_nothing_is_dead_lettered(stack, runner, sqs, audit, observer, drain, upload, picture):
    uploads = {
        "empty": upload("bad/empty.mp4", b""),
        "corrupt": upload("bad/half.jpg", image_bytes(textured(32, 640, 480), "JPEG")[:4000]),
        "unsupported": upload("bad/report.pdf", b"%PDF-1.7\n not a picture\n"),
    }
    before = len(runner.invocations)

    runner.run_until_idle()

    assert {reason: audit.get(upload_id, "rejected")["reason"] for reason, upload_id in uploads.items()} == {r: r for r in uploads}
    assert [i.error for i in runner.invocations[before:] if i.error] == []
    assert dead_letters(stack, sqs) == {"UploadsDeadLetterQueue": 0, "HashesDeadLetterQueue": 0, "TakedownDeadLetterQueue": 0}
    # Of the three, only the damaged picture is media: it is held, the others are not.
    assert [(m["message_type"], m["upload"]["upload_id"]) for m in messages(drain, observer)] == [("hashmatch.hold", uploads["corrupt"])]


def test_a_damaged_picture_is_held_quarantined_and_sent_to_review(stack, runner, s3, audit, observer, drain, upload):
    upload_id = upload("bad/cut short.jpg", image_bytes(textured(34, 640, 480), "JPEG")[:5000])

    runner.run_until_idle()

    [hold] = messages(drain, observer)
    assert (hold["action"], hold["reason"]) == ("hold", "corrupt")
    assert audit.get(upload_id, "cannot-check")["action"] == "hold"
    record = audit.get(upload_id, "takedown")
    assert record["outcome"] == "held"
    assert s3.head_object(Bucket=record["evidence"]["bucket"], Key=record["evidence"]["key"])["ContentLength"] == 5000
    assert s3.list_object_versions(Bucket=stack.ref("UploadsBucket"), Prefix="bad/cut short.jpg").get("Versions", []) == []
    reviews = [json.loads(envelope["Message"]) for envelope in drain(stack.ref("ReviewQueue"))]
    assert [review["hold_id"] for review in reviews if review["upload"]["upload_id"] == upload_id] == [hold["hold_id"]]


def test_a_message_that_keeps_failing_is_retried_then_dead_lettered(stack, runner, sqs, drain):
    notification = {"Records": [{"eventSource": "aws:s3", "eventTime": "2025-11-25T10:00:00.000Z", "eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "no-such-bucket-anywhere"}, "object": {"key": "x.jpg", "size": 10, "eTag": "00"}}}]}
    sqs.send_message(QueueUrl=stack.ref("UploadsQueue"), MessageBody=json.dumps(notification))
    before = len(runner.invocations)

    runner.run_until_idle()

    failures = [i for i in runner.invocations[before:] if i.function == "HashUploadFunction" and i.failed]
    assert len(failures) == MAX_RECEIVE_COUNT
    [dead] = drain(stack.ref("UploadsDeadLetterQueue"))
    assert dead == notification


def restore_as_the_restore_role(stack, upload_id: str, scope: str = "upload") -> dict:
    """A restore through RestoreUploadFunctionUrl, signed by the local restore role's session (as `hashmatch admin restore` does)."""
    from botocore.credentials import Credentials

    from hashmatch_tools.lookup_client import post_lookup

    restorer = stack.identity("restorer")
    body = {"upload_id": upload_id, "reason": "complaint upheld", "scope": scope}
    status, answer, _ = post_lookup(stack.output("RestoreUploadFunctionUrl"), body, Credentials(restorer.access_key, restorer.secret_key), stack.region)
    assert status == 200, answer
    return answer


def quarantined_copy(runner, audit, upload, key: str, jpeg: bytes) -> str:
    upload_id = upload(key, jpeg)
    runner.run_until_idle()
    assert audit.get(upload_id, "takedown")["outcome"] == "quarantined"
    return upload_id


def test_a_restored_upload_is_not_taken_down_again(stack, runner, s3, audit, observer, drain, upload, reference_picture):
    key = f"user uploads/restored-{uuid.uuid4().hex[:6]}.jpg"
    jpeg = image_bytes(textured(31, 640, 480), "JPEG", quality=80)
    upload_id = quarantined_copy(runner, audit, upload, key, jpeg)

    restored = restore_as_the_restore_role(stack, upload_id)
    runner.run_until_idle()

    assert s3.get_object(Bucket=stack.ref("UploadsBucket"), Key=key)["Body"].read() == jpeg
    assert audit.get(restored["restored_as"], "exempted")["reinstated"] == upload_id
    assert len(messages(drain, observer)) == 1  # the first upload's, none for the restored copy


def test_the_same_bytes_at_another_key_are_taken_down_after_an_upload_scoped_restore(stack, runner, audit, observer, drain, upload, reference_picture):
    jpeg = image_bytes(textured(31, 640, 480), "JPEG", quality=78)
    first = quarantined_copy(runner, audit, upload, f"user uploads/mine-{uuid.uuid4().hex[:6]}.jpg", jpeg)
    restore_as_the_restore_role(stack, first, scope="upload")
    runner.run_until_idle()

    elsewhere = upload(f"user uploads/someone else's-{uuid.uuid4().hex[:6]}.jpg", jpeg)
    runner.run_until_idle()

    assert audit.get(elsewhere, "takedown")["outcome"] == "quarantined"
    assert len(messages(drain, observer)) == 2  # the first upload's and the copy elsewhere's


def test_the_same_bytes_at_another_key_are_exempted_after_a_bytes_scoped_restore(stack, runner, audit, observer, drain, upload, reference_picture):
    jpeg = image_bytes(textured(31, 640, 480), "JPEG", quality=76)
    first = quarantined_copy(runner, audit, upload, f"user uploads/lawful-{uuid.uuid4().hex[:6]}.jpg", jpeg)
    restore_as_the_restore_role(stack, first, scope="bytes")
    runner.run_until_idle()

    elsewhere = upload(f"user uploads/lawful copy-{uuid.uuid4().hex[:6]}.jpg", jpeg)
    runner.run_until_idle()

    assert audit.get(elsewhere, "exempted")["reinstated"] == first
    assert audit.get(elsewhere, "takedown") is None
    assert len(messages(drain, observer)) == 1  # the first upload's only


def test_a_cropped_copy_of_a_reference_picture_is_caught_by_local_features_and_quarantined(runner, hash_set, audit, observer, drain, upload):
    picture = detailed(61, 1024, 768)
    reference = add_reference(hash_set, image_bytes(picture), label="known picture, cropped", source="tests")
    # 10 % off every side: PDQ no longer matches, the keypoints still do.
    h, w = picture.shape[:2]
    copy = np.ascontiguousarray(picture[h // 10 : h - h // 10, w // 10 : w - w // 10])
    try:
        upload_id = upload("user uploads/cropped.jpg", image_bytes(copy, "JPEG", quality=85))
        runner.run_until_idle()
    finally:
        hash_set.remove_reference(reference.reference_id)

    [message] = messages(drain, observer)
    validate(message)
    [entry] = message["matches"]
    assert (entry["reference_id"], entry["signal_type"], entry["distance"]) == (reference.reference_id, "orb", None)
    assert entry["inliers"] >= MIN_INLIERS
    assert audit.get(upload_id, "takedown")["outcome"] == "quarantined"


def test_a_hash_list_entry_matches_until_it_is_allowed_or_removed(stack, runner, hash_set, observer, drain, upload):
    # A shared list holds the PDQ hash of a picture; the platform has never seen the picture itself.
    known = image_bytes(detailed(77, 640, 480))
    listed = hash_media(known, role="reference").frames[0].pdq
    source = f"shared list {uuid.uuid4().hex[:6]}"
    hash_set.entries.import_entries(read_hash_list([f"{listed}\n"], source, HashListFormat.PDQ_LINES), action="quarantine")
    outcomes = []
    try:
        for step in ("listed", "allowed", "removed"):
            if step == "allowed":
                hash_set.entries.allow(ListedSignal.PDQ, listed, allowed_by="tests", reason="a false positive of this list")
            elif step == "removed":
                hash_set.entries.disallow(ListedSignal.PDQ, listed)
                hash_set.entries.remove(ListedSignal.PDQ, listed)
            upload(f"user uploads/listed-{step}.jpg", image_bytes(detailed(77, 640, 480), "JPEG", quality=80))
            runner.run_until_idle()
            outcomes.append((step, [m["matches"][0]["reference_id"] for m in messages(drain, observer)]))
    finally:
        hash_set.entries.disallow(ListedSignal.PDQ, listed)
        hash_set.entries.remove(ListedSignal.PDQ, listed)

    # Each change takes effect for the very next upload (the stack here checks the version on every batch).
    assert outcomes == [("listed", [f"pdq:{listed}"]), ("allowed", []), ("removed", [])]


def test_an_upload_whose_md5_is_listed_is_matched_exactly(runner, hash_set, observer, drain, upload):
    exact = image_bytes(textured(78, 320, 240), "JPEG", quality=90)
    listed = hashlib.md5(exact).hexdigest()
    hash_set.entries.add(HashListEntry(signal_type=ListedSignal.MD5, hash=listed, labels=("exact",), source="md5 list"), action="quarantine")
    try:
        upload("user uploads/exact copy.jpg", exact)
        runner.run_until_idle()
    finally:
        hash_set.entries.remove(ListedSignal.MD5, listed)

    [message] = messages(drain, observer)
    validate(message)
    assert [(m["reference_id"], m["signal_type"], m["distance"]) for m in message["matches"]] == [(f"md5:{listed}", "md5", 0)]


def test_a_hash_list_change_reaches_a_running_matcher_within_five_seconds(stack, runner, hash_set):
    # The matcher's hash set as deployed (the template's default refresh interval), the indexer
    # polled in the background as Lambda polls a stream: each change goes table -> stream ->
    # indexer -> snapshot manifest in S3 -> the matcher's next check.
    matcher = LiveHashSet(SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket")), hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, DEFAULT_REFRESH_SECONDS)
    value = uuid.uuid4().hex * 2
    source = f"freshness {value[:6]}"
    key = f"pdq:{value}"
    steps = (
        ("added", lambda: hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, source=source)), True),
        ("allowed", lambda: hash_set.entries.allow(ListedSignal.PDQ, value, allowed_by="tests", reason="false positive"), False),
        ("disallowed", lambda: hash_set.entries.disallow(ListedSignal.PDQ, value), True),
        ("removed", lambda: hash_set.entries.remove(ListedSignal.PDQ, value), False),
    )
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    matcher.get()
    seconds = {}
    runner.start(functions=["IndexHashSetFunction"])
    try:
        for step, change, present in steps:
            started = time.perf_counter()
            change()
            while (key in matcher.get()) != present and time.perf_counter() - started < 3 * FRESHNESS_SECONDS:
                time.sleep(0.02)
            seconds[step] = round(time.perf_counter() - started, 2)
    finally:
        runner.stop()
        hash_set.entries.disallow(ListedSignal.PDQ, value)
        hash_set.entries.remove(ListedSignal.PDQ, value)

    assert (key in matcher.get()) is False and matcher.source == "snapshot"
    assert max(seconds.values()) <= FRESHNESS_SECONDS, seconds
