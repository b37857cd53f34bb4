"""IndexHashSetFunction fed the hash-set table's change stream: the snapshot in S3 follows the table, and matchers follow the snapshot."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.madehashes import reference_hashes, with_features

from hashmatch.aws.hash_set import store as snapshots_module
from hashmatch.aws.hash_set.indexer import SnapshotIndexer
from hashmatch.aws.hash_set.signing import ManifestSigner
from hashmatch.aws.hash_set.live import LiveHashSet
from hashmatch.aws.hash_set.store import ManifestChanged, SnapshotStore
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.hash_set.snapshot import HashSetView
from hashmatch.vocabulary import Action, Stage
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

INDEXER = "IndexHashSetFunction"


@pytest.fixture
def store(stack):
    return SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket"))


@pytest.fixture
def fresh(store, hash_set, index):
    """A matcher's view of the hash set, checked on every get, with the indexer caught up first."""
    index()
    return LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0)


def pdq_entry(source: str, labels=("terror",)) -> HashListEntry:
    return HashListEntry(signal_type=ListedSignal.PDQ, hash=uuid.uuid4().hex * 2, labels=labels, source=source)


@pytest.fixture
def source(hash_set, index):
    """A list source of this test's own; its entries are removed (and indexed away) after it."""
    name = f"list-{uuid.uuid4().hex[:8]}"
    yield name
    for stored in hash_set.entries.all().values():
        if name in stored.sources:
            hash_set.entries.remove(stored.signal_type, stored.hash, name)
            hash_set.entries.disallow(stored.signal_type, stored.hash)
    index()


def test_the_sample_event_is_indexed_without_error(runner, load_event, store):
    runner.invoke(INDEXER, load_event("index_hash_set"))

    assert store.read_manifest().manifest is not None


def test_an_added_entry_reaches_a_matcher_through_the_snapshot_not_the_table(hash_set, fresh, index, source):
    entry = pdq_entry(source)
    hash_set.entries.add(entry, action=Action.QUARANTINE)
    index()

    loaded = fresh.get()

    assert fresh.source == "snapshot"
    assert loaded.describe(f"pdq:{entry.hash}").labels == ("terror",)
    assert loaded.describe(f"pdq:{entry.hash}").action == Action.QUARANTINE


def test_an_allowed_entry_leaves_a_running_matcher_and_comes_back_when_disallowed(hash_set, fresh, index, source):
    entry = pdq_entry(source)
    hash_set.entries.add(entry)
    index()
    assert f"pdq:{entry.hash}" in fresh.get()

    hash_set.entries.allow(ListedSignal.PDQ, entry.hash, allowed_by="tests", reason="false positive")
    index()
    assert f"pdq:{entry.hash}" not in fresh.get()

    hash_set.entries.disallow(ListedSignal.PDQ, entry.hash)
    index()
    assert f"pdq:{entry.hash}" in fresh.get()


def test_a_removed_entry_leaves_a_running_matcher(hash_set, fresh, index, source):
    entry = pdq_entry(source)
    hash_set.entries.add(entry)
    index()
    assert f"pdq:{entry.hash}" in fresh.get()

    hash_set.entries.remove(ListedSignal.PDQ, entry.hash, source)
    index()

    assert f"pdq:{entry.hash}" not in fresh.get()


def test_a_reference_added_with_local_features_is_matched_by_both_stages_from_the_snapshot(hash_set, fresh, index):
    hashes = with_features(reference_hashes(6, seed=8101), seed=8101)
    reference = hash_set.add_reference(hashes, label="known video", source="tests")
    index()
    try:
        loaded = fresh.get()

        assert loaded.describe(reference.reference_id).features_key == reference.features_key
        assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) >= len(hashes.features)
        result, matches = loaded.match(hashes)
        assert [m.item.reference_id for m in matches] == [reference.reference_id]
    finally:
        hash_set.remove_reference(reference.reference_id)
        index()
    assert reference.reference_id not in fresh.get()


def test_references_added_since_the_local_feature_snapshot_are_merged_into_one_index_beside_it_and_a_removal_builds_that_anew(hash_set, fresh, index):
    first = hash_set.add_reference(with_features(reference_hashes(4, seed=8201), seed=8201), label="known video", source="tests")
    index()
    second = None
    try:
        before = fresh.get().matcher.stage(Stage.LOCAL_FEATURES).index.layers[-1]
        frames_before = len(before)
        second_hashes = with_features(reference_hashes(4, seed=8202), seed=8202)
        second = hash_set.add_reference(second_hashes, label="known video", source="tests")
        index()

        after = fresh.get().matcher.stage(Stage.LOCAL_FEATURES).index.layers[-1]

        assert after is before and len(after) == frames_before + len(second_hashes.features)
        hash_set.remove_reference(first.reference_id)
        index()
        assert fresh.get().matcher.stage(Stage.LOCAL_FEATURES).index.layers[-1] is not before
    finally:
        for reference in (first, second):
            if reference is not None and reference.reference_id in fresh.get():
                hash_set.remove_reference(reference.reference_id)
        index()


