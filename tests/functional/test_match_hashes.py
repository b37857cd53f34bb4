"""MatchHashesFunction fed events/match_hashes.json: hashes -> hash set -> verdict -> one SNS match message."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hashmatch_tools.made_media import detailed, image_bytes

from hashmatch.aws import hashes_queue
from hashmatch.messages import hashes as hash_messages
from hashmatch.clock import now
from hashmatch.aws.detail_pictures import DetailPicturesObject, StoredPicture, store_detail_pictures
from hashmatch.uploads import Upload
from hashmatch.matching.local_features.orb import MIN_INLIERS
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.model import DetailPicture, MediaHashes
from hashmatch_tools.references import add_reference

FUNCTION = "MatchHashesFunction"
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA = json.loads((SCHEMAS / "match-message.schema.json").read_text())
HASHES_SCHEMA = json.loads((SCHEMAS / "hashes-message.schema.json").read_text())


def body(event: dict) -> dict:
    return json.loads(event["Records"][0]["body"])


def with_body(event: dict, new_body: dict) -> dict:
    event = copy.deepcopy(event)
    event["Records"][0]["body"] = json.dumps(new_body)
    return event


@pytest.fixture
def load_event(load_event):
    """The events/ files, the match_hashes sample naming an upload version of this test's own: a match id is the upload and
    the references it matched (stable across deliveries), so a version another test's match was published for publishes
    nothing again (the matcher's idempotency)."""
    version = uuid.uuid4().hex

    def load(name: str) -> dict:
        event = load_event(name)
        if name != "match_hashes":
            return event
        request = body(event)
        upload = request["upload"]
        request["upload"] = {**upload, "version_id": version, "upload_id": Upload.object_id(upload["bucket"], upload["key"], version)}
        return with_body(event, request)

    return load


@pytest.fixture
def references(hash_set, index):
    """Add references from hashes (indexed, so the matcher has them); every one added is removed after the test."""
    added = []

    def add(hashes: dict, **fields):
        reference_hashes = MediaHashes.from_dict({**hashes, "role": "reference", "frames": [{k: v for k, v in f.items() if k != "variants"} for f in hashes["frames"]]})
        reference = hash_set.add_reference(reference_hashes, **{"label": "test reference", "source": "tests", **fields})
        added.append(reference.reference_id)
        index()
        return reference

    yield add
    for reference_id in added:
        hash_set.remove_reference(reference_id)
    index()


@pytest.fixture(scope="module")
def known_picture() -> np.ndarray:
    return detailed(41, 800, 600)


@pytest.fixture
def picture_reference(hash_set, known_picture, index):
    """A picture added as the operator adds one: PDQ frames and local features."""
    reference = add_reference(hash_set, image_bytes(known_picture), label="known picture", source="tests")
    index()
    yield reference
    hash_set.remove_reference(reference.reference_id)
    index()


def cropped(rgb: np.ndarray, share: float) -> np.ndarray:
    """`share` of the height and width cut from each side."""
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[int(h * share) : h - int(h * share), int(w * share) : w - int(w * share)])


def hashes_message_with_details(stack, upload_bytes: bytes, key: str) -> dict:
    """What the hasher sends for an upload: its hashes, and its detail pictures stored in the details bucket."""
    hashes = hash_media(upload_bytes, role="upload", extra_signals=())
    # Signed as the hasher: only it may write detail pictures (DetailsBucket's policy).
    stored = store_detail_pictures(stack.client("s3", "HashUploadFunction"), stack.ref("DetailsBucket"), hashes.sha256, [encode_detail_picture(p) for p in hashes.detail_pictures])
    upload = Upload.from_object(stack.ref("UploadsBucket"), key, etag=hashes.md5, size=len(upload_bytes))
    return hash_messages.HashesMessage(upload, hashes, now(), stored).to_dict()


def test_the_sample_event_is_a_hashes_message_as_the_schema_defines_it(load_event):
    jsonschema.validate(body(load_event("match_hashes")), HASHES_SCHEMA)


def test_matching_hashes_publish_one_schema_valid_message(runner, load_event, references, observer, drain):
    event = load_event("match_hashes")
    reference = references(body(event)["hashes"], label="known image", source="hash list A")

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    [envelope] = drain(observer)
    message = json.loads(envelope["Message"])
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)
    assert [(m["reference_id"], m["label"], m["source"], m["distance"]) for m in message["matches"]] == [(reference.reference_id, "known image", "hash list A", 0)]
    assert message["upload"]["key"] == "incoming/photo 01.jpg"


