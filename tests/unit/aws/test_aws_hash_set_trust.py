"""What a matcher believes of the snapshot in S3 (moto): signed manifests, objects with their digests, no sharp shrink
without an operator, the last good set served while S3 or a manifest fails, and malformed items skipped, not fatal."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hashmatch.aws.hash_set import live as live_module
from hashmatch.aws.hash_set.indexer import Acceptance, ShrinkRefused, SnapshotIndexer
from hashmatch.aws.hash_set.live import LiveHashSet, ShrinkNotAdopted
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.signing import ManifestSigner, ManifestUntrusted
from hashmatch.aws.hash_set.store import MANIFEST_KEY, ObjectAltered, SnapshotStore
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.vocabulary import Action, ListedSignal
from tests.aws_fakes import client_error
from tests.aws_moto import kms_client, s3_client, template_bucket, template_key, template_table
from tests.madehashes import reference_hashes, with_features

FEATURES, SNAPSHOTS = "reference-features", "snapshots"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Counted:
    """Metrics that remember what was counted."""

    def __init__(self):
        self.counts: dict[str, float] = {}
        self.values: dict[str, list[float]] = {}

    def count(self, name, value=1, *, dimension=None):
        self.counts[name] = self.counts.get(name, 0) + value

    def seconds(self, name, value):
        self.values.setdefault(name, []).append(value)


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "ReferenceFeaturesBucket", FEATURES)
    template_bucket(client, "SnapshotBucket", SNAPSHOTS)
    return client


@pytest.fixture
def hash_set(aws, s3) -> HashSetTable:
    return HashSetTable(template_table("HashSetTable", "hash-set"), ReferenceFeaturesBucket(s3, FEATURES))


@pytest.fixture
def signer(aws) -> ManifestSigner:
    return ManifestSigner(kms_client(), template_key("ManifestSigningKey"))


@pytest.fixture
def store(s3) -> SnapshotStore:
    return SnapshotStore(s3, SNAPSHOTS)


@pytest.fixture
def indexer(hash_set, store, signer) -> SnapshotIndexer:
    return SnapshotIndexer(hash_set, store, signer=signer, sleep=lambda seconds: None)


def matcher(store, hash_set, signer, clock=None, metrics=None) -> LiveHashSet:
    return LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=clock or Clock(), verifier=signer, metrics=metrics, staleness_limit=60)


def pdq(value: str) -> str:
    return f"{ListedSignal.PDQ}:{value}"


def listed(hash_set: HashSetTable, count: int, action: Action = Action.QUARANTINE, start: int = 0) -> list[str]:
    """`count` PDQ entries of one list; their keys."""
    hashes = [f"{n:064x}" for n in range(start, start + count)]
    hash_set.entries.import_entries((HashListEntry(signal_type=ListedSignal.PDQ, hash=value, source="list") for value in hashes), action=action)
    return [pdq(value) for value in hashes]


def rewrite_manifest(s3, change) -> None:
    """Alter the manifest in S3 as a writer without the key would: change its fields, keep its signature."""
    manifest = json.loads(s3.get_object(Bucket=SNAPSHOTS, Key=MANIFEST_KEY)["Body"].read())
    change(manifest)
    s3.put_object(Bucket=SNAPSHOTS, Key=MANIFEST_KEY, Body=json.dumps(manifest).encode())


# ---------------------------------------------------------------- signed manifests


def test_the_indexer_signs_every_manifest_and_a_matcher_believes_it(hash_set, store, indexer, signer):
    listed(hash_set, 3)
    manifest = indexer.rebuild().manifest

    signer.verify(manifest)
    assert manifest.signing_key == signer.key_id and len(matcher(store, hash_set, signer).get().view.snapshot.frames) == 3


def test_a_manifest_altered_after_signing_is_not_verified(hash_set, store, indexer, signer):
    listed(hash_set, 3)
    manifest = indexer.rebuild().manifest

    with pytest.raises(ManifestUntrusted):
        signer.verify(replace(manifest, snapshot_frames=0))


def test_an_unsigned_manifest_is_not_believed(hash_set, store, signer):
    listed(hash_set, 3)
    SnapshotIndexer(hash_set, store).rebuild()  # no key: what a writer without the key can write

    with pytest.raises(ManifestUntrusted):
        matcher(store, hash_set, signer).get()


def test_a_manifest_signed_with_another_key_is_not_believed(hash_set, store, signer):
    listed(hash_set, 3)
    SnapshotIndexer(hash_set, store, signer=ManifestSigner(kms_client(), template_key("ManifestSigningKey"))).rebuild()

    with pytest.raises(ManifestUntrusted):
        matcher(store, hash_set, signer).get()


def test_an_object_altered_under_its_manifest_fails_its_digest(hash_set, store, indexer, signer, s3):
    listed(hash_set, 3)
    manifest = indexer.rebuild().manifest
    body = bytearray(s3.get_object(Bucket=SNAPSHOTS, Key=manifest.snapshot.key, VersionId=manifest.snapshot.version_id)["Body"].read())
    body[-1] ^= 0xFF
    forged = replace(manifest, snapshot=replace(manifest.snapshot, version_id=s3.put_object(Bucket=SNAPSHOTS, Key=manifest.snapshot.key, Body=bytes(body))["VersionId"]))

    with pytest.raises(ObjectAltered):
        store.read_snapshot(forged)


def test_the_indexer_rebuilds_from_the_table_over_a_manifest_it_cannot_verify(hash_set, store, indexer, signer, s3):
    keys = listed(hash_set, 3)
    indexer.rebuild()
    rewrite_manifest(s3, lambda manifest: manifest.update(snapshot_frames=0))
    more = listed(hash_set, 1, start=10)

    outcome = indexer.apply(more)

    assert outcome.rebuilt and outcome.untrusted
    assert set(keys + more) <= {key for key in keys + more if key in matcher(store, hash_set, signer).get().view}


# ---------------------------------------------------------------- sharp shrinks


def test_the_indexer_holds_back_the_removals_of_a_sharp_shrink_and_publishes_the_rest(hash_set, store, indexer, signer):
    keys = listed(hash_set, 200)
    indexer.rebuild()
    for key in keys[:100]:
        hash_set.entries.remove(ListedSignal.PDQ, key.removeprefix("pdq:"))
    added = listed(hash_set, 1, start=1000)

    outcome = indexer.apply(keys[:100] + added)

    view = matcher(store, hash_set, signer).get().view
    assert "fell from 200 to 101" in str(outcome.shrink_refused)
    assert keys[0] in view and added[0] in view  # the removal waits for an operator; the addition does not
    assert set(outcome.manifest.held_back) == set(keys[:100])


def test_a_shrink_eroded_a_little_at_a_time_is_caught_against_the_high_water_mark(hash_set, store, indexer):
    keys = listed(hash_set, 200)
    indexer.rebuild()
    refused = []
    for start in range(0, 100, 20):  # five removals of 10 % of the start each
        for key in keys[start : start + 20]:
            hash_set.entries.remove(ListedSignal.PDQ, key.removeprefix("pdq:"))
        refused.append(indexer.apply(keys[start : start + 20]).shrink_refused is not None)

    assert refused == [False, False, True, True, True]
    assert len(store.read_manifest().manifest.held_back) == 60


def test_a_rebuild_refuses_a_sharp_shrink_and_an_operators_acceptance_publishes_it(hash_set, store, indexer, signer):
    keys = listed(hash_set, 200)
    indexer.rebuild()
    for key in keys[:150]:
        hash_set.entries.remove(ListedSignal.PDQ, key.removeprefix("pdq:"))

    with pytest.raises(ShrinkRefused):
        indexer.rebuild()
    manifest = indexer.rebuild(Acceptance("operator", "list withdrawn")).manifest

    assert manifest.census == {"items": 50, "quarantine_items": 50} and manifest.shrink_accepted["by"] == "operator"
    assert keys[0] not in matcher(store, hash_set, signer).get().view


def test_a_matcher_does_not_adopt_a_signed_sharp_shrink_nobody_accepted(hash_set, store, indexer, signer):
    keys = listed(hash_set, 200)
    indexer.rebuild()
    metrics = Counted()
    held = matcher(store, hash_set, signer, metrics=metrics)
    held.get()
    for key in keys[:150]:
        hash_set.entries.remove(ListedSignal.PDQ, key.removeprefix("pdq:"))
    # A compromised signer: a shrunken set signed, without the indexer's check (no acceptance recorded).
    current = store.read_manifest()
    shrunk = SnapshotIndexer(hash_set, SnapshotStore(store.s3, SNAPSHOTS), signer=signer)
    written = shrunk._write(current, replace(current.manifest, sequence=current.manifest.sequence + 1, census={"items": 50, "quarantine_items": 50}, high_water=None))

    assert keys[0] in held.get().view and written.manifest.sequence == current.manifest.sequence + 1
    assert metrics.counts["ManifestsRejected"] == 1


# ---------------------------------------------------------------- the last good set served


def test_a_matcher_serves_the_set_it_holds_while_s3_cannot_be_read(hash_set, store, indexer, signer, monkeypatch):
    keys = listed(hash_set, 3)
    indexer.rebuild()
    clock, metrics = Clock(), Counted()
    held = matcher(store, hash_set, signer, clock, metrics)
    before = held.get()
    monkeypatch.setattr(store.s3, "get_object", lambda **_: (_ for _ in ()).throw(client_error("ServiceUnavailable", "GetObject", 503)))

    clock.now = 90.0
    during = held.get()

    assert during is before and keys[0] in during.view
    assert metrics.counts["HashSetRefreshFailed"] == 1 and metrics.values["HashSetStaleSeconds"] == [90.0]


def test_a_cold_matcher_with_nothing_believed_fails_rather_than_serve_nothing(hash_set, store, indexer, signer, monkeypatch):
    listed(hash_set, 3)
    indexer.rebuild()
    monkeypatch.setattr(store.s3, "get_object", lambda **_: (_ for _ in ()).throw(client_error("ServiceUnavailable", "GetObject", 503)))

    with pytest.raises(Exception):
        matcher(store, hash_set, signer).get()


def test_a_refused_manifest_is_not_read_again_while_it_is_unchanged(hash_set, store, indexer, signer, s3):
    listed(hash_set, 3)
    indexer.rebuild()
    metrics = Counted()
    held = matcher(store, hash_set, signer, metrics=metrics)
    held.get()
    rewrite_manifest(s3, lambda manifest: manifest.update(snapshot_frames=0))

    held.get()
    held.get()

    assert metrics.counts["ManifestsRejected"] == 1 and metrics.counts["HashSetRefreshFailed"] == 2


def test_a_snapshot_that_does_not_arrive_whole_leaves_the_held_one_served(hash_set, store, indexer, signer, monkeypatch):
    keys = listed(hash_set, 3)
    indexer.rebuild()
    held = matcher(store, hash_set, signer)
    held.get()
    listed(hash_set, 1, start=50)
    indexer.rebuild()  # a new snapshot object
    real = store.read_snapshot
    monkeypatch.setattr(store, "read_snapshot", lambda manifest: (_ for _ in ()).throw(ObjectAltered("cut short")) if manifest.sequence > 2 else real(manifest))

    assert keys[0] in held.get().view


# ---------------------------------------------------------------- items that cannot be read


def test_a_malformed_item_is_skipped_and_named_and_the_rest_indexed(hash_set, store, indexer, signer):
    indexer.rebuild()
    keys = listed(hash_set, 5)
    hash_set.table.put_item(Item={"reference_id": "pdq:" + "zz" * 32, "item": "source#list#", "signal_type": "pdq", "hash": "zz" * 32, "source": "list", "action": "nuke"})

    outcome = indexer.apply(keys + ["pdq:" + "zz" * 32])

    assert list(outcome.skipped) == ["pdq:" + "zz" * 32]
    assert all(key in matcher(store, hash_set, signer).get().view for key in keys)


def test_a_rebuild_leaves_out_a_malformed_reference_and_names_it(hash_set, store, indexer):
    keys = listed(hash_set, 2)
    hash_set.table.put_item(Item={"reference_id": "broken", "item": "meta", "label": "l"})

    outcome = indexer.rebuild()

    assert list(outcome.skipped) == ["broken"] and outcome.manifest.census["items"] == len(keys)


# ---------------------------------------------------------------- the local-feature snapshot


def test_a_local_feature_snapshot_that_failed_once_is_read_again_after_a_back_off(hash_set, store, indexer, signer, monkeypatch):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    indexer.rebuild()
    clock = Clock()
    held = matcher(store, hash_set, signer, clock)
    real, failures = store.read_features, []

    def flaky(manifest):
        if not failures:
            failures.append(1)
            raise client_error("SlowDown", "GetObject", 503)
        return real(manifest)

    monkeypatch.setattr(store, "read_features", flaky)
    held.get()
    first = held._feature_snapshot[1]
    clock.now = live_module.FEATURES_RETRY_SECONDS + 1

    held.get()

    assert first is None and held._feature_snapshot[1] is not None
