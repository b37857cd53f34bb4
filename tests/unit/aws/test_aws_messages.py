"""The message models checked against schemas/ and events/: what the schema refuses the model refuses, what the pipeline sends both accept."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import SnsSqsEnvelope
from pydantic import ValidationError

from tests.aws_fakes import FakeS3
from hashmatch.aws.hashes_queue import read_hashes_message
from hashmatch.messages.hashes import HashesMessage
from hashmatch.aws.hash_set.table import Reference
from hashmatch.matching.assembly import KnownItemMatch
from hashmatch.messages.building import match_message
from hashmatch.aws.envelopes import MatchMessageRecord
from hashmatch.messages.models import ActionValue, HashesMessageModel, MatchMessage, MediaKindValue, RestoreRequest, StageValue
from hashmatch.aws.upload_objects import upload_of_s3_record
from hashmatch.uploads import Upload
from hashmatch.model import MediaHashes
from hashmatch.matching.verdict import Verdict
from hashmatch.vocabulary import Action, Stage

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"
MATCH_SCHEMA = json.loads((ROOT / "schemas" / "match-message.schema.json").read_text())
HASHES_SCHEMA = json.loads((ROOT / "schemas" / "hashes-message.schema.json").read_text())
RESTORE_SCHEMA = json.loads((ROOT / "schemas" / "restore-request.schema.json").read_text())
HASHES = "hashes"
MATCH_ID = "3f2504e0-4f89-5d3a-9a0c-0305e82c3301"


def event(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def sample_match_message() -> dict:
    """The match message inside events/take_down.json (SQS record -> SNS notification -> Message)."""
    return json.loads(json.loads(event("take_down")["Records"][0]["body"])["Message"])


def sample_hashes_message() -> dict:
    return json.loads(event("match_hashes")["Records"][0]["body"])


def schema_errors(message: dict, schema: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [error.message for error in validator.iter_errors(message)]


def assert_refused_by_schema_and_model(message: dict, schema: dict, model) -> None:
    assert schema_errors(message, schema), "the schema accepts it: not a case for the model"
    with pytest.raises(ValidationError):
        model.model_validate_json(json.dumps(message))


def reference(action: Action = Action.QUARANTINE) -> Reference:
    return Reference("ref-1", "known image", "hash list A", action, "pdq", "image", 0.0, 1, "cd" * 32, "2025-11-25T09:00:00+00:00")


def pdq_verdict() -> Verdict:
    return Verdict(True, 100.0, 100.0, 1, 1, [0.0], [0.0], 4, Stage.PDQ, threshold=31)


def orb_verdict() -> Verdict:
    return Verdict(True, 100.0, 100.0, 1, 1, [0.0], [0.0], None, Stage.LOCAL_FEATURES, 287, threshold=30)


def request() -> HashesMessage:
    sample = sample_hashes_message()
    return HashesMessage(Upload.from_dict(sample["upload"]), MediaHashes.from_dict(sample["hashes"]), sample["hashed_at"])


# ------------------------------------------------------------------ events/ parse through the models


def test_the_take_down_sample_event_parses_record_by_record_to_its_match_message():
    [record] = event("take_down")["Records"]

    parsed = MatchMessageRecord.model_validate(record)

    assert parsed.body.Message == MatchMessage.model_validate(sample_match_message())
    assert parsed.body.Message.upload.key == "incoming/photo 01.jpg"


def test_the_take_down_sample_event_parses_through_powertools_sns_sqs_envelope():
    [message] = parse(event=event("take_down"), model=MatchMessage, envelope=SnsSqsEnvelope)

    assert message.match_id == sample_match_message()["match_id"]


def test_the_match_hashes_sample_event_parses_as_a_hashes_message():
    message = HashesMessageModel.model_validate_json(event("match_hashes")["Records"][0]["body"])

    assert message.upload.key == "incoming/photo 01.jpg" and len(message.hashes.frames) == 1


def sample_restore_call() -> tuple[dict, str]:
    """The body of events/restore_upload.json (a function URL request) and the ARN that signed it."""
    sample = event("restore_upload")
    return json.loads(sample["body"]), sample["requestContext"]["authorizer"]["iam"]["userArn"]


def test_the_restore_upload_sample_event_parses_as_a_restore_request_by_its_signer():
    body, signer = sample_restore_call()

    request = RestoreRequest.from_call(body, signer)

    assert (request.requested_by, request.scope) == ("arn:aws:sts::123456789012:assumed-role/hashmatch-restorer/reviewer@example.org", "upload")


# ------------------------------------------------------------------ model-built messages are what the schema defines


def test_a_model_built_pdq_match_message_is_valid_against_the_schema():
    message = match_message(request(), [KnownItemMatch(reference(), pdq_verdict())], MATCH_ID)

    assert schema_errors(json.loads(message.model_dump_json()), MATCH_SCHEMA) == []


def test_a_model_built_orb_match_message_is_valid_against_the_schema():
    message = match_message(request(), [KnownItemMatch(reference(), orb_verdict())], MATCH_ID)

    published = json.loads(message.model_dump_json())
    assert schema_errors(published, MATCH_SCHEMA) == []
    assert (published["matches"][0]["signal_type"], published["matches"][0]["distance"]) == ("orb", None)


def test_a_model_built_match_message_keeps_the_enums_values():
    message = match_message(request(), [KnownItemMatch(reference(Action.REVIEW), pdq_verdict())], MATCH_ID)

    published = json.loads(message.model_dump_json())
    assert (published["action"], published["matches"][0]["action"], published["matches"][0]["signal_type"], published["media"]["kind"]) == ("review", "review", "pdq", "image")


def test_the_sample_match_message_reads_back_as_the_same_json():
    sample = sample_match_message()

    assert MatchMessage.model_validate(sample).model_dump_json() == json.dumps(sample, separators=(",", ":"))


def test_a_match_message_without_matches_is_not_built():
    with pytest.raises(ValidationError):
        match_message(request(), [], MATCH_ID)


# ------------------------------------------------------------------ what the schema refuses, the model refuses


def test_a_match_message_without_match_id_is_refused():
    message = sample_match_message()
    del message["match_id"]

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_id_that_is_not_a_uuid_is_refused():
    message = {**sample_match_message(), "match_id": "match-17"}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_with_an_unknown_action_is_refused():
    message = {**sample_match_message(), "action": "delete"}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_of_another_version_is_refused():
    message = {**sample_match_message(), "message_version": 1}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_with_a_field_the_schema_does_not_define_is_refused():
    message = sample_match_message()
    message["upload"]["owner"] = "someone"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_message_without_matches_is_refused():
    message = {**sample_match_message(), "matches": []}

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_match_with_an_unknown_signal_type_is_refused():
    message = sample_match_message()
    message["matches"][0]["signal_type"] = "phash"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_orb_match_with_a_distance_is_refused():
    message = sample_match_message()
    message["matches"][0].update(signal_type="orb", distance=4, inliers=287)

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_pdq_match_with_inliers_is_refused():
    message = sample_match_message()
    message["matches"][0]["inliers"] = 40

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_distance_written_as_a_string_is_refused():
    message = sample_match_message()
    message["matches"][0]["distance"] = "4"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_percentage_over_100_is_refused():
    message = sample_match_message()
    message["matches"][0]["query_match_percent"] = 100.5

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_an_upload_sha256_that_is_not_hex_is_refused():
    message = sample_match_message()
    message["upload"]["sha256"] = "not-a-digest"

    assert_refused_by_schema_and_model(message, MATCH_SCHEMA, MatchMessage)


def test_a_hashes_message_with_a_malformed_pdq_hash_is_refused():
    message = sample_hashes_message()
    message["hashes"]["frames"][0]["pdq"] = "not-a-pdq-hash"

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_null_hashes_and_no_location_is_refused():
    message = {**sample_hashes_message(), "hashes": None}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_without_upload_id_is_refused():
    message = sample_hashes_message()
    del message["upload"]["upload_id"]

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_a_message_of_another_type_is_not_read_as_hashes():
    message = {**sample_hashes_message(), "message_type": "hashmatch.match"}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_details_with_more_than_16_pictures_are_refused():
    message = {**sample_hashes_message(), "details": {"bucket": "details", "key": "details/x.jpegs", "pictures": [{"timestamp": 0.0, "offset": 0, "length": 1}] * 17}}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


def test_an_inset_that_is_not_four_shares_is_refused():
    picture = {"timestamp": 0.0, "offset": 0, "length": 10, "insets": [[0.1, 0.5, 0.2]]}
    message = {**sample_hashes_message(), "details": {"bucket": "details", "key": "details/x.jpegs", "pictures": [picture]}}

    assert_refused_by_schema_and_model(message, HASHES_SCHEMA, HashesMessageModel)


# ------------------------------------------------------------------ reading a hashes message


def test_reading_a_hashes_message_gives_the_hashes_it_carries():
    sample = sample_hashes_message()

    received = read_hashes_message(FakeS3(), json.dumps(sample))

    assert received.hashes == MediaHashes.from_dict(sample["hashes"])
    assert received.upload == Upload.from_dict(sample["upload"])
    assert (received.hashed_at, received.detail_pictures) == (sample["hashed_at"], None)


def test_claim_checked_hashes_are_read_from_s3():
    sample = sample_hashes_message()
    s3 = FakeS3()
    s3.add_bucket(HASHES, versioned=False)
    s3.put_object(Bucket=HASHES, Key="uploads/x.json", Body=json.dumps(sample["hashes"]).encode())

    received = read_hashes_message(s3, {**sample, "hashes": None, "hashes_location": {"bucket": HASHES, "key": "uploads/x.json"}})

    assert received.hashes == MediaHashes.from_dict(sample["hashes"])


def test_malformed_claim_checked_hashes_are_refused():
    sample = sample_hashes_message()
    broken = copy.deepcopy(sample["hashes"])
    broken["frames"][0]["quality"] = 101
    s3 = FakeS3()
    s3.add_bucket(HASHES, versioned=False)
    s3.put_object(Bucket=HASHES, Key="uploads/x.json", Body=json.dumps(broken).encode())

    with pytest.raises(ValidationError):
        read_hashes_message(s3, {**sample, "hashes": None, "hashes_location": {"bucket": HASHES, "key": "uploads/x.json"}})


# ------------------------------------------------------------------ the restore request


def test_the_restore_upload_sample_body_is_valid_against_the_schema():
    body, _ = sample_restore_call()

    assert schema_errors(body, RESTORE_SCHEMA) == []


def test_a_restore_request_with_an_empty_reason_is_refused():
    body, signer = sample_restore_call()

    with pytest.raises(ValidationError, match="reason"):
        RestoreRequest.from_call({**body, "reason": ""}, signer)


def test_a_restore_request_without_a_signer_is_refused():
    body, _ = sample_restore_call()

    with pytest.raises(ValidationError, match="requested_by"):
        RestoreRequest.from_call(body, "")


def test_a_restore_body_naming_its_own_requester_is_refused_by_schema_and_model():
    body, signer = sample_restore_call()
    forged = {**body, "requested_by": "someone-else"}

    assert schema_errors(forged, RESTORE_SCHEMA)
    with pytest.raises(ValueError, match="requested_by"):
        RestoreRequest.from_call(forged, signer)


def test_a_restore_request_of_an_unknown_scope_is_refused_by_schema_and_model():
    body, signer = sample_restore_call()
    wide = {**body, "scope": "uploader"}

    assert schema_errors(wide, RESTORE_SCHEMA)
    with pytest.raises(ValidationError, match="scope"):
        RestoreRequest.from_call(wide, signer)


def test_a_restore_request_without_a_scope_exempts_the_upload_only():
    body, signer = sample_restore_call()
    del body["scope"]

    assert RestoreRequest.from_call(body, signer).scope == "upload"


def test_the_restore_schema_and_model_name_the_audit_logs_exemption_scopes():
    from hashmatch.audit import ExemptionScope

    scopes = {scope.value for scope in ExemptionScope}
    assert set(RESTORE_SCHEMA["properties"]["scope"]["enum"]) == scopes == set(get_args(RestoreRequest.model_fields["scope"].annotation))


# ------------------------------------------------------------------ closed sets: hashmatch.vocabulary and the schemas


def test_the_message_schemas_name_the_same_closed_sets():
    match = MATCH_SCHEMA
    assert set(match["$defs"]["action"]["enum"]) == set(get_args(ActionValue))
    assert set(match["properties"]["matches"]["items"]["properties"]["signal_type"]["enum"]) == set(get_args(StageValue))
    assert set(match["properties"]["media"]["properties"]["kind"]["enum"]) == set(get_args(MediaKindValue))


def test_the_published_match_message_version_is_one_the_schema_and_the_takedown_accept():
    assert MATCH_SCHEMA["properties"]["message_version"]["enum"][-1] == match_message(request(), [KnownItemMatch(reference(), pdq_verdict())], MATCH_ID).message_version


def test_an_exact_digest_match_needs_distance_zero():
    message = sample_match_message()
    message["matches"][0].update(signal_type="md5", distance=3, inliers=None)

    with pytest.raises(ValidationError, match="distance 0"):
        MatchMessage.model_validate(message)


def test_a_hashes_message_with_an_uppercase_digest_is_refused_at_the_edge():
    body = sample_hashes_message()
    body["hashes"]["md5"] = body["hashes"]["md5"].upper()

    with pytest.raises(ValidationError):
        HashesMessageModel.model_validate(body)


# ------------------------------------------------------------------ uploads that cannot be checked

HOLD_SCHEMA = json.loads((ROOT / "schemas" / "hold-message.schema.json").read_text())
SHA256 = "a" * 64


def unchecked_request(reason: str = "oversized") -> HashesMessage:
    from hashmatch.messages.hashes import Unchecked
    from hashmatch.vocabulary import CannotCheckReason

    upload = Upload.from_object("uploads", "clip.mp4", "v1", etag="e" * 32, size=9, uploader="AWS:AIDAEXAMPLE", source_ip="198.51.100.7")
    return HashesMessage(upload, None, "2026-12-05T08:00:00.000+00:00", unchecked=Unchecked(CannotCheckReason(reason), "over the limit", SHA256))


def test_an_unchecked_hashes_message_is_valid_against_the_schema_and_reads_back():
    sent = unchecked_request().to_dict()

    assert schema_errors(sent, HASHES_SCHEMA) == []
    read = read_hashes_message(FakeS3(), json.dumps(sent))
    assert (read.hashes, read.unchecked.reason, read.unchecked.sha256) == (None, "oversized", SHA256)


def test_an_unchecked_message_without_the_objects_sha256_is_refused_by_schema_and_model():
    sent = unchecked_request().to_dict()
    del sent["unchecked"]["sha256"]

    assert_refused_by_schema_and_model(sent, HASHES_SCHEMA, HashesMessageModel)


def test_a_hashes_message_with_neither_hashes_nor_a_reason_is_refused_by_schema_and_model():
    sent = unchecked_request().to_dict()
    del sent["unchecked"]

    assert_refused_by_schema_and_model(sent, HASHES_SCHEMA, HashesMessageModel)


def test_a_model_built_hold_message_is_valid_against_the_schema_and_keeps_the_uploader():
    from hashmatch.messages.building import hold_message

    hold = json.loads(hold_message(unchecked_request(), "oversized", "over the limit").model_dump_json())

    assert schema_errors(hold, HOLD_SCHEMA) == []
    assert (hold["action"], hold["upload"]["sha256"], hold["upload"]["uploader"]) == ("hold", SHA256, "AWS:AIDAEXAMPLE")


def test_a_hold_message_reaches_the_takedown_through_the_same_record_model_as_a_match():
    from hashmatch.messages.building import hold_message
    from hashmatch.messages.models import HoldMessage

    record = copy.deepcopy(event("take_down")["Records"][0])
    envelope = json.loads(record["body"])
    envelope["Message"] = hold_message(unchecked_request(), "oversized", "over the limit").model_dump_json()
    record["body"] = json.dumps(envelope)

    parsed = MatchMessageRecord.model_validate(record).body.Message

    assert isinstance(parsed, HoldMessage) and parsed.match_id == parsed.hold_id


def test_a_hold_message_of_an_unknown_reason_is_refused_by_schema_and_model():
    from hashmatch.messages.building import hold_message
    from hashmatch.messages.models import HoldMessage

    hold = json.loads(hold_message(unchecked_request(), "oversized", "over the limit").model_dump_json())
    hold["reason"] = "tired"

    assert_refused_by_schema_and_model(hold, HOLD_SCHEMA, HoldMessage)


def test_the_upload_keeps_who_uploaded_it_from_the_s3_event():
    from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

    notification = json.loads(event("hash_upload")["Records"][0]["body"])["Records"][0]

    upload = upload_of_s3_record(S3EventRecord(notification))

    assert (upload.uploader, upload.source_ip) == ("AWS:AIDAEXAMPLE", "198.51.100.7")
