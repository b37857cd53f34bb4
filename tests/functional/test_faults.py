"""Faults injected at a handler's own client while the rest of the chain is the local stack: the failed record is
reported for redelivery, the rest of its batch is done, and the redelivery ends with exactly one outcome per upload.

A fault is a ClientError with AWS's error code, raised where the handler calls its boto3 client: what the
handler sees once botocore's own retries are spent. Everything else the handler calls goes to the stack.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections import Counter
from dataclasses import replace

import pytest
from tests.aws_fakes import client_error
from hashmatch_tools.made_media import image_bytes, textured

from hashmatch.usecases import check_upload as check_upload_usecase
from hashmatch.usecases import hash_upload as hash_upload_usecase
from hashmatch.uploads import Upload
from hashmatch.model import MediaHashes

HASHER, MATCHER, TAKEDOWN = "HashUploadFunction", "MatchHashesFunction", "TakeDownFunction"
# Every batch here holds three uploads, and the fault hits the second.
FAULTED = 1


class Fault:
    """Stands in for one client method: raises `error` for the calls `picks` chooses until cleared; every other call is the real one.

    `picks` gets the call's keyword arguments and the call's number (from 1), so a fault can aim at one upload or at the nth call.
    """

    def __init__(self, error: Exception, picks=lambda call, number: True):
        self.error, self.picks = error, picks
        self.real = None
        self.calls = 0
        self.raised = 0
        self.armed = True

    def inject(self, mocker, client, method: str) -> "Fault":
        self.real = getattr(client, method)
        mocker.patch.object(client, method, side_effect=self)
        return self

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.armed and self.picks(kwargs, self.calls):
            self.raised += 1
            raise self.error
        return self.real(*args, **kwargs)

    def clear(self) -> None:
        self.armed = False


def nth_call(n: int):
    return lambda call, number: number == n


class Crash(RuntimeError):
    """An unexpected failure in the handler's own code (not an SDK error)."""


class InvocationKilled(BaseException):
    """What ends an invocation out of time or memory: nothing in the handler catches it, so the whole batch comes back."""


def failed_ids(result: dict) -> list[str]:
    return [failure["itemIdentifier"] for failure in result["batchItemFailures"]]


def batch(*records: dict) -> dict:
    return {"Records": list(records)}


def redelivered(*records: dict) -> dict:
    """The records again, as the queue hands them out after their visibility timeout: received once more."""
    again = copy.deepcopy(list(records))
    for record in again:
        record["attributes"]["ApproximateReceiveCount"] = str(int(record["attributes"].get("ApproximateReceiveCount", "1")) + 1)
    return {"Records": again}


# ------------------------------------------------------------------ the hasher


@pytest.fixture(scope="module")
def pictures() -> list[bytes]:
    return [image_bytes(textured(90 + n, 320, 240), "JPEG", quality=85) for n in range(3)]


@pytest.fixture
def hashes_queue(stack, drain):
    url = stack.ref("HashesQueue")
    drain(url)
    return url


@pytest.fixture
def notified(s3, bucket, load_event, pictures):
    """Three pictures in the uploads bucket and the hasher's three records naming them (keys unique to the test)."""
    tag = uuid.uuid4().hex[:8]
    records = []
    for n, data in enumerate(pictures):
        key = f"faults/{tag}-{n}.jpg"
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        record = copy.deepcopy(load_event("hash_upload")["Records"][0])
        body = json.loads(record["body"])
        body["Records"][0]["s3"]["object"].update(key=key, eTag=hashlib.md5(data).hexdigest(), size=len(data))
        record.update(messageId=f"{tag}-{n}", body=json.dumps(body))
        records.append(record)
    return records


def key_of(record: dict) -> str:
    return json.loads(record["body"])["Records"][0]["s3"]["object"]["key"]


def hashed_keys(drain, queue: str) -> Counter:
    return Counter(message["upload"]["key"] for message in drain(queue))


@pytest.mark.parametrize("code, status", [("InternalError", 500), ("SlowDown", 503)])
def test_an_s3_read_error_fails_the_record_and_its_redelivery_hashes_it_once(runner, mocker, audit, bucket, hashes_queue, drain, notified, code, status):
    hasher = runner.module(HASHER)
    target = key_of(notified[FAULTED])
    fault = Fault(client_error(code, "GetObject", status), lambda call, number: call["Key"] == target).inject(mocker, hasher.s3, "get_object")

    result = runner.invoke(HASHER, batch(*notified))
    first = hashed_keys(drain, hashes_queue)
    fault.clear()
    again = runner.invoke(HASHER, redelivered(notified[FAULTED]))

    assert failed_ids(result) == [notified[FAULTED]["messageId"]] and fault.raised == 1
    assert first == Counter({key_of(notified[0]): 1, key_of(notified[2]): 1})
    assert failed_ids(again) == []
    assert hashed_keys(drain, hashes_queue) == Counter({target: 1})
    # A read error is not bad input: no rejected or gone record that would end the upload unchecked.
    assert [r for r in audit.events(f"s3://{bucket}/{target}") if r["event"] in ("rejected", "gone")] == []


