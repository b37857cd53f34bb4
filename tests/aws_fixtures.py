"""Fixtures for the functional and integration tiers: a local stack (moto over HTTP, resources from template.yaml) and its runner.

Each tier's conftest imports these, so each tier gets a stack of its own per session: functional
tests leave notifications on the uploads queue that the integration tier's runner would otherwise take.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest

from hashmatch.aws.audit_table import AuditTable
from hashmatch.hash_set import trust
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.hash_set.snapshot import LISTED_VIDEO_PREFIX
from hashmatch_tools.local.runner import local_pipeline
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

__all__ = ["forget_source", "handler_output", "pipeline", "stack", "runner", "output", "s3", "sqs", "bucket", "audit", "hash_set", "index", "observer", "load_event", "drain", "counted"]

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


@pytest.fixture(scope="session")
def handler_output():
    return io.StringIO()


@pytest.fixture(scope="session")
def pipeline(handler_output):
    # The matcher checks the snapshot's manifest on every batch, so what a test adds counts once indexed.
    # Retro-match runs only when a test invokes it: tests reuse pictures, and a reference one test adds
    # would otherwise find (rightly) the copies earlier tests uploaded. tests/integration/test_retro_match_pipeline.py
    # runs it on additions, in a stack of its own.
    with local_pipeline(parameters={"HashSetRefreshSeconds": "0", "RetroMatchOnAdditions": "false"}, log_stream=handler_output) as running:
        yield running


# What hash_set.trust guards from, before any test turns the guard off.
SHRINK_GUARD_FROM_ITEMS = trust.GUARDED_FROM_ITEMS


@pytest.fixture(autouse=True)
def shrink_guard_off(monkeypatch):
    """The sharp-shrink guard off for each test of these tiers (the handlers run in this process): their tests add and remove
    lists of hundreds of entries in any order on the shared stack, and a guard would hold their removals back for the tests
    after them. Per test, not per session, so that the tiers that run after these (tests/unit) see the guard as it is.
    The guard's own tests turn it on (tests/functional/test_integrity_faults.py, `shrink_guard`)."""
    monkeypatch.setattr(trust, "GUARDED_FROM_ITEMS", 10**12)


@pytest.fixture(scope="session")
def stack(pipeline):
    return pipeline[0]


@pytest.fixture(scope="session")
def runner(pipeline):
    return pipeline[1]


@pytest.fixture
def output(handler_output):
    """What the handlers log and count (Powertools JSON logs and EMF metrics) during this test."""
    start = handler_output.tell()
    return lambda: handler_output.getvalue()[start:]


@pytest.fixture
def s3(stack):
    return stack.client("s3")


@pytest.fixture
def sqs(stack):
    return stack.client("sqs")


@pytest.fixture
def bucket(stack):
    """The uploads bucket."""
    return stack.ref("UploadsBucket")


@pytest.fixture
def audit(stack):
    return AuditTable(stack.table("AuditTable"))


@pytest.fixture
def hash_set(stack):
    """The hash set as the operator's admin command sees it: the table and the reference-features bucket."""
    return HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(stack.client("s3"), stack.ref("ReferenceFeaturesBucket")))


@pytest.fixture
def index(runner):
    """Deliver the hash-set table's change stream to the indexer until it is read to its end, as Lambda's poller does:
    after it, a matcher's next check sees every change made before."""
    return lambda: runner.run_until_idle(functions=["IndexHashSetFunction"])


@pytest.fixture
def observer(stack):
    """A queue subscribed to the match topic for this test only: what a subscriber receives."""
    return stack.subscribe_queue("MatchTopic", f"observer-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def load_event():
    """The parsed events/NAME.json."""
    return lambda name: json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def drain(sqs):
    """Every message waiting on a queue, deleted as read, bodies parsed."""

    def read(queue_url: str) -> list[dict]:
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    return read


@pytest.fixture
def counted(output):
    """The EMF metric blobs the handlers printed during this test that carry the metric `name`."""

    def blobs(name: str) -> list[dict]:
        found = []
        for line in output().splitlines():
            if line.startswith('{"_aws"'):
                blob = json.loads(line)
                if name in blob:
                    found.append(blob)
        return found

    return blobs


def forget_source(hash_set: HashSetTable, source: str) -> None:
    """Remove every hash-list entry a test imported under `source`, the allow-list marks of those hashes, and the listed videos (vPDQ files) it imported."""
    for stored in hash_set.entries.all().values():
        if source in stored.sources:
            hash_set.entries.remove(stored.signal_type, stored.hash, source)
            hash_set.entries.disallow(stored.signal_type, stored.hash)
    for reference in hash_set.references():
        if reference.reference_id.startswith(LISTED_VIDEO_PREFIX) and reference.source == source:
            hash_set.remove_reference(reference.reference_id)
    for held in hash_set.entries.tmk.export():
        if held.source == source:
            hash_set.entries.tmk.remove(held.digest, source)
