"""The integrity issue's fault tests, each on the local stack, each naming what must not be lost.

- S3 unavailable while a matcher refreshes: the match of an upload checked meanwhile.
- A signed manifest altered: the references the last believed set holds, for every upload meanwhile.
- A snapshot that shrinks by half: the matches of the removed half, until an operator accepts the shrink.
- The uploads bucket's versioning suspended: the match, the takedown's refusal on record, and an alarm's metric.
- A malformed item in a 1,000-record indexer batch: the other 999 changes.
- A forged hold: the upload (it stays online) and the record of the refusal.
- A burst of 10,000 lookups from one federated user family: the budget of every other caller. Kept quick: in-process
  against the lookup API's use case and its throttle adapter over the stack's DynamoDB, with a clock that stands
  still (one minute); once the family's budget is spent, each refusal is answered from the container's memory of it.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError
from boto3.dynamodb.conditions import Key

from hashmatch.aws.hash_set.signing import ManifestSigner
from hashmatch.aws.hash_set.store import MANIFEST_KEY, SnapshotStore
from hashmatch.aws.lookup_throttle import LookupThrottle
from hashmatch.callers import Caller
from hashmatch.clock import now
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.media.hashing import hash_media
from hashmatch.messages.building import hold_message
from hashmatch.messages.hashes import HashesMessage, Unchecked
from hashmatch.uploads import Upload
from hashmatch.usecases.look_up_hashes import Limits, Looker, LookupOutcome, look_up_hashes
from hashmatch.usecases.ports import NoMetrics
from hashmatch.vocabulary import Action, CannotCheckReason, ListedSignal, Role
from hashmatch_tools import admin
from hashmatch_tools.made_media import detailed, image_bytes
from hashmatch_tools.references import add_reference
from tests.aws_fakes import client_error
from tests.aws_fixtures import SHRINK_GUARD_FROM_ITEMS

MATCHER, TAKEDOWN, INDEXER = "MatchHashesFunction", "TakeDownFunction", "IndexHashSetFunction"


class Log:
    def info(self, message, **fields):
        return None

    warning = error = info


# ------------------------------------------------------------------ helpers


@pytest.fixture
def put_copy(stack, s3):
    """Upload a JPEG copy of a picture under a key of its own; returns its upload (as notified, with its version)."""
    bucket = stack.ref("UploadsBucket")

    def put(picture, quality: int = 80, prefix: str = "integrity") -> Upload:
        key = f"{prefix}/{uuid.uuid4().hex[:8]}.jpg"
        body = image_bytes(picture, "JPEG", quality=quality)
        answer = s3.put_object(Bucket=bucket, Key=key, Body=body)
        return Upload.from_object(bucket, key, answer.get("VersionId"), etag=answer["ETag"].strip('"'), size=len(body))

    return put


def published_ids(drain, observer) -> list[str]:
    return [json.loads(envelope["Message"])["upload"]["upload_id"] for envelope in drain(observer)]


@pytest.fixture
def known(runner, hash_set):
    """A picture the hash set holds as a reference (quarantine), indexed; removed after the test."""
    added = []

    def add(seed: int):
        picture = detailed(seed, 640, 480)
        added.append(add_reference(hash_set, image_bytes(picture), label=f"known picture {seed} (integrity)", source="integrity-tests"))
        runner.run_until_idle(functions=[INDEXER])
        return picture

    yield add
    for reference in added:
        hash_set.remove_reference(reference.reference_id)
    runner.run_until_idle(functions=[INDEXER])


def admin_hashset(stack, *command: str) -> int:
    """`hashmatch admin hashset COMMAND` against the stack, as the operators' role (the local operator)."""
    options = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--table", stack.ref("HashSetTable"), "--snapshot-bucket", stack.ref("SnapshotBucket"), "--manifest-key", stack.attribute("ManifestSigningKey", "Arn")]
    return admin.main([*options, "hashset", *command])


def listed_entries(hash_set, count: int, source: str, first: str | None = None) -> list[str]:
    """`count` quarantine PDQ entries of one list (the first `first`, when given); their keys."""
    hashes = ([first] if first else []) + [hashlib.sha256(f"{source}-{n}".encode()).hexdigest() for n in range(count - (1 if first else 0))]
    hash_set.entries.import_entries((HashListEntry(signal_type=ListedSignal.PDQ, hash=value, source=source) for value in hashes), action=Action.QUARANTINE)
    return [f"pdq:{value}" for value in hashes]