def test_the_same_upload_delivered_twice_is_published_once(runner, load_event, references, observer, drain):
    event = load_event("match_hashes")
    references(body(event)["hashes"], label="known image")

    first = runner.invoke(FUNCTION, event)
    again = runner.invoke(FUNCTION, event)

    assert first == again == {"batchItemFailures": []}
    [envelope] = drain(observer)
    assert json.loads(envelope["Message"])["upload"]["upload_id"] == body(event)["upload"]["upload_id"]


def test_a_redelivery_after_the_hash_set_changed_publishes_nothing_new(runner, load_event, references, hash_set, index, observer, drain):
    # The match id is the upload and the references it matched, not the hash set's version: a change elsewhere in the set
    # between two deliveries of the upload does not make a second match.
    event = load_event("match_hashes")
    references(body(event)["hashes"], label="known image")
    runner.invoke(FUNCTION, event)
    references(body(load_event("match_hashes"))["hashes"] | {"sha256": "ef" * 32, "frames": [{"timestamp": 0.0, "pdq": "12" * 32, "quality": 100}]}, label="unrelated")

    runner.invoke(FUNCTION, event)

    [envelope] = drain(observer)
    assert json.loads(envelope["Message"])["upload"]["upload_id"] == body(event)["upload"]["upload_id"]


def test_match_message_carries_label_action_and_media_kind_attributes(runner, load_event, references, observer, drain):
    event = load_event("match_hashes")
    references(body(event)["hashes"], label="known image")

    runner.invoke(FUNCTION, event)

    [envelope] = drain(observer)
    attributes = {name: value["Value"] for name, value in envelope["MessageAttributes"].items()}
    assert attributes == {"label": '["known image"]', "action": "quarantine", "media_kind": "image"}


def test_subscribers_filter_match_messages_by_label(stack, runner, load_event, references, drain):
    event = load_event("match_hashes")
    references(body(event)["hashes"], label="known image")
    wanted = stack.subscribe_queue("MatchTopic", "filter-wanted", filter_policy={"label": ["known image"]})
    other = stack.subscribe_queue("MatchTopic", "filter-other", filter_policy={"label": ["some other label"]})

    runner.invoke(FUNCTION, event)

    assert len(drain(wanted)) == 1
    assert drain(other) == []


def test_a_reference_marked_for_review_recommends_review(runner, load_event, references, observer, drain):
    event = load_event("match_hashes")
    references(body(event)["hashes"], action="review")

    runner.invoke(FUNCTION, event)

    [envelope] = drain(observer)
    assert json.loads(envelope["Message"])["action"] == "review"


def test_unmatched_hashes_publish_nothing_and_are_counted(runner, load_event, observer, drain, counted):
    result = runner.invoke(FUNCTION, load_event("match_hashes"))

    assert result == {"batchItemFailures": []}
    assert drain(observer) == []
    assert counted("UploadsUnmatched")


def test_hashes_too_large_for_a_message_travel_by_claim_check(stack, runner, load_event, references, observer, drain, monkeypatch):
    sample = body(load_event("match_hashes"))
    references(sample["hashes"])
    monkeypatch.setattr(hashes_queue, "INLINE_LIMIT", 100)
    queue = stack.ref("HashesQueue")
    drain(queue)
    sent = hashes_queue.HashesQueue(stack.client("sqs"), queue, stack.client("s3"), stack.ref("HashesBucket")).send(Upload.from_dict(sample["upload"]), MediaHashes.from_dict(sample["hashes"]))
    [queued] = drain(queue)

    runner.invoke(FUNCTION, with_body(load_event("match_hashes"), queued))

    jsonschema.validate(queued, HASHES_SCHEMA)
    assert queued["hashes"] is None and queued["hashes_location"] == sent["hashes_location"]
    assert len(drain(observer)) == 1


