"""MatchHashesFunction fed events/match_hashes.json: hashes -> hash set -> verdict -> one SNS match message."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from hashmatch.aws import hash_messages
from hashmatch.aws.uploads import Upload
from hashmatch.hashing import MediaHashes

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
def references(hash_set):
    """Add references from hashes; every one added is removed after the test."""
    added = []

    def add(hashes: dict, **fields):
        reference_hashes = MediaHashes.from_dict({**hashes, "role": "reference", "frames": [{k: v for k, v in f.items() if k != "variants"} for f in hashes["frames"]]})
        reference = hash_set.add_reference(reference_hashes, **{"label": "test reference", "source": "tests", **fields})
        added.append(reference.reference_id)
        return reference

    yield add
    for reference_id in added:
        hash_set.remove_reference(reference_id)


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
    monkeypatch.setattr(hash_messages, "INLINE_LIMIT", 100)
    queue = stack.ref("HashesQueue")
    drain(queue)
    sent = hash_messages.send_hashes(stack.client("sqs"), queue, stack.client("s3"), stack.ref("HashesBucket"), Upload.from_dict(sample["upload"]), MediaHashes.from_dict(sample["hashes"]))
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