def test_a_crash_while_hashing_holds_only_that_upload_at_its_first_delivery(runner, mocker, hashes_queue, drain, notified):
    # Hashing that raises is the bytes' doing (issue 27, failing closed): it would raise on every delivery, so the upload goes
    # on unchecked as failed at once instead of failing the record; the rest of the batch is hashed as usual.
    fault = Fault(Crash("simulated bug"), nth_call(2)).inject(mocker, hash_upload_usecase, "hash_media")

    result = runner.invoke(HASHER, batch(*notified))

    assert failed_ids(result) == [] and fault.raised == 1
    reasons = {message["upload"]["key"]: (message.get("unchecked") or {}).get("reason") for message in drain(hashes_queue)}
    assert reasons == {key_of(notified[0]): None, key_of(notified[FAULTED]): "failed", key_of(notified[2]): None}


# ------------------------------------------------------------------ the matcher


@pytest.fixture
def known_hashes(load_event, hash_set, index):
    """The sample event's hashes, added to the hash set as a reference (indexed, so the matcher has it), removed after the test."""
    sample = json.loads(load_event("match_hashes")["Records"][0]["body"])["hashes"]
    reference = hash_set.add_reference(
        MediaHashes.from_dict({**sample, "role": "reference", "frames": [{k: v for k, v in f.items() if k != "variants"} for f in sample["frames"]]}),
        label="known image (faults)",
        source="tests",
    )
    index()
    yield sample
    hash_set.remove_reference(reference.reference_id)
    index()


@pytest.fixture
def matching(load_event, known_hashes, bucket):
    """Three matcher records, each a hashes message of another upload of the known image (upload ids unique to the test)."""
    tag = uuid.uuid4().hex[:8]
    records = []
    for n in range(3):
        record = copy.deepcopy(load_event("match_hashes")["Records"][0])
        body = json.loads(record["body"])
        body["upload"] = Upload.from_object(bucket, f"faults/{tag}-{n}.jpg", etag=known_hashes["md5"], size=1000).to_dict()
        record.update(messageId=f"{tag}-{n}", body=json.dumps(body))
        records.append(record)
    return records


def upload_id_of(record: dict) -> str:
    return json.loads(record["body"])["upload"]["upload_id"]


def published(drain, observer) -> Counter:
    """Match messages the topic delivered, counted by upload."""
    return Counter(json.loads(envelope["Message"])["upload"]["upload_id"] for envelope in drain(observer))


def matched_records(audit, records: list[dict]) -> list[int]:
    """How many `matched` audit records each upload has (0 or 1: the table keeps one per upload and event)."""
    return [sum(r["event"] == "matched" for r in audit.events(upload_id_of(record))) for record in records]


def throttled_dynamodb(code: str, operation: str) -> Exception:
    return client_error(code, operation, 400, "Rate of requests exceeds the allowed throughput.")


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_audit_write_after_publishing_is_redelivered_and_publishes_nothing_more(runner, mocker, audit, observer, drain, matching, code):
    matcher = runner.module(MATCHER)
    target = upload_id_of(matching[FAULTED])
    fault = Fault(throttled_dynamodb(code, "PutItem"), lambda call, number: call["Item"]["upload_id"] == target).inject(mocker, matcher.checker.audit.table, "put_item")

    result = runner.invoke(MATCHER, batch(*matching))
    first = published(drain, observer)
    fault.clear()
    again = runner.invoke(MATCHER, redelivered(matching[FAULTED]))

    assert failed_ids(result) == [matching[FAULTED]["messageId"]]
    # The match was published before its record could be written; the redelivery finds it published.
    assert first == Counter({upload_id_of(r): 1 for r in matching})
    assert failed_ids(again) == [] and published(drain, observer) == Counter()
    assert matched_records(audit, matching) == [1, 1, 1]


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_a_throttled_idempotency_table_fails_the_record_before_anything_is_published(runner, mocker, audit, observer, drain, matching, code):
    matcher = runner.module(MATCHER)
    # One PutItem per record (its in-progress mark, keyed by a hash of the match id): the second is the second record's.
    fault = Fault(throttled_dynamodb(code, "PutItem"), nth_call(2)).inject(mocker, matcher.publisher.persistence.client, "put_item")

    result = runner.invoke(MATCHER, batch(*matching))
    first = published(drain, observer)
    fault.clear()
    again = runner.invoke(MATCHER, redelivered(matching[FAULTED]))

    assert failed_ids(result) == [matching[FAULTED]["messageId"]]
    assert first == Counter({upload_id_of(matching[0]): 1, upload_id_of(matching[2]): 1})
    assert failed_ids(again) == [] and published(drain, observer) == Counter({upload_id_of(matching[FAULTED]): 1})
    assert matched_records(audit, matching) == [1, 1, 1]