def test_a_rebuild_puts_the_local_features_in_a_snapshot_a_matcher_maps_without_reading_each_reference(stack, hash_set, store, index, monkeypatch):
    hashes = with_features(reference_hashes(6, seed=8301), seed=8301)
    reference = hash_set.add_reference(hashes, label="known video", source="tests")
    index()
    try:
        # Small parts, so that the real endpoint's ranged reads are exercised on a small snapshot.
        monkeypatch.setattr(snapshots_module, "READ_PART_BYTES", 4096)
        # Signed as the operators' role signs a reindex (matchers believe nothing else).
        signer = ManifestSigner(stack.client("kms"), stack.attribute("ManifestSigningKey", "Arn"))
        manifest = SnapshotIndexer(hash_set, store, signer=signer).rebuild().manifest
        read_features = []
        monkeypatch.setattr(hash_set.features, "get_many", lambda keys: read_features.extend(keys) or {})

        stage = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0).get().matcher.stage(Stage.LOCAL_FEATURES)
        (hits,) = stage.index.search_all([hashes.features[2].features], threads=1)

        assert manifest.features is not None and read_features == []
        assert [hit.reference for hit in hits] == [reference.reference_id]
    finally:
        # The snapshot written in 4096-byte parts stays named by the manifest: rebuilt in the usual parts for the tests after.
        monkeypatch.undo()
        hash_set.remove_reference(reference.reference_id)
        SnapshotIndexer(hash_set, store, signer=ManifestSigner(stack.client("kms"), stack.attribute("ManifestSigningKey", "Arn"))).rebuild()
        index()


def test_a_change_costs_a_matcher_the_changes_not_the_snapshot(hash_set, store, fresh, index, source):
    fresh.get()
    snapshot_before = fresh.snapshot

    hash_set.entries.add(pdq_entry(source))
    index()
    fresh.get()

    assert fresh.snapshot is snapshot_before  # the same object: not read again


def test_changes_past_the_bound_are_folded_into_a_new_snapshot(runner, hash_set, store, fresh, index, source):
    indexer = runner.module(INDEXER).indexer
    bound, indexer.compact_after = indexer.compact_after, 0
    try:
        entries = [pdq_entry(source) for _ in range(3)]
        for entry in entries:
            hash_set.entries.add(entry)
        index()
    finally:
        indexer.compact_after = bound
    manifest = store.read_manifest().manifest

    assert manifest.changed == 0 and manifest.changes is None
    assert all(f"pdq:{entry.hash}" in HashSetView(store.read_snapshot(manifest)) for entry in entries)
    assert all(f"pdq:{entry.hash}" in fresh.get() for entry in entries)


def test_without_a_snapshot_the_indexer_builds_one_from_the_whole_table(runner, hash_set, store, index, source):
    entry = pdq_entry(source)
    hash_set.entries.add(entry)
    index()
    s3 = store.s3
    s3.delete_object(Bucket=store.bucket, Key="hash-set/manifest.json")

    outcome = runner.module(INDEXER).indexer.apply({"pdq:" + "0" * 64})

    assert outcome.rebuilt
    assert f"pdq:{entry.hash}" in LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0).get()


def test_without_a_snapshot_a_matcher_loads_the_table(hash_set, stack, index, source):
    entry = pdq_entry(source)
    hash_set.entries.add(entry)
    empty = SnapshotStore(stack.client("s3"), stack.ref("HashesBucket"))  # a bucket the indexer never wrote to

    matcher_view = LiveHashSet(empty, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0)

    assert f"pdq:{entry.hash}" in matcher_view.get() and matcher_view.source == "table scan"


def test_a_batch_the_indexer_keeps_failing_on_goes_to_its_dead_letter_queue(runner, stack, hash_set, index, drain, source):
    indexer = runner.module(INDEXER).indexer
    bucket, indexer.store.bucket = indexer.store.bucket, "no-such-bucket"
    try:
        hash_set.entries.add(pdq_entry(source))
        index()
    finally:
        indexer.store.bucket = bucket
    [failure] = drain(stack.output("IndexerDeadLetterQueueUrl"))

    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["DDBStreamBatchInfo"]["batchSize"] >= 1


def test_s3_refuses_a_manifest_written_over_one_the_writer_did_not_read(runner, hash_set, store, index, source):
    index()
    stale = store.read_manifest()
    hash_set.entries.add(pdq_entry(source))
    index()  # the indexer writes a newer manifest

    with pytest.raises(ManifestChanged):
        store.write_manifest(stale.manifest, stale)


def test_the_snapshot_bucket_aborts_a_multipart_upload_left_unfinished_after_a_day(stack):
    rules = stack.client("s3").get_bucket_lifecycle_configuration(Bucket=stack.ref("SnapshotBucket"))["Rules"]

    assert {"DaysAfterInitiation": 1} in [rule.get("AbortIncompleteMultipartUpload") for rule in rules]