def forget(stack, runner, hash_set, source: str) -> None:
    """Remove a list a test imported, and have the operators accept the shrink that may be (the shared stack's set stays the table's)."""
    for stored in hash_set.entries.all().values():
        if source in stored.sources:
            hash_set.entries.remove(stored.signal_type, stored.hash, source)
    runner.run_until_idle(functions=[INDEXER])
    assert admin_hashset(stack, "accept-shrink", "--reason", f"test list {source} removed") == 0


@pytest.fixture
def shrink_guard(stack, monkeypatch):
    """The sharp-shrink guard on as deployed (the shared stack's tests run without it: tests/aws_fixtures.py, shrink_guard_off),
    from the set as the table holds it now."""
    from hashmatch.hash_set import trust

    assert admin_hashset(stack, "accept-shrink", "--reason", "the guard's test starts from the table") == 0
    monkeypatch.setattr(trust, "GUARDED_FROM_ITEMS", SHRINK_GUARD_FROM_ITEMS)


def metric_values(blobs: list[dict], name: str) -> list[float]:
    """The values of metric `name` in the EMF blobs printed (Powertools writes one value or a list of them)."""
    values = []
    for blob in blobs:
        value = blob[name]
        values += value if isinstance(value, list) else [value]
    return values


def manifest_of(stack):
    return SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket")).read_manifest().manifest


# ------------------------------------------------------------------ S3 unavailable while a matcher refreshes


def test_s3_unavailable_while_a_matcher_refreshes_keeps_matching_against_the_set_it_holds(stack, runner, mocker, known, put_copy, observer, drain, counted):
    """Must not be lost: the match of an upload checked while S3 cannot be read. The matcher serves the set it holds."""
    picture = known(501)
    before = put_copy(picture, 70)
    runner.run_until_idle()  # the matcher holds the set now
    matcher = runner.module(MATCHER)
    real = matcher.s3.get_object

    def unavailable(**call):
        if call["Key"].startswith("hash-set/"):
            raise client_error("ServiceUnavailable", "GetObject", 503)
        return real(**call)

    mocker.patch.object(matcher.s3, "get_object", side_effect=unavailable)
    during = put_copy(picture, 85)
    runner.run_until_idle()

    published = published_ids(drain, observer)
    assert before.upload_id.split("?")[0] in " ".join(published) and during.upload_id.split("?")[0] in " ".join(published)
    assert counted("HashSetRefreshFailed") and counted("HashSetStaleSeconds")


# ------------------------------------------------------------------ a signed manifest altered


def test_a_signed_manifest_altered_is_not_believed_and_the_indexer_rebuilds_over_it(stack, runner, hash_set, known, put_copy, observer, drain, counted, s3):
    """Must not be lost: the references the last believed set holds, for every upload checked until the manifest is replaced."""
    picture = known(502)
    runner.run_until_idle()
    put_copy(picture, 70)
    runner.run_until_idle()  # the matcher holds the set
    drain(observer)
    bucket = stack.ref("SnapshotBucket")
    forged = json.loads(s3.get_object(Bucket=bucket, Key=MANIFEST_KEY)["Body"].read())
    forged["changes"] = None  # hides every change since the snapshot (the reference among them); the signature is kept
    s3.put_object(Bucket=bucket, Key=MANIFEST_KEY, Body=json.dumps(forged).encode())  # the operators' role may write: it cannot sign

    during = put_copy(picture, 85)
    runner.run_until_idle(functions=["HashUploadFunction", MATCHER])

    assert [upload_id for upload_id in published_ids(drain, observer) if upload_id == during.upload_id] == [during.upload_id]
    assert counted("ManifestsRejected")
    hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash="ab" * 32, source="integrity-rebuild"))
    runner.run_until_idle(functions=[INDEXER])  # the indexer cannot verify the manifest: it rebuilds from the table
    ManifestSigner(stack.client("kms"), stack.attribute("ManifestSigningKey", "Arn")).verify(manifest_of(stack))
    hash_set.entries.remove(ListedSignal.PDQ, "ab" * 32)
    runner.run_until_idle()


# ------------------------------------------------------------------ a snapshot that shrinks by half