def test_a_malformed_hashes_message_fails_alone_in_its_batch(runner, load_event, references, observer, drain):
    event = load_event("match_hashes")
    references(body(event)["hashes"])
    broken_body = body(event)
    broken_body["hashes"]["frames"][0]["pdq"] = "not-a-pdq-hash"
    broken = with_body(event, broken_body)["Records"][0]
    broken["messageId"] = "broken-record"

    result = runner.invoke(FUNCTION, {"Records": [broken, event["Records"][0]]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-record"}]}
    assert len(drain(observer)) == 1


def test_bytes_reinstated_after_a_complaint_are_not_published(runner, load_event, references, audit, observer, drain):
    sample = body(load_event("match_hashes"))
    sample["hashes"]["sha256"] = "ab" * 32  # bytes of their own, so no other test sees the exemption
    references(sample["hashes"])
    audit.exempt("ab" * 32, reinstated="s3://earlier/upload", reason="complaint upheld", requested_by="tests")

    result = runner.invoke(FUNCTION, with_body(load_event("match_hashes"), sample))

    assert result == {"batchItemFailures": []}
    assert drain(observer) == []
    assert audit.get(sample["upload"]["upload_id"], "exempted")["reinstated"] == "s3://earlier/upload"


def test_a_cropped_upload_matches_by_local_features(stack, runner, load_event, picture_reference, known_picture, observer, drain):
    request = hashes_message_with_details(stack, image_bytes(cropped(known_picture, 0.1), "JPEG", quality=85), "incoming/cropped.jpg")

    result = runner.invoke(FUNCTION, with_body(load_event("match_hashes"), request))

    assert result == {"batchItemFailures": []}
    [envelope] = drain(observer)
    message = json.loads(envelope["Message"])
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)
    [entry] = message["matches"]
    assert (entry["reference_id"], entry["signal_type"], entry["distance"], entry["threshold"]) == (picture_reference.reference_id, "orb", None, MIN_INLIERS)
    assert entry["inliers"] >= MIN_INLIERS


def test_second_stage_runs_and_its_matches_are_counted(stack, runner, load_event, picture_reference, known_picture, observer, drain, counted):
    request = hashes_message_with_details(stack, image_bytes(cropped(known_picture, 0.1), "JPEG", quality=85), "incoming/cropped-counted.jpg")

    runner.invoke(FUNCTION, with_body(load_event("match_hashes"), request))

    drain(observer)
    assert counted("SecondStageRuns") and counted("OrbMatches")


def test_details_are_not_fetched_when_pdq_already_matched(stack, runner, load_event, references, picture_reference, observer, drain, counted):
    request = body(load_event("match_hashes"))
    references(request["hashes"])
    # Details at a key that holds nothing: reading them would fail the record.
    request["details"] = DetailPicturesObject(stack.ref("DetailsBucket"), "details/never-written.jpegs", (StoredPicture(0.0, 0, 1000),)).to_dict()

    result = runner.invoke(FUNCTION, with_body(load_event("match_hashes"), request))

    assert result == {"batchItemFailures": []}
    [envelope] = drain(observer)
    assert [m["signal_type"] for m in json.loads(envelope["Message"])["matches"]] == ["pdq"]
    assert counted("SecondStageRuns") == []


def test_details_that_cannot_be_read_fail_the_record_for_a_retry(stack, runner, load_event, picture_reference, observer, drain):
    request = body(load_event("match_hashes"))
    request["details"] = DetailPicturesObject(stack.ref("DetailsBucket"), "details/never-written.jpegs", (StoredPicture(0.0, 0, 1000),)).to_dict()
    event = with_body(load_event("match_hashes"), request)

    result = runner.invoke(FUNCTION, {"Records": event["Records"] + [{**load_event("match_hashes")["Records"][0], "messageId": "other"}]})

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert drain(observer) == []


def test_boxes_of_pictures_inside_a_detail_picture_travel_with_the_hashes_message(stack, load_event, drain):
    sample = body(load_event("match_hashes"))
    grey = np.full((480, 640), 90, np.uint8)
    hashes = MediaHashes.from_dict(sample["hashes"])
    picture = encode_detail_picture(DetailPicture(0.0, grey, ((0.05, 0.45, 0.55, 0.95),)))
    queue = stack.ref("HashesQueue")
    drain(queue)
    stored = store_detail_pictures(stack.client("s3", "HashUploadFunction"), stack.ref("DetailsBucket"), hashes.sha256, [picture])
    hashes_queue.HashesQueue(stack.client("sqs"), queue, stack.client("s3"), stack.ref("HashesBucket")).send(Upload.from_dict(sample["upload"]), hashes, stored)
    [queued] = drain(queue)

    received = hashes_queue.read_hashes_message(stack.client("s3"), queued)

    jsonschema.validate(queued, HASHES_SCHEMA)
    assert [picture.insets for picture in received.detail_pictures.pictures] == [((0.05, 0.45, 0.55, 0.95),)]
