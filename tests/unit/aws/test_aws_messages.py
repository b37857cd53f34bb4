"""The messages on AWS: the Lambda envelopes around them (SQS, SNS) and the hashes queue's claim check in S3 (moto).

The models themselves and the schemas they generate are tested in tests/unit/test_messages.py.
"""

from __future__ import annotations

import copy
import json

import pytest
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.envelopes import SnsSqsEnvelope
from pydantic import ValidationError

from tests.aws_moto import s3_client, template_bucket
from hashmatch.aws.envelopes import MatchMessageRecord
from hashmatch.aws.hashes_queue import read_hashes_message
from hashmatch.aws.upload_objects import upload_of_s3_record
from hashmatch.messages.building import hold_message
from hashmatch.messages.hashes import HashesMessage, Unchecked
from hashmatch.messages.models import HoldMessage, MatchMessage
from hashmatch.model import MediaHashes
from hashmatch.uploads import Upload
from hashmatch.vocabulary import CannotCheckReason
from tests.samples import event, sample_hashes_message, sample_match_message

HASHES = "hashes"
SHA256 = "a" * 64


def unchecked_request() -> HashesMessage:
    upload = Upload.from_object("uploads", "clip.mp4", "v1", etag="e" * 32, size=9, uploader="AWS:AIDAEXAMPLE", source_ip="198.51.100.7")
    return HashesMessage(upload, None, "2026-12-05T08:00:00.000+00:00", unchecked=Unchecked(CannotCheckReason.OVERSIZED, "over the limit", SHA256))


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "HashesBucket", HASHES)
    return client


# ------------------------------------------------------------------ the envelopes: SNS through SQS


def test_the_take_down_sample_event_parses_record_by_record_to_its_match_message():
    [record] = event("take_down")["Records"]

    parsed = MatchMessageRecord.model_validate(record)

    assert parsed.body.Message == MatchMessage.model_validate(sample_match_message())
    assert parsed.body.Message.upload.key == "incoming/photo 01.jpg"


def test_the_take_down_sample_event_parses_through_powertools_sns_sqs_envelope():
    [message] = parse(event=event("take_down"), model=MatchMessage, envelope=SnsSqsEnvelope)

    assert message.match_id == sample_match_message()["match_id"]


def test_a_hold_message_reaches_the_takedown_through_the_same_record_model_as_a_match():
    record = copy.deepcopy(event("take_down")["Records"][0])
    envelope = json.loads(record["body"])
    envelope["Message"] = hold_message(unchecked_request(), "oversized", "over the limit").model_dump_json()
    record["body"] = json.dumps(envelope)

    parsed = MatchMessageRecord.model_validate(record).body.Message

    assert isinstance(parsed, HoldMessage) and parsed.match_id == parsed.hold_id


# ------------------------------------------------------------------ reading a hashes message


def test_reading_a_hashes_message_gives_the_hashes_it_carries(s3):
    sample = sample_hashes_message()

    received = read_hashes_message(s3, json.dumps(sample))

    assert received.hashes == MediaHashes.from_dict(sample["hashes"])
    assert received.upload == Upload.from_dict(sample["upload"])
    assert (received.hashed_at, received.detail_pictures) == (sample["hashed_at"], None)


def test_claim_checked_hashes_are_read_from_s3(s3):
    sample = sample_hashes_message()
    s3.put_object(Bucket=HASHES, Key="uploads/x.json", Body=json.dumps(sample["hashes"]).encode())

    received = read_hashes_message(s3, {**sample, "hashes": None, "hashes_location": {"bucket": HASHES, "key": "uploads/x.json"}})

    assert received.hashes == MediaHashes.from_dict(sample["hashes"])


def test_malformed_claim_checked_hashes_are_refused(s3):
    sample = sample_hashes_message()
    broken = copy.deepcopy(sample["hashes"])
    broken["frames"][0]["quality"] = 101
    s3.put_object(Bucket=HASHES, Key="uploads/x.json", Body=json.dumps(broken).encode())

    with pytest.raises(ValidationError):
        read_hashes_message(s3, {**sample, "hashes": None, "hashes_location": {"bucket": HASHES, "key": "uploads/x.json"}})


def test_an_unchecked_hashes_message_reads_back_with_its_reason_and_digest(s3):
    sent = unchecked_request().to_dict()

    read = read_hashes_message(s3, json.dumps(sent))

    assert (read.hashes, read.unchecked.reason, read.unchecked.sha256) == (None, "oversized", SHA256)


# ------------------------------------------------------------------ the upload named by the S3 event


def test_the_upload_keeps_who_uploaded_it_from_the_s3_event():
    notification = json.loads(event("hash_upload")["Records"][0]["body"])["Records"][0]

    upload = upload_of_s3_record(S3EventRecord(notification))

    assert (upload.uploader, upload.source_ip) == ("AWS:AIDAEXAMPLE", "198.51.100.7")