def test_a_snapshot_that_shrinks_by_half_is_not_published_until_an_operator_accepts_it(stack, runner, hash_set, put_copy, observer, drain, counted, shrink_guard):
    """Must not be lost: the matches of the removed half (one of them this picture's hash) until an operator accepts the shrink;
    nor an addition made meanwhile (only the removals are held back)."""
    picture = detailed(503, 640, 480)
    own = hash_media(image_bytes(picture), role=Role.REFERENCE).usable_frames[0].pdq
    keys = listed_entries(hash_set, 200, "integrity-shrink", first=own)
    runner.run_until_idle(functions=[INDEXER])
    try:
        for key in keys[:100]:  # half the list, this picture's hash first
            hash_set.entries.remove(ListedSignal.PDQ, key.removeprefix("pdq:"))
        [added] = listed_entries(hash_set, 1, "integrity-shrink-addition")
        runner.run_until_idle(functions=[INDEXER])

        refused = put_copy(picture, 80)
        runner.run_until_idle()
        assert counted("SnapshotShrinkRefused")
        assert refused.upload_id in published_ids(drain, observer)
        manifest = manifest_of(stack)
        assert keys[0] in manifest.held_back and len(manifest.held_back) == 100 and manifest.census["items"] >= 201
        assert added not in manifest.held_back

        assert admin_hashset(stack, "accept-shrink", "--reason", "integrity test: half of a list withdrawn") == 0
        accepted = put_copy(picture, 85)
        runner.run_until_idle()
        assert accepted.upload_id not in published_ids(drain, observer)
        assert manifest_of(stack).shrink_accepted["reason"] == "integrity test: half of a list withdrawn"
    finally:
        forget(stack, runner, hash_set, "integrity-shrink")
        forget(stack, runner, hash_set, "integrity-shrink-addition")


# ------------------------------------------------------------------ the uploads bucket's versioning suspended


def test_suspended_versioning_on_the_uploads_bucket_is_seen_and_each_refused_takedown_kept(stack, runner, s3, audit, known, put_copy, counted):
    """Must not be lost: the match, the takedown's refusal on record (the object names no version) and the upload itself;
    the controls watch counts the suspension for its alarm."""
    picture = known(504)
    bucket = stack.ref("UploadsBucket")
    runner.run_until_idle()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        watched = runner.run_scheduled("WatchControlsFunction")
        upload = put_copy(picture, 80, prefix="unversioned")
        runner.run_until_idle()
    finally:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    assert "UploadsVersioningOff" in watched["off"]
    assert metric_values(counted("UploadsVersioningOff"), "UploadsVersioningOff") == [1.0]
    unversioned = Upload.object_id(bucket, upload.key, None)
    assert audit.get(unversioned, "matched") is not None
    assert "names no version" in audit.get(unversioned, "takedown-refused")["detail"]
    assert counted("TakedownsRefused")
    assert s3.head_object(Bucket=bucket, Key=upload.key)["ContentLength"] == upload.size  # still online: someone must look
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNames=[stack.ref("UploadsVersioningOffAlarm"), stack.ref("TakedownsRefusedAlarm")])["MetricAlarms"]
    assert {alarm["MetricName"] for alarm in alarms} == {"UploadsVersioningOff", "TakedownsRefused"}


# ------------------------------------------------------------------ a malformed item in a 1,000-record indexer batch


