"""Retro-match over the local stack: a copy uploaded before its reference existed is found when the reference is added.

Upload -> hasher -> matcher (no match) -> upload hash log (Parquet in S3); then the reference is added ->
the hash-set table's stream -> RetroMatchFunction (DuckDB over the log) -> a match message marked
retroactive -> the takedown. This module has a stack of its own with retro-match on additions
(the shared one runs it only when asked), so no other test's uploads meet its references.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from hashmatch_tools.made_media import image_bytes, textured

from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch_tools.references import add_reference
from hashmatch_tools.local.runner import local_pipeline

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "match-message.schema.json").read_text())
KNOWN = textured(57, 640, 480)


@pytest.fixture(scope="module")
def retro_pipeline(handler_output):
    with local_pipeline(parameters={"HashSetRefreshSeconds": "0"}, log_stream=handler_output) as running:
        yield running


@pytest.fixture(scope="module")
def retro_stack(retro_pipeline):
    return retro_pipeline[0]


@pytest.fixture(scope="module")
def retro_runner(retro_pipeline):
    return retro_pipeline[1]


@pytest.fixture(scope="module")
def observed(retro_stack):
    """A queue subscribed to the match topic since before anything was uploaded."""
    return retro_stack.subscribe_queue("MatchTopic", "retro-observer")


def received(stack, queue_url: str) -> list[dict]:
    sqs, found = stack.client("sqs"), []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(json.loads(message["Body"])["Message"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture(scope="module")
def copy_then_reference(retro_stack, retro_runner, observed):
    """A JPEG copy and an unrelated picture uploaded while the hash set is empty; then the original added as a reference."""
    s3 = retro_stack.client("s3")
    bucket = retro_stack.ref("UploadsBucket")
    uploads = {}
    for key, picture in (("early/copy of known.jpg", KNOWN), ("early/unrelated.jpg", textured(58, 640, 480))):
        version = s3.put_object(Bucket=bucket, Key=key, Body=image_bytes(picture, "JPEG", quality=70))["VersionId"]
        uploads[key] = f"s3://{bucket}/{key}?versionId={version}"
    retro_runner.run_until_idle()
    before = received(retro_stack, observed)
    hash_set = HashSetTable(retro_stack.table("HashSetTable"), ReferenceFeaturesBucket(s3, retro_stack.ref("ReferenceFeaturesBucket")))
    reference = add_reference(hash_set, image_bytes(KNOWN), label="known picture", source="tests")
    retro_runner.run_until_idle()
    return {"uploads": uploads, "before": before, "after": received(retro_stack, observed), "reference": reference}


def test_nothing_is_published_while_the_hash_set_does_not_hold_the_picture(copy_then_reference):
    assert copy_then_reference["before"] == []


def test_adding_the_reference_publishes_one_retroactive_match_for_the_earlier_copy(copy_then_reference):
    [message] = copy_then_reference["after"]

    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(message)
    assert message["retroactive"] is True
    assert message["upload"]["upload_id"] == copy_then_reference["uploads"]["early/copy of known.jpg"]
    assert message["matches"][0]["reference_id"] == copy_then_reference["reference"].reference_id
    assert message["times"]["uploaded_at"] < message["times"]["matched_at"]


def test_the_takedown_acts_on_the_retroactive_match_unchanged(retro_stack, copy_then_reference):
    audit = AuditTable(retro_stack.table("AuditTable"))

    record = audit.get(copy_then_reference["uploads"]["early/copy of known.jpg"], "takedown")

    assert record["outcome"] == "quarantined" and record["retroactive"] is True
    assert audit.events(copy_then_reference["uploads"]["early/unrelated.jpg"]) == []


def test_running_the_retro_match_again_publishes_nothing_new(retro_stack, retro_runner, observed, copy_then_reference):
    result = retro_runner.invoke("RetroMatchFunction", {"references": [copy_then_reference["reference"].reference_id]})
    retro_runner.run_until_idle()

    assert result["published"] == [] and result["already_published"] == 1
    assert received(retro_stack, observed) == []


def test_a_copy_uploaded_after_the_reference_is_matched_live_not_retroactively(retro_stack, retro_runner, observed, copy_then_reference):
    s3 = retro_stack.client("s3")
    s3.put_object(Bucket=retro_stack.ref("UploadsBucket"), Key="late/copy.jpg", Body=image_bytes(KNOWN, "JPEG", quality=80))

    retro_runner.run_until_idle()

    [message] = received(retro_stack, observed)
    assert message["retroactive"] is False and message["upload"]["key"] == "late/copy.jpg"


def test_an_upload_matched_when_it_was_checked_is_not_published_again(retro_stack, retro_runner, observed, copy_then_reference):
    # late/copy.jpg (the test above) matched live; this run finds it in the log among the candidates.
    result = retro_runner.invoke("RetroMatchFunction", {"references": [copy_then_reference["reference"].reference_id]})

    assert result["skipped_matched_live"] == 1 and result["published"] == []
    assert received(retro_stack, observed) == []


def restore_as_the_restore_role(stack, upload_id: str, scope: str) -> dict:
    """A restore through RestoreUploadFunctionUrl, signed by the local restore role's session (as `hashmatch admin restore` does)."""
    from botocore.credentials import Credentials

    from hashmatch_tools.lookup_client import post_lookup

    restorer = stack.identity("restorer")
    body = {"upload_id": upload_id, "reason": "complaint upheld", "scope": scope}
    status, answer, _ = post_lookup(stack.output("RestoreUploadFunctionUrl"), body, Credentials(restorer.access_key, restorer.secret_key), stack.region)
    assert status == 200, answer
    return answer


def test_an_upload_restored_with_an_upload_scoped_exemption_is_not_taken_down_again_when_another_list_adds_its_content(retro_stack, retro_runner, observed, copy_then_reference):
    """The exemption an upheld complaint gave these bytes at this key holds for retro-match as it does for the live matcher."""
    from hashmatch.hash_set.lists import HashListEntry
    from hashmatch.vocabulary import ListedSignal
    from hashmatch.media.hashing import hash_media
    from hashmatch.vocabulary import Action, Role

    taken_down = copy_then_reference["uploads"]["early/copy of known.jpg"]
    restored = restore_as_the_restore_role(retro_stack, taken_down, scope="upload")
    retro_runner.run_until_idle()  # the restored object is checked live: matched, and exempted
    audit = AuditTable(retro_stack.table("AuditTable"))
    assert audit.get(restored["restored_as"], "exempted")["reinstated"] == taken_down
    received(retro_stack, observed)
    listed = hash_media(image_bytes(KNOWN), role=Role.REFERENCE).frames[0].pdq
    hash_set = HashSetTable(retro_stack.table("HashSetTable"))

    hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=listed, labels=("known picture",), source="another partner"), action=Action.QUARANTINE)
    retro_runner.run_until_idle()

    assert received(retro_stack, observed) == []
    assert audit.get(restored["restored_as"], "takedown") is None
