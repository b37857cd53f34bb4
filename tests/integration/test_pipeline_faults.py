"""Faults over the whole chain with the queues' own redelivery: a fault lasting some receives, then cleared, ends with
one match message and one evidence copy per upload and nothing dead-lettered.

The runner redelivers a failed record after its queue's visibility timeout (two seconds locally) and dead-letters it
after maxReceiveCount receives, as SQS does; the fault is injected on the handler module's own client (pytest-mock).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from urllib.parse import unquote_plus

import pytest
from tests.aws_fakes import client_error
from hashmatch_tools.made_media import detailed, image_bytes

from hashmatch_tools.references import add_reference
from hashmatch_tools.local.template import load_template

DEAD_LETTER_QUEUES = ("UploadsDeadLetterQueue", "HashesDeadLetterQueue", "TakedownDeadLetterQueue")
MAX_RECEIVE_COUNT = load_template()["Resources"]["UploadsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


class InvocationKilled(BaseException):
    """What ends an invocation out of time or memory: nothing in the handler catches it."""


class FailingFor:
    """A client method that fails, for the calls `picks` chooses, the first `times` times; the real one otherwise."""

    def __init__(self, mocker, client, method: str, error: BaseException, picks, times: int):
        self.real, self.error, self.picks, self.left = getattr(client, method), error, picks, times
        mocker.patch.object(client, method, side_effect=self)

    def __call__(self, *args, **kwargs):
        if self.left and self.picks(kwargs):
            self.left -= 1
            raise self.error
        return self.real(*args, **kwargs)


@pytest.fixture(scope="module")
def known_picture():
    return detailed(96, 640, 480)


@pytest.fixture
def reference(runner, hash_set, known_picture):
    added = add_reference(hash_set, image_bytes(known_picture), label="known picture (faults)", source="tests")
    runner.run_until_idle(functions=["IndexHashSetFunction"])
    yield added
    hash_set.remove_reference(added.reference_id)
    runner.run_until_idle(functions=["IndexHashSetFunction"])


@pytest.fixture
def copies(stack, s3, runner, known_picture, reference):
    """Three JPEG copies of the known picture uploaded (other bytes each); returns their upload ids and keys."""
    runner.run_until_idle()
    bucket = stack.ref("UploadsBucket")
    tag = uuid.uuid4().hex[:8]
    uploaded = []
    for n, quality in enumerate((70, 80, 90)):
        key = f"faults/{tag}-{n}.jpg"
        version = s3.put_object(Bucket=bucket, Key=key, Body=image_bytes(known_picture, "JPEG", quality=quality))["VersionId"]
        uploaded.append((f"s3://{bucket}/{key}?versionId={version}", key))
    return uploaded


@pytest.fixture
def dead_letters(stack, sqs):
    def count() -> int:
        total = 0
        for name in DEAD_LETTER_QUEUES:
            attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(name), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"])
        return total

    return count


def outcomes(stack, s3, audit, drain, observer, uploaded) -> dict[str, tuple[int, int, int]]:
    """Per upload: match messages published, evidence copies kept, takedown records written."""
    messages = Counter(json.loads(envelope["Message"])["upload"]["upload_id"] for envelope in drain(observer))
    bucket = stack.ref("UploadsBucket")
    found = {}
    for upload_id, key in uploaded:
        version = upload_id.split("?versionId=")[1]
        kept = s3.list_object_versions(Bucket=stack.ref("EvidenceBucket"), Prefix=f"{bucket}/{version}/{key}").get("Versions", [])
        found[upload_id] = (messages[upload_id], len(kept), sum(r["event"] == "takedown" for r in audit.events(upload_id)))
    return found


def failed_invocations(runner, since: int, function: str) -> int:
    return sum(1 for i in runner.invocations[since:] if i.function == function and i.failed)


def test_an_s3_read_error_over_two_receives_ends_with_one_outcome_per_upload(stack, runner, mocker, s3, audit, drain, observer, dead_letters, copies):
    hasher = runner.module("HashUploadFunction")
    target = copies[1][1]
    FailingFor(mocker, hasher.s3, "get_object", client_error("SlowDown", "GetObject", 503), lambda call: call["Key"] == target, times=2)
    before, dead = len(runner.invocations), dead_letters()

    runner.run_until_idle()

    assert failed_invocations(runner, before, "HashUploadFunction") == 2
    assert outcomes(stack, s3, audit, drain, observer, copies) == {upload_id: (1, 1, 1) for upload_id, _ in copies}
    assert dead_letters() == dead


def test_an_sns_outage_over_two_receives_ends_with_one_outcome_per_upload(stack, runner, mocker, s3, audit, drain, observer, dead_letters, copies):
    matcher = runner.module("MatchHashesFunction")
    target = copies[1][0]
    FailingFor(mocker, matcher.sns, "publish", client_error("InternalError", "Publish", 500), lambda call: target in call["Message"], times=2)
    before, dead = len(runner.invocations), dead_letters()

    runner.run_until_idle()

    assert failed_invocations(runner, before, "MatchHashesFunction") == 2
    assert outcomes(stack, s3, audit, drain, observer, copies) == {upload_id: (1, 1, 1) for upload_id, _ in copies}
    assert dead_letters() == dead


def test_a_throttled_audit_table_over_two_receives_ends_with_one_outcome_per_upload(stack, runner, mocker, s3, audit, drain, observer, dead_letters, copies):
    matcher = runner.module("MatchHashesFunction")
    target = copies[1][0]
    throttled = client_error("ProvisionedThroughputExceededException", "PutItem", 400)
    FailingFor(mocker, matcher.checker.audit.table, "put_item", throttled, lambda call: call["Item"]["upload_id"] == target, times=2)
    before, dead = len(runner.invocations), dead_letters()

    runner.run_until_idle()

    assert failed_invocations(runner, before, "MatchHashesFunction") == 2
    assert outcomes(stack, s3, audit, drain, observer, copies) == {upload_id: (1, 1, 1) for upload_id, _ in copies}
    assert dead_letters() == dead


def test_a_failing_evidence_copy_over_two_receives_ends_with_one_outcome_per_upload(stack, runner, mocker, s3, audit, drain, observer, dead_letters, copies):
    takedown = runner.module("TakeDownFunction")
    target = copies[1][1]
    FailingFor(mocker, takedown.quarantine.s3, "copy_object", client_error("InternalError", "CopyObject", 500), lambda call: call["CopySource"]["Key"] == target, times=2)
    before, dead = len(runner.invocations), dead_letters()

    runner.run_until_idle()

    assert failed_invocations(runner, before, "TakeDownFunction") == 2
    assert outcomes(stack, s3, audit, drain, observer, copies) == {upload_id: (1, 1, 1) for upload_id, _ in copies}
    assert dead_letters() == dead


def test_a_hasher_invocation_killed_mid_batch_is_redelivered_whole_and_nothing_doubles(stack, runner, mocker, s3, audit, drain, observer, dead_letters, copies):
    hasher = runner.module("HashUploadFunction")
    target = copies[1][1]
    FailingFor(mocker, hasher.s3, "get_object", InvocationKilled("out of time"), lambda call: call["Key"] == target, times=1)
    # The Lambda service's side: an invocation that dies is a failed invocation, and every record of its batch comes back.
    deliver = runner._call

    def lambda_service(spec, event):
        try:
            return deliver(spec, event)
        except InvocationKilled as killed:
            raise RuntimeError(f"Runtime exited: {killed}") from None

    mocker.patch.object(runner, "_call", side_effect=lambda_service)
    before, dead = len(runner.invocations), dead_letters()

    runner.run_until_idle()

    assert [i.error for i in runner.invocations[before:] if i.function == "HashUploadFunction" and i.error] == ["RuntimeError: Runtime exited: out of time"]
    assert outcomes(stack, s3, audit, drain, observer, copies) == {upload_id: (1, 1, 1) for upload_id, _ in copies}
    assert dead_letters() == dead


def test_a_fault_that_never_clears_dead_letters_the_upload_after_max_receives_and_the_rest_goes_through(stack, runner, mocker, sqs, s3, audit, drain, observer, copies):
    hasher = runner.module("HashUploadFunction")
    target = copies[1][1]
    FailingFor(mocker, hasher.s3, "get_object", client_error("InternalError", "GetObject", 500), lambda call: call["Key"] == target, times=10**6)
    dead_letter_queue = stack.ref("UploadsDeadLetterQueue")
    drain(dead_letter_queue)
    before = len(runner.invocations)

    runner.run_until_idle()

    assert failed_invocations(runner, before, "HashUploadFunction") == MAX_RECEIVE_COUNT
    [dead] = drain(dead_letter_queue)
    assert unquote_plus(dead["Records"][0]["s3"]["object"]["key"]) == target
    found = outcomes(stack, s3, audit, drain, observer, copies)
    assert [found[upload_id] for upload_id, _ in copies] == [(1, 1, 1), (0, 0, 0), (1, 1, 1)]