def test_a_malformed_item_in_a_thousand_record_indexer_batch_is_skipped_and_the_rest_indexed(stack, runner, hash_set, sqs, counted):
    """Must not be lost: the other 999 changes of the batch (and no batch dead-lettered for one bad item)."""
    malformed = "pdq:" + "zz" * 32
    dead_letters = stack.ref("IndexerDeadLetterQueue")
    dead_before = int(sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
    before = manifest_of(stack).census["items"]
    hash_set.table.put_item(Item={"reference_id": malformed, "item": "source#integrity-batch#", "signal_type": "pdq", "hash": "zz" * 32, "source": "integrity-batch", "action": "obliterate"})
    keys = listed_entries(hash_set, 999, "integrity-batch")
    try:
        started = time.perf_counter()
        runner.run_until_idle(functions=[INDEXER])
        seconds = time.perf_counter() - started

        assert metric_values(counted("HashSetItemsSkipped"), "HashSetItemsSkipped") == [1.0]
        assert manifest_of(stack).census["items"] == before + len(keys)
        dead_after = int(sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
        assert dead_after == dead_before
        assert max(invocation.records for invocation in runner.invocations if invocation.function == INDEXER) == 1000
        print(f"1,000-record batch with one malformed item indexed in {seconds:.1f} s")
        # The operators' reindex leaves it out too, names it, and publishes the rest.
        assert admin_hashset(stack, "reindex") == 2
        assert manifest_of(stack).census["items"] == before + len(keys)
    finally:
        hash_set.table.delete_item(Key={"reference_id": malformed, "item": "source#integrity-batch#"})
        forget(stack, runner, hash_set, "integrity-batch")


# ------------------------------------------------------------------ a forged hold


def test_a_forged_hold_is_refused_and_recorded_and_the_upload_stays_online(stack, runner, s3, sqs, audit, drain, counted):
    """Must not be lost: the upload (it stays online, untouched) and the record of the refusal. Another role of the account
    cannot send it at all; what reaches the takedown (through the one other writer, the operators' role) is refused there."""
    bucket = stack.ref("UploadsBucket")
    body = image_bytes(detailed(505, 320, 240), "JPEG", quality=80)
    answer = s3.put_object(Bucket=bucket, Key="integrity/victim.jpg", Body=body)
    drain(stack.ref("UploadsQueue"))  # the upload's own notification is not this test's
    victim = Upload.from_object(bucket, "integrity/victim.jpg", answer["VersionId"], etag=answer["ETag"].strip('"'), size=len(body))
    # No SHA-256 (what only an object over 2 GiB carries), so the takedown would check nothing but version, ETag and size.
    forged = hold_message(HashesMessage(victim, None, now(), unchecked=Unchecked(CannotCheckReason.OVERSIZED, "forged", "")), CannotCheckReason.OVERSIZED, "forged")
    envelope = json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": stack.ref("MatchTopic"),
            "Message": forged.model_dump_json(),
            "Timestamp": now(),
            "SignatureVersion": "1",
            "Signature": "forged",
            "SigningCertURL": f"https://sns.{stack.region}.amazonaws.com/forged.pem",
            "UnsubscribeURL": f"https://sns.{stack.region}.amazonaws.com/?Action=Unsubscribe",
        }
    )

    with pytest.raises(ClientError):
        stack.client("sqs", "intruder").send_message(QueueUrl=stack.ref("TakedownQueue"), MessageBody=envelope)
    stack.client("sqs").send_message(QueueUrl=stack.ref("TakedownQueue"), MessageBody=envelope)
    runner.run_until_idle(functions=[TAKEDOWN])

    assert stack.refusals()[-1]["action"] == "sqs:SendMessage"
    assert "without a SHA-256" in audit.get(victim.upload_id, "takedown-refused")["detail"]
    assert audit.get(victim.upload_id, "takedown") is None and counted("TakedownsRefused")
    assert s3.get_object(**victim.address)["Body"].read() == body


# ------------------------------------------------------------------ a burst of 10,000 lookups from one federated user family


def test_a_burst_of_ten_thousand_lookups_from_one_federated_user_family_is_held_to_one_budget(stack, runner):
    """Must not be lost: the service of every other caller. 10,000 requests of one hash, each from another federated user name
    of one account, are answered up to the family's minute and refused after, cheaply; another role of the account is still answered."""
    lookup = runner.module("LookUpHashesFunction")
    table = stack.table("LookupThrottleTable")
    clock = time.time()
    throttle = LookupThrottle(table, clock=lambda: clock)  # the burst within one minute, whatever the machine's speed
    limits = Limits(lookup.settings.lookup_hashes_per_minute, lookup.settings.lookup_hashes_per_day, lookup.settings.lookup_account_hashes_per_minute)
    looker = Looker(lookup.hash_set, throttle, limits, frozenset(), "123456789012", Log(), NoMetrics())
    body = json.dumps({"pdq": ["ab" * 32]})
    account = f"2{uuid.uuid4().int % 10**11:011d}"  # an account of its own: budgets other tests spent stay out of it

    started = time.perf_counter()
    outcomes = [look_up_hashes(Caller.from_arn(f"arn:aws:sts::{account}:federated-user/name-{n}"), body, looker).outcome for n in range(10_000)]
    seconds = time.perf_counter() - started
    other = look_up_hashes(Caller.from_arn(f"arn:aws:sts::{account}:assumed-role/another-role/s"), body, looker)

    answered = outcomes.count(LookupOutcome.ANSWERED)
    assert answered == limits.per_minute and outcomes.count(LookupOutcome.THROTTLED) == 10_000 - limits.per_minute
    assert other.outcome == LookupOutcome.ANSWERED
    spent = table.query(KeyConditionExpression=Key("caller").eq(f"arn:aws:sts::{account}:federated-user/*#60"))["Items"]
    assert [int(item["hashes"]) for item in spent] == [limits.per_minute]
    print(f"10,000 lookups from one federated family: {answered} answered, {10_000 - answered} refused, in {seconds:.1f} s ({seconds / 10_000 * 1000:.2f} ms a request)")