@pytest.mark.parametrize("code, status", [("InternalError", 500), ("Throttling", 400), ("KMSThrottling", 400)])
def test_an_sns_publish_error_fails_the_record_and_its_redelivery_publishes_once(runner, mocker, audit, observer, drain, matching, code, status):
    matcher = runner.module(MATCHER)
    target = upload_id_of(matching[FAULTED])
    fault = Fault(client_error(code, "Publish", status), lambda call, number: target in call["Message"]).inject(mocker, matcher.sns, "publish")

    result = runner.invoke(MATCHER, batch(*matching))
    first = published(drain, observer)
    unrecorded = matched_records(audit, matching)
    fault.clear()
    again = runner.invoke(MATCHER, redelivered(matching[FAULTED]))

    assert failed_ids(result) == [matching[FAULTED]["messageId"]] and fault.raised == 1
    assert first == Counter({upload_id_of(matching[0]): 1, upload_id_of(matching[2]): 1}) and unrecorded == [1, 0, 1]
    assert failed_ids(again) == [] and published(drain, observer) == Counter({target: 1})
    assert matched_records(audit, matching) == [1, 1, 1]


def test_a_crash_between_matching_and_publishing_fails_only_that_record(runner, mocker, audit, observer, drain, matching):
    matcher = runner.module(MATCHER)
    fault = Fault(Crash("simulated bug"), nth_call(2)).inject(mocker, check_upload_usecase, "match_message")

    result = runner.invoke(MATCHER, batch(*matching))
    first = published(drain, observer)
    fault.clear()
    again = runner.invoke(MATCHER, redelivered(matching[FAULTED]))

    assert failed_ids(result) == [matching[FAULTED]["messageId"]]
    assert first == Counter({upload_id_of(matching[0]): 1, upload_id_of(matching[2]): 1})
    assert failed_ids(again) == [] and published(drain, observer) == Counter({upload_id_of(matching[FAULTED]): 1})
    assert matched_records(audit, matching) == [1, 1, 1]


def test_a_batch_redelivered_whole_after_its_invocation_died_publishes_each_match_once(runner, mocker, audit, observer, drain, matching):
    matcher = runner.module(MATCHER)
    fault = Fault(InvocationKilled("out of time"), nth_call(2)).inject(mocker, check_upload_usecase, "match_message")

    with pytest.raises(InvocationKilled):
        runner.invoke(MATCHER, batch(*matching))
    first = published(drain, observer)
    fault.clear()
    # Lambda reports no item failures for a dead invocation: every record of the batch comes back.
    again = runner.invoke(MATCHER, redelivered(*matching))

    assert first == Counter({upload_id_of(matching[0]): 1})
    assert failed_ids(again) == []
    assert published(drain, observer) == Counter({upload_id_of(matching[1]): 1, upload_id_of(matching[2]): 1})
    assert matched_records(audit, matching) == [1, 1, 1]


def test_a_success_mark_that_cannot_be_written_lets_a_late_redelivery_publish_again_under_the_same_match_id(runner, mocker, audit, observer, drain, matching):
    # At-least-once, where it remains: SNS accepted the message, then the idempotency record could not be marked
    # done. Its in-progress mark lasts as long as the invocation had left (one second here, up to the function's
    # timeout in AWS); the queue redelivers after its visibility timeout (longer than the function's timeout), so
    # the redelivery publishes again. The copy carries the same match_id, and the takedown acts once per upload.
    import time

    matcher = runner.module(MATCHER)
    ordinary_context = runner.context
    mocker.patch.object(runner, "context", side_effect=lambda spec: replace(ordinary_context(spec), timeout=1))
    # One UpdateItem per record (its mark as done): the second is the second record's.
    fault = Fault(throttled_dynamodb("ProvisionedThroughputExceededException", "UpdateItem"), nth_call(2)).inject(mocker, matcher.publisher.persistence.client, "update_item")

    result = runner.invoke(MATCHER, batch(*matching))
    first = [json.loads(e["Message"]) for e in drain(observer)]
    fault.clear()
    time.sleep(1.2)
    again = runner.invoke(MATCHER, redelivered(matching[FAULTED]))
    second = [json.loads(e["Message"]) for e in drain(observer)]

    assert failed_ids(result) == [matching[FAULTED]["messageId"]] and failed_ids(again) == []
    target = upload_id_of(matching[FAULTED])
    assert [m["match_id"] for m in second] == [m["match_id"] for m in first if m["upload"]["upload_id"] == target]
    assert matched_records(audit, matching) == [1, 1, 1]


