"""TakeDownFunction fed events/take_down.json (a match message via SNS and SQS), and legal holds on its evidence (RestoreUploadFunction: test_restore_upload.py)."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hashmatch_tools.made_media import image_bytes, textured

from hashmatch.messages.models import MatchMessage
from hashmatch.aws.quarantine import Quarantine
from hashmatch.vocabulary import TakedownMode
from hashmatch.usecases.take_down import TakedownOutcome, take_down
from hashmatch.uploads import Upload

FUNCTION = "TakeDownFunction"


PICTURE = image_bytes(textured(21, 480, 360), "JPEG", quality=85)


@pytest.fixture(scope="module")
def picture() -> bytes:
    return PICTURE


@pytest.fixture
def evidence_bucket(stack):
    return stack.ref("EvidenceBucket")


@pytest.fixture
def uploaded(s3, bucket, picture):
    """A fresh object in the uploads bucket; returns its Upload (key, version)."""
    key = f"incoming/{uuid.uuid4().hex[:8]} clip.jpg"
    put = s3.put_object(Bucket=bucket, Key=key, Body=picture)
    return Upload.from_object(bucket, key, put["VersionId"], etag=put["ETag"].strip('"'), size=len(picture))


def match_message(event: dict) -> dict:
    return json.loads(json.loads(event["Records"][0]["body"])["Message"])


def with_message(event: dict, message: dict) -> dict:
    """The sample event carrying `message` as its match message."""
    event = copy.deepcopy(event)
    envelope = json.loads(event["Records"][0]["body"])
    envelope["Message"] = json.dumps(message)
    event["Records"][0]["body"] = json.dumps(envelope)
    return event


def naming(event: dict, upload: Upload, sha256: str = hashlib.sha256(PICTURE).hexdigest()) -> dict:
    """The sample event with its match message naming `upload` (by default the picture, as the hasher saw it)."""
    message = match_message(event)
    message["upload"].update(upload_id=upload.upload_id, bucket=upload.bucket, key=upload.key, version_id=upload.version_id, etag=upload.etag, size=upload.size, sha256=sha256)
    return with_message(event, message)


def test_match_message_moves_the_upload_into_the_evidence_bucket(runner, s3, evidence_bucket, uploaded, load_event, picture):
    result = runner.invoke(FUNCTION, naming(load_event("take_down"), uploaded))

    assert result == {"batchItemFailures": []}
    assert s3.list_object_versions(Bucket=uploaded.bucket, Prefix=uploaded.key).get("Versions", []) == []
    kept = s3.get_object(Bucket=evidence_bucket, Key=f"{uploaded.bucket}/{uploaded.version_id}/{uploaded.key}")
    assert kept["Body"].read() == picture
    assert kept["ServerSideEncryption"] == "AES256"


def test_takedown_writes_what_why_which_references_and_when(runner, audit, uploaded, load_event):
    event = naming(load_event("take_down"), uploaded)

    runner.invoke(FUNCTION, event)

    record = audit.get(uploaded.upload_id, "takedown")
    message = match_message(event)
    assert (record["bucket"], record["key"], record["version_id"]) == (uploaded.bucket, uploaded.key, uploaded.version_id)
    assert record["action"] == "quarantine" and record["match_id"] == message["match_id"]
    assert [r["reference_id"] for r in record["references"]] == [m["reference_id"] for m in message["matches"]]
    retain_until = datetime.fromisoformat(record["retain_until"])
    assert retain_until - datetime.now(timezone.utc) > timedelta(days=182)


def test_a_redelivered_match_message_changes_nothing(runner, s3, audit, evidence_bucket, uploaded, load_event, counted):
    event = naming(load_event("take_down"), uploaded)
    runner.invoke(FUNCTION, event)
    first = audit.get(uploaded.upload_id, "takedown")

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    assert audit.get(uploaded.upload_id, "takedown") == first
    versions = s3.list_object_versions(Bucket=evidence_bucket, Prefix=f"{uploaded.bucket}/{uploaded.version_id}/")["Versions"]
    assert len(versions) == 1
    assert counted("DuplicateMatchMessages")


def test_a_match_for_an_upload_already_deleted_is_recorded_as_gone(runner, s3, audit, uploaded, load_event):
    s3.delete_object(Bucket=uploaded.bucket, Key=uploaded.key, VersionId=uploaded.version_id)

    result = runner.invoke(FUNCTION, naming(load_event("take_down"), uploaded))

    assert result == {"batchItemFailures": []}
    assert audit.get(uploaded.upload_id, "gone")["stage"] == "takedown"


def test_a_message_naming_an_object_other_than_the_one_hashed_removes_nothing_and_is_recorded(runner, s3, audit, evidence_bucket, uploaded, load_event, counted):
    # A forged message: somebody's upload, named with the SHA-256 of known content.
    event = naming(load_event("take_down"), uploaded, sha256=hashlib.sha256(b"known content").hexdigest())

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    assert s3.head_object(Bucket=uploaded.bucket, Key=uploaded.key, VersionId=uploaded.version_id)["ContentLength"] == uploaded.size
    assert s3.list_objects_v2(Bucket=evidence_bucket, Prefix=f"{uploaded.bucket}/{uploaded.version_id}/").get("Contents", []) == []
    assert "SHA-256" in audit.get(uploaded.upload_id, "takedown-refused")["detail"]
    assert audit.get(uploaded.upload_id, "takedown") is None
    assert [blob["TakedownsRefused"] for blob in counted("TakedownsRefused")] == [[1.0]]


def test_a_malformed_match_message_fails_alone_in_its_batch(runner, s3, uploaded, load_event):
    good = naming(load_event("take_down"), uploaded)["Records"][0]
    message = match_message(load_event("take_down"))
    del message["match_id"]
    broken = {**with_message(load_event("take_down"), message)["Records"][0], "messageId": "broken-record"}

    result = runner.invoke(FUNCTION, {"Records": [broken, good]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "broken-record"}]}
    assert s3.list_object_versions(Bucket=uploaded.bucket, Prefix=uploaded.key).get("Versions", []) == []


def test_review_only_mode_records_the_match_and_leaves_the_upload(stack, s3, audit, uploaded, load_event):
    message = MatchMessage.model_validate(match_message(naming(load_event("take_down"), uploaded)))

    outcome = take_down(message, TakedownMode.REVIEW_ONLY, Quarantine(s3, stack.ref("EvidenceBucket")), audit)

    assert outcome == TakedownOutcome.REVIEW_ONLY
    assert s3.head_object(Bucket=uploaded.bucket, Key=uploaded.key, VersionId=uploaded.version_id)["ContentLength"] > 0
    assert audit.get(uploaded.upload_id, "review")["outcome"] == "review-only"
    assert audit.get(uploaded.upload_id, "takedown") is None


def test_a_hash_only_match_has_nothing_to_take_down(runner, load_event, counted):
    event = naming(load_event("take_down"), Upload("partner-request-17"))

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    assert counted("HashOnlyMatches")


def test_a_legal_hold_keeps_evidence_and_can_be_lifted(runner, stack, s3, audit, evidence_bucket, uploaded, load_event):
    from hashmatch_tools import admin

    runner.invoke(FUNCTION, naming(load_event("take_down"), uploaded))
    common = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--audit-table", stack.ref("AuditTable"), "--evidence-bucket", evidence_bucket]
    kept = audit.get(uploaded.upload_id, "takedown")["evidence"]

    held = admin.main([*common, "legal-hold", uploaded.upload_id])
    status_on = s3.get_object_legal_hold(Bucket=kept["bucket"], Key=kept["key"], VersionId=kept["version_id"])["LegalHold"]["Status"]
    lifted = admin.main([*common, "legal-hold", uploaded.upload_id, "--off"])
    status_off = s3.get_object_legal_hold(Bucket=kept["bucket"], Key=kept["key"], VersionId=kept["version_id"])["LegalHold"]["Status"]

    assert (held, status_on, lifted, status_off) == (0, "ON", 0, "OFF")


def test_a_legal_hold_on_an_upload_never_quarantined_is_refused(stack, evidence_bucket, capsys):
    from hashmatch_tools import admin

    common = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--audit-table", stack.ref("AuditTable"), "--evidence-bucket", evidence_bucket]

    assert admin.main([*common, "legal-hold", "s3://nowhere/never?versionId=1"]) == 2
    assert "no quarantine on record" in capsys.readouterr().err