# ------------------------------------------------------------------ the takedown


@pytest.fixture
def evidence_bucket(stack):
    return stack.ref("EvidenceBucket")


@pytest.fixture
def matched_uploads(s3, bucket, load_event, pictures):
    """Three pictures in the uploads bucket and the takedown's three records: match messages naming each, as the matcher sends them."""
    tag = uuid.uuid4().hex[:8]
    uploads, records = [], []
    for n, data in enumerate(pictures):
        key = f"faults/{tag}-{n}.jpg"
        put = s3.put_object(Bucket=bucket, Key=key, Body=data)
        upload = Upload.from_object(bucket, key, put["VersionId"], etag=put["ETag"].strip('"'), size=len(data))
        record = copy.deepcopy(load_event("take_down")["Records"][0])
        envelope = json.loads(record["body"])
        message = json.loads(envelope["Message"])
        message["match_id"] = str(uuid.uuid4())
        message["upload"].update(upload_id=upload.upload_id, bucket=bucket, key=key, version_id=upload.version_id, etag=upload.etag, size=upload.size, sha256=hashlib.sha256(data).hexdigest())
        envelope["Message"] = json.dumps(message)
        record.update(messageId=f"{tag}-{n}", body=json.dumps(envelope))
        uploads.append(upload)
        records.append(record)
    return uploads, records


def evidence_copies(s3, evidence_bucket: str, upload: Upload) -> int:
    return len(s3.list_object_versions(Bucket=evidence_bucket, Prefix=f"{upload.bucket}/{upload.version_id}/").get("Versions", []))


def still_up(s3, upload: Upload) -> bool:
    return bool(s3.list_object_versions(Bucket=upload.bucket, Prefix=upload.key).get("Versions", []))


def test_a_failed_evidence_copy_fails_the_record_and_its_redelivery_quarantines_once(runner, mocker, s3, audit, evidence_bucket, matched_uploads):
    uploads, records = matched_uploads
    takedown = runner.module(TAKEDOWN)
    target = uploads[FAULTED].key
    fault = Fault(client_error("InternalError", "CopyObject", 500), lambda call, number: call["CopySource"]["Key"] == target).inject(mocker, takedown.quarantine.s3, "copy_object")

    result = runner.invoke(TAKEDOWN, batch(*records))
    first = [(evidence_copies(s3, evidence_bucket, u), still_up(s3, u), audit.get(u.upload_id, "takedown") is not None) for u in uploads]
    fault.clear()
    again = runner.invoke(TAKEDOWN, redelivered(records[FAULTED]))

    assert failed_ids(result) == [records[FAULTED]["messageId"]]
    assert first == [(1, False, True), (0, True, False), (1, False, True)]
    assert failed_ids(again) == []
    assert [(evidence_copies(s3, evidence_bucket, u), still_up(s3, u), audit.get(u.upload_id, "takedown")["outcome"]) for u in uploads] == [(1, False, "quarantined")] * 3


def test_a_failed_removal_after_the_copy_is_finished_by_the_redelivery_without_a_second_copy(runner, mocker, s3, audit, evidence_bucket, matched_uploads):
    uploads, records = matched_uploads
    takedown = runner.module(TAKEDOWN)
    target = uploads[FAULTED].key
    fault = Fault(client_error("SlowDown", "DeleteObject", 503), lambda call, number: call["Key"] == target).inject(mocker, takedown.quarantine.s3, "delete_object")

    result = runner.invoke(TAKEDOWN, batch(*records))
    first = (evidence_copies(s3, evidence_bucket, uploads[FAULTED]), still_up(s3, uploads[FAULTED]))
    fault.clear()
    again = runner.invoke(TAKEDOWN, redelivered(records[FAULTED]))

    assert failed_ids(result) == [records[FAULTED]["messageId"]] and first == (1, True)
    assert failed_ids(again) == []
    assert [(evidence_copies(s3, evidence_bucket, u), still_up(s3, u), audit.get(u.upload_id, "takedown")["outcome"]) for u in uploads] == [(1, False, "quarantined")] * 3
