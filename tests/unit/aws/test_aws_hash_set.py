"""The DynamoDB hash set (moto): references stored in chunks, replaced and removed whole, reloaded only when changed."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.aws_moto import CallLog, all_items, current_keys, page_size, s3_client, template_bucket, template_table
from tests.madehashes import reference_hashes, with_features
from hashmatch.aws.hash_set import table as hash_set_module
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set import store as snapshots_module
from hashmatch.aws.hash_set.indexer import SnapshotIndexer
from hashmatch.aws.hash_set.live import LiveHashSet
from hashmatch.aws.hash_set.store import MANIFEST_KEY, Manifest, ManifestChanged, SnapshotStore
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action, Stage
from hashmatch.aws.hash_set.live import version_from_table
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

FEATURES = "reference-features"
SNAPSHOTS = "snapshots"


@pytest.fixture
def table(aws):
    return page_size(template_table("HashSetTable", "hash-set"), 3)


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "ReferenceFeaturesBucket", FEATURES)
    return client


@pytest.fixture
def calls(s3) -> CallLog:
    """The S3 calls the hash set, the indexer and the matcher's copy make."""
    return CallLog(s3)


@pytest.fixture
def hash_set(table, s3) -> HashSetTable:
    return HashSetTable(table, ReferenceFeaturesBucket(s3, FEATURES))


def items_of(table, reference_id: str) -> dict[str, dict]:
    return {item["item"]: item for item in all_items(table) if item["reference_id"] == reference_id}


def features_stored(s3, key: str) -> bool:
    """Whether the features bucket holds an object at `key` now (the bucket is versioned: a deleted key keeps its old versions)."""
    return key in current_keys(s3, FEATURES, key)


# Adding


def test_a_reference_is_stored_as_a_meta_item_and_chunks_of_frames(table, hash_set, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 10)

    reference = hash_set.add_reference(reference_hashes(25, 1), label="long", source="tests")

    stored = items_of(table, reference.reference_id)
    assert sorted(stored) == ["frames#00000", "frames#00001", "frames#00002", "meta"]
    assert [len(stored[f"frames#{n:05d}"]["pdq"]) for n in range(3)] == [10, 10, 5]


def test_a_reference_is_keyed_by_its_sha256_unless_named(hash_set):
    assert hash_set.add_reference(reference_hashes(2, 1), label="l", source="s").reference_id == f"{1:064x}"
    assert hash_set.add_reference(reference_hashes(2, 2), label="l", source="s", reference_id="bank-7").reference_id == "bank-7"


def test_a_thousand_frames_fit_one_item(table, hash_set):
    reference = hash_set.add_reference(reference_hashes(2500, 1), label="long", source="tests")

    assert len(items_of(table, reference.reference_id)) == 1 + 3


def test_every_change_bumps_the_version(hash_set):
    assert hash_set.version() == 0
    reference = hash_set.add_reference(reference_hashes(3, 1), label="l", source="s")
    assert hash_set.version() == 1
    hash_set.remove_reference(reference.reference_id)
    assert hash_set.version() == 2


def test_a_reference_reads_back_with_what_a_match_message_needs(hash_set):
    added = hash_set.add_reference(reference_hashes(4, 1), label="christchurch", source="gifct", action=Action.REVIEW)

    (listed,) = hash_set.references()

    assert listed == added
    assert (listed.label, listed.source, listed.action, listed.duration, listed.frames) == ("christchurch", "gifct", Action.REVIEW, 4, 4)


def test_a_loaded_set_holds_every_frame_of_a_chunked_reference(hash_set, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 10)
    reference = hash_set.add_reference(reference_hashes(25, 1), label="long", source="tests")

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert loaded.version == 1
    assert reference.reference_id in loaded
    assert len(loaded.matcher.stage(Stage.PDQ)) == 25


def test_a_loaded_set_matches_an_upload_of_a_references_frames_and_no_other(hash_set):
    wanted = hash_set.add_reference(reference_hashes(6, 1), label="wanted", source="tests")
    hash_set.add_reference(reference_hashes(6, 2), label="other", source="tests")

    _, matches = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD).match(reference_hashes(6, 1, role="upload"))

    assert [match.item for match in matches] == [wanted.to_known_item()]


def test_replacing_a_reference_with_shorter_media_leaves_no_frames_of_the_old(table, hash_set, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 10)
    hash_set.add_reference(reference_hashes(25, 1), label="long", source="tests", reference_id="ref")

    hash_set.add_reference(reference_hashes(5, 2), label="short", source="tests", reference_id="ref")

    assert sorted(items_of(table, "ref")) == ["frames#00000", "meta"]
    assert len(version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD).matcher.stage(Stage.PDQ)) == 5


def test_frames_without_a_meta_item_are_not_loaded(table, hash_set):
    # A reference being written: its frames are there, its meta item not yet.
    table.put_item(Item={"reference_id": "half-written", "item": "frames#00000", "timestamps": [0], "pdq": ["0" * 64]})

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert loaded.view.media() == []
    assert len(loaded.matcher.stage(Stage.PDQ)) == 0


def test_upload_hashes_are_refused_as_a_reference(hash_set):
    with pytest.raises(ValueError, match="role='reference'"):
        hash_set.add_reference(reference_hashes(3, 1, role="upload"), label="l", source="s")


def test_media_without_a_usable_frame_is_refused(hash_set):
    hashes = reference_hashes(3, 1)
    unusable = replace(hashes, frames=tuple(replace(frame, quality=10) for frame in hashes.frames))

    with pytest.raises(ValueError, match="no frame"):
        hash_set.add_reference(unusable, label="l", source="s")


# Local features


def test_a_references_local_features_go_to_the_features_bucket_and_load_with_the_set(s3, hash_set):
    reference = hash_set.add_reference(with_features(reference_hashes(4, 1), 1), label="l", source="s")

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert reference.feature_frames == 4
    assert features_stored(s3, reference.features_key)
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == 4


def test_a_reference_whose_features_vanished_still_loads_for_pdq(s3, hash_set):
    reference = hash_set.add_reference(with_features(reference_hashes(4, 1), 1), label="l", source="s")
    s3.delete_object(Bucket=FEATURES, Key=reference.features_key)

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert reference.reference_id in loaded
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == 0


def test_replacing_a_reference_with_other_media_deletes_its_old_features(s3, hash_set):
    old = hash_set.add_reference(with_features(reference_hashes(4, 1), 1), label="l", source="s", reference_id="ref")

    new = hash_set.add_reference(with_features(reference_hashes(3, 2), 2), label="l", source="s", reference_id="ref")

    assert not features_stored(s3, old.features_key)
    assert features_stored(s3, new.features_key)


def test_re_adding_the_same_media_keeps_its_features(s3, hash_set):
    hashes = with_features(reference_hashes(4, 1), 1)
    hash_set.add_reference(hashes, label="l", source="s")

    again = hash_set.add_reference(hashes, label="relabelled", source="s")

    assert features_stored(s3, again.features_key)


def test_a_hash_set_without_a_features_bucket_refuses_a_reference_with_features(table):
    with pytest.raises(ValueError, match="no reference-features bucket"):
        HashSetTable(table).add_reference(with_features(reference_hashes(3, 1), 1), label="l", source="s")


def test_a_hash_set_without_a_features_bucket_stores_and_loads_pdq_references(table):
    bare = HashSetTable(table)
    reference = bare.add_reference(reference_hashes(3, 1), label="l", source="s")

    loaded = version_from_table(bare, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert reference.features_key is None
    assert len(loaded.matcher.stage(Stage.PDQ)) == 3


# Removing


def test_removing_a_reference_removes_its_items_and_features(s3, table, hash_set, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 2)
    reference = hash_set.add_reference(with_features(reference_hashes(7, 1), 1), label="l", source="s")

    assert hash_set.remove_reference(reference.reference_id)

    assert items_of(table, reference.reference_id) == {}
    assert not features_stored(s3, reference.features_key)
    assert version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD).view.media() == []


def test_removing_one_reference_leaves_the_others(hash_set):
    kept = hash_set.add_reference(reference_hashes(3, 1), label="kept", source="s")
    removed = hash_set.add_reference(reference_hashes(3, 2), label="removed", source="s")

    hash_set.remove_reference(removed.reference_id)

    assert [r.key for r in version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD).view.media()] == [kept.reference_id]


def test_removing_an_unknown_reference_changes_nothing(hash_set):
    assert hash_set.remove_reference("never-added") is False
    assert hash_set.version() == 0


def test_removing_a_reference_with_features_needs_the_features_bucket(table, hash_set):
    reference = hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="l", source="s")

    with pytest.raises(ValueError, match="needs its reference-features bucket"):
        HashSetTable(table).remove_reference(reference.reference_id)
    assert version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD).view.media()


# A matcher's cached copy


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(s3) -> SnapshotStore:
    template_bucket(s3, "SnapshotBucket", SNAPSHOTS)
    return SnapshotStore(s3, SNAPSHOTS)


@pytest.fixture
def indexer(hash_set, store) -> SnapshotIndexer:
    return SnapshotIndexer(hash_set, store)


def test_a_fresh_set_is_not_checked_again_within_its_refresh_interval(hash_set, store, indexer):
    clock = Clock()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=60, clock=clock)
    indexer.rebuild()
    before = fresh.get()
    reference = hash_set.add_reference(reference_hashes(3, 1), label="new", source="s")
    indexer.apply([reference.reference_id])

    clock.now = 59.0

    assert fresh.get() is before


def test_a_fresh_set_takes_the_indexers_changes_after_its_interval(hash_set, store, indexer):
    clock = Clock()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=60, clock=clock)
    indexer.rebuild()
    fresh.get()
    reference = hash_set.add_reference(reference_hashes(3, 1), label="new", source="s")
    indexer.apply([reference.reference_id])

    clock.now = 60.0

    assert reference.reference_id in fresh.get()


def test_a_fresh_set_keeps_its_copy_when_the_manifest_did_not_change(hash_set, store, indexer, s3, calls):
    hash_set.add_reference(reference_hashes(3, 1), label="l", source="s")
    indexer.rebuild()
    calls.clear()
    clock = Clock()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=60, clock=clock)
    before = fresh.get()

    clock.now = 600.0

    assert fresh.get() is before
    assert [params.get("IfNoneMatch") is not None for params in calls.of("GetObject") if params["Key"] == MANIFEST_KEY] == [False, True]


def test_without_a_snapshot_a_fresh_set_loads_the_table_again_when_its_version_changed(hash_set, store):
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    fresh.get()
    reference = hash_set.add_reference(reference_hashes(3, 1), label="new", source="s")

    assert reference.reference_id in fresh.get() and fresh.source == "table scan"


def test_a_list_entry_change_keeps_the_local_features_a_matcher_has(hash_set, store, indexer, s3, calls):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    indexer.rebuild()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    before = fresh.get().matcher.stage(Stage.LOCAL_FEATURES)
    hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash="ab" * 32, source="list"))
    indexer.apply(["pdq:" + "ab" * 32])
    calls.clear()

    after = fresh.get()

    assert "pdq:" + "ab" * 32 in after and after.matcher.stage(Stage.LOCAL_FEATURES) is before
    assert feature_reads(calls) == []


def entry(value: str) -> HashListEntry:
    return HashListEntry(signal_type=ListedSignal.PDQ, hash=value * 32, source="list")


def test_a_manifest_written_meanwhile_makes_the_indexer_start_again_on_top_of_it(hash_set, store, indexer, monkeypatch):
    indexer.rebuild()
    other = SnapshotIndexer(hash_set, store, sleep=lambda seconds: None)
    indexer.sleep = lambda seconds: None
    hash_set.entries.add(entry("aa"))
    hash_set.entries.add(entry("bb"))
    real = store.write_manifest
    interleaved = []

    def another_writer_first(manifest, read):
        if not interleaved:
            interleaved.append("bb")
            other.apply(["pdq:" + "bb" * 32])
        return real(manifest, read)

    monkeypatch.setattr(store, "write_manifest", another_writer_first)
    outcome = indexer.apply(["pdq:" + "aa" * 32])

    loaded = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0).get()
    assert outcome.attempts == 2 and "pdq:" + "aa" * 32 in loaded and "pdq:" + "bb" * 32 in loaded


def test_a_rebuild_reads_again_what_the_indexer_published_during_its_scan(hash_set, store, indexer, monkeypatch):
    indexer.rebuild()
    during = SnapshotIndexer(hash_set, store, compact_after=0)
    scan = hash_set.readable_snapshot
    outcomes = []

    def scan_while_the_indexer_runs():
        snapshot = scan()  # the scan has passed every partition...
        hash_set.entries.add(entry("cc"))  # ...when this is written and indexed
        outcomes.append(during.apply(["pdq:" + "cc" * 32]))
        return snapshot

    monkeypatch.setattr(hash_set, "readable_snapshot", scan_while_the_indexer_runs)
    indexer.rebuild()

    assert not outcomes[0].compacted  # the rebuild's mark: changes are kept as changes meanwhile
    assert "pdq:" + "cc" * 32 in LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0).get()
    assert store.read_manifest().manifest.rebuilding_since is None


def test_removals_alone_fold_into_a_new_snapshot_past_the_bound(hash_set, store, indexer):
    for value in ("aa", "bb", "cc"):
        hash_set.entries.add(entry(value))
    indexer.rebuild()
    indexer.compact_after = 2
    for value in ("aa", "bb", "cc"):
        hash_set.entries.remove(ListedSignal.PDQ, value * 32)

    outcome = indexer.apply(["pdq:" + value * 32 for value in ("aa", "bb", "cc")])

    assert outcome.compacted and outcome.manifest.changes is None and outcome.manifest.snapshot_frames == 0


def test_objects_the_manifest_stops_naming_are_deleted_with_the_next_manifest(hash_set, store, indexer, s3):
    indexer.rebuild()
    for value in ("aa", "bb", "cc"):
        hash_set.entries.add(entry(value))
        indexer.apply(["pdq:" + value * 32])
    manifest = store.read_manifest().manifest

    kept = current_keys(s3, SNAPSHOTS, "hash-set/")

    assert kept == sorted({MANIFEST_KEY} | {stored.key for stored in manifest.named() | set(manifest.retired)})


def test_a_writer_that_lost_the_manifest_deletes_the_objects_it_wrote(hash_set, store, indexer, s3, monkeypatch):
    indexer.rebuild()
    before = current_keys(s3, SNAPSHOTS, "hash-set/")
    hash_set.entries.add(entry("aa"))
    monkeypatch.setattr(store, "write_manifest", lambda manifest, read: (_ for _ in ()).throw(ManifestChanged("another writer")))
    indexer.sleep = lambda seconds: None

    with pytest.raises(ManifestChanged):
        indexer.apply(["pdq:" + "aa" * 32])

    assert current_keys(s3, SNAPSHOTS, "hash-set/") == before


def test_the_indexer_reads_only_the_partitions_that_changed(hash_set, indexer, table, monkeypatch):
    hash_set.add_reference(reference_hashes(3, 1), label="kept", source="s")
    indexer.rebuild()
    added = hash_set.add_reference(reference_hashes(3, 2), label="added", source="s")
    paginators = []
    real = table.meta.client.get_paginator
    monkeypatch.setattr(table.meta.client, "get_paginator", lambda operation: paginators.append(operation) or real(operation))

    outcome = indexer.apply([added.reference_id, "#hash-set"])

    assert paginators == ["query"] and outcome.changed == 1 and not outcome.rebuilt


def test_a_reference_id_in_the_hash_sets_own_namespace_is_refused(table):
    hash_set = HashSetTable(table)

    with pytest.raises(ValueError, match="version counter"):
        hash_set.add_reference(reference_hashes(2, 7), label="x", source="tests", reference_id="#hash-set")


def test_a_reference_id_that_names_a_hash_list_entry_is_refused(table):
    hash_set = HashSetTable(table)

    with pytest.raises(ValueError, match="hash-list entries"):
        hash_set.add_reference(reference_hashes(2, 7), label="x", source="tests", reference_id="pdq:" + "0" * 64)


# The local-feature snapshot


def features_found(fresh: LiveHashSet, hashes) -> set[str]:
    """The references the matcher's local-feature stage verifies for a reference frame's own features."""
    stage = fresh.get().matcher.stage(Stage.LOCAL_FEATURES)
    (hits,) = stage.index.search_all([hashes.features[1].features], threads=1)
    return {hit.reference for hit in hits}


def feature_reads(calls: CallLog) -> list[str]:
    return [params["Key"] for params in calls.of("GetObject") if params["Bucket"] == FEATURES]


def test_a_rebuild_writes_a_local_feature_snapshot_that_matchers_map_without_reading_each_reference(hash_set, store, indexer, s3, calls):
    hashes = with_features(reference_hashes(3, 1), 1)
    reference = hash_set.add_reference(hashes, label="with features", source="s")
    manifest = indexer.rebuild().manifest
    calls.clear()

    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())

    assert manifest.features is not None and manifest.features in manifest.named()
    assert features_found(fresh, hashes) == {reference.reference_id}
    assert feature_reads(calls) == []


def test_a_reference_added_after_the_local_feature_snapshot_is_read_alone(hash_set, store, indexer, s3, calls):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="in the snapshot", source="s")
    indexer.rebuild()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    fresh.get()
    added_hashes = with_features(reference_hashes(3, 2), 2)
    added = hash_set.add_reference(added_hashes, label="added", source="s")
    indexer.apply([added.reference_id])
    calls.clear()

    assert features_found(fresh, added_hashes) == {added.reference_id}
    assert feature_reads(calls) == [added.features_key]


def test_a_reference_removed_after_the_local_feature_snapshot_is_no_longer_found(hash_set, store, indexer):
    hashes = with_features(reference_hashes(3, 1), 1)
    removed = hash_set.add_reference(hashes, label="removed", source="s")
    hash_set.add_reference(with_features(reference_hashes(3, 2), 2), label="kept", source="s")
    indexer.rebuild()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    assert features_found(fresh, hashes) == {removed.reference_id}

    hash_set.remove_reference(removed.reference_id)
    indexer.apply([removed.reference_id])

    assert features_found(fresh, hashes) == set()
    assert removed.reference_id not in fresh.get().matcher.stage(Stage.LOCAL_FEATURES).index.recognisable_seconds()


def test_a_reference_replaced_after_the_local_feature_snapshot_is_found_by_its_new_features_only(hash_set, store, indexer):
    old, new = with_features(reference_hashes(3, 1), 1), with_features(reference_hashes(3, 2), 2)
    hash_set.add_reference(old, label="first", source="s", reference_id="bank-7")
    indexer.rebuild()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    fresh.get()

    hash_set.add_reference(new, label="second", source="s", reference_id="bank-7")
    indexer.apply(["bank-7"])

    assert features_found(fresh, old) == set() and features_found(fresh, new) == {"bank-7"}


def test_folding_changes_that_leave_the_media_alone_keeps_the_local_feature_snapshot(hash_set, store, indexer):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    before = indexer.rebuild().manifest
    indexer.compact_after = 0
    hash_set.entries.add(entry("aa"))

    outcome = indexer.apply(["pdq:" + "aa" * 32])

    assert outcome.compacted and outcome.manifest.snapshot != before.snapshot and outcome.manifest.features == before.features


def test_folding_a_media_change_writes_a_new_local_feature_snapshot(hash_set, store, indexer, s3, calls):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    before = indexer.rebuild().manifest
    indexer.compact_after = 0
    added_hashes = with_features(reference_hashes(3, 2), 2)
    added = hash_set.add_reference(added_hashes, label="added", source="s")

    outcome = indexer.apply([added.reference_id])
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    calls.clear()

    assert outcome.compacted and outcome.manifest.features != before.features and before.features in outcome.manifest.retired
    assert features_found(fresh, added_hashes) == {added.reference_id} and feature_reads(calls) == []


def test_a_hash_set_without_a_features_bucket_reads_no_local_feature_snapshot(hash_set, store, indexer, s3, table, calls):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    indexer.rebuild()
    calls.clear()

    LiveHashSet(store, HashSetTable(table, None), PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock()).get()

    assert not [params["Key"] for operation, params in calls.calls if params.get("Key", "").startswith("hash-set/features/")]


def test_a_set_without_local_features_has_no_local_feature_snapshot(hash_set, indexer):
    hash_set.add_reference(reference_hashes(3, 1), label="pdq only", source="s")

    assert indexer.rebuild().manifest.features is None


def test_a_manifest_written_before_local_feature_snapshots_reads_as_having_none():
    old = {
        "sequence": 4,
        "snapshot": {"key": "hash-set/snapshots/4-a.bin", "version_id": None},
        "changes": None,
        "snapshot_frames": 10,
        "changed": 0,
        "written_at": "2026-11-01T00:00:00.000+00:00",
    }

    assert Manifest.from_bytes(json.dumps(old).encode()).features is None


def test_a_snapshot_larger_than_a_read_part_is_read_in_ranges_to_the_same_bytes(hash_set, store, indexer, s3, monkeypatch, calls):
    monkeypatch.setattr(snapshots_module, "READ_PART_BYTES", 4096)  # the parts the manifest's digests name, too
    hash_set.add_reference(with_features(reference_hashes(40, 1), 1), label="with features", source="s")
    manifest = indexer.rebuild().manifest
    whole = s3.get_object(Bucket=SNAPSHOTS, Key=manifest.features.key)["Body"].read()
    calls.clear()

    read = store._get(manifest.features)

    reads = calls.of("GetObject")
    assert bytes(read) == whole and len(whole) > 4 * 4096
    assert len(reads) == -(-len(whole) // 4096) and all(params["VersionId"] == manifest.features.version_id for params in reads)


def test_a_lost_manifest_write_costs_the_local_features_a_retry_of_the_write_not_of_the_build(hash_set, store, indexer, monkeypatch):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    indexer.sleep = lambda seconds: None
    builds, real_build, real_write = [], indexer._write_features, store.write_manifest
    monkeypatch.setattr(indexer, "_write_features", lambda media, sequence: builds.append(sequence) or real_build(media, sequence))

    def lose_the_first_features_write(manifest, read):
        if manifest.features is not None and not getattr(lose_the_first_features_write, "lost", False):
            lose_the_first_features_write.lost = True
            raise ManifestChanged("another writer")
        return real_write(manifest, read)

    monkeypatch.setattr(store, "write_manifest", lose_the_first_features_write)

    outcome = indexer.rebuild()

    assert len(builds) == 1 and outcome.features_written and store.read_manifest().manifest.features == outcome.manifest.features


def test_a_local_feature_snapshot_for_media_another_writer_already_named_is_deleted_not_named(hash_set, store, indexer, s3):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    manifest = indexer.rebuild().manifest
    second = store.write_features(lambda out: out.write(b"a second build of the same media"), manifest.sequence)

    assert indexer.name_features(second, manifest.features_of) is None
    assert store.read_manifest().manifest.features == manifest.features
    assert current_keys(s3, SNAPSHOTS, second.key) == []


def test_a_compaction_publishes_its_snapshot_even_when_the_local_feature_build_fails(hash_set, store, indexer, monkeypatch):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    indexer.rebuild()
    indexer.compact_after = 0
    added = hash_set.add_reference(with_features(reference_hashes(3, 2), 2), label="added", source="s")
    monkeypatch.setattr(indexer, "_write_features", lambda media, sequence: (_ for _ in ()).throw(MemoryError()))

    with pytest.raises(MemoryError):
        indexer.apply([added.reference_id])

    assert added.reference_id in snapshot_references(store) and store.read_manifest().manifest.changes is None


def snapshot_references(store: SnapshotStore):
    return store.read_snapshot(store.read_manifest().manifest).references


def test_a_manifest_from_before_local_feature_snapshots_gets_one_with_the_next_batch(hash_set, store, table):
    hashes = with_features(reference_hashes(3, 1), 1)
    hash_set.add_reference(hashes, label="with features", source="s")
    SnapshotIndexer(HashSetTable(table, None), store).rebuild()  # as an indexer without the features bucket wrote it
    assert store.read_manifest().manifest.features is None
    hash_set.entries.add(entry("aa"))

    outcome = SnapshotIndexer(hash_set, store).apply(["pdq:" + "aa" * 32])

    assert outcome.features_written and not outcome.compacted and store.read_manifest().manifest.features is not None


def test_a_set_whose_media_are_all_removed_retires_its_local_feature_snapshot(hash_set, store, indexer):
    reference = hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="with features", source="s")
    before = indexer.rebuild().manifest
    hash_set.remove_reference(reference.reference_id)
    indexer.compact_after = 0

    after = indexer.apply([reference.reference_id]).manifest

    assert after.features is None and before.features in after.retired


def test_a_matcher_whose_added_references_reach_the_local_feature_snapshot_finds_each_once(hash_set, store, indexer):
    hash_set.add_reference(with_features(reference_hashes(3, 1), 1), label="in the snapshot", source="s")
    indexer.rebuild()
    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())
    added_hashes = with_features(reference_hashes(3, 2), 2)
    added = hash_set.add_reference(added_hashes, label="added", source="s")
    indexer.apply([added.reference_id])
    stage = fresh.get().matcher.stage(Stage.LOCAL_FEATURES)
    assert [hit.reference for hit in stage.index.search_all([added_hashes.features[1].features], threads=1)[0]] == [added.reference_id]
    indexer.compact_after = 0
    hash_set.entries.add(entry("aa"))

    indexer.apply(["pdq:" + "aa" * 32])
    stage = fresh.get().matcher.stage(Stage.LOCAL_FEATURES)

    assert [hit.reference for hit in stage.index.search_all([added_hashes.features[1].features], threads=1)[0]] == [added.reference_id]
    assert len(stage.index.layers) == 1


def test_an_unreadable_local_feature_snapshot_leaves_the_matcher_reading_each_reference(hash_set, store, indexer, s3, monkeypatch, caplog, calls):
    hashes = with_features(reference_hashes(3, 1), 1)
    reference = hash_set.add_reference(hashes, label="with features", source="s")
    indexer.rebuild()
    monkeypatch.setattr(store, "read_features", lambda manifest: (_ for _ in ()).throw(ValueError("local-feature snapshot is truncated")))
    calls.clear()

    fresh = LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0, clock=Clock())

    assert features_found(fresh, hashes) == {reference.reference_id} and feature_reads(calls) == [reference.features_key]
    assert "local-feature snapshot unreadable" in caplog.text


def test_a_manifest_with_fields_of_a_later_version_still_reads():
    later = {
        "sequence": 9,
        "snapshot": {"key": "hash-set/snapshots/9-a.bin", "version_id": None},
        "changes": None,
        "snapshot_frames": 10,
        "changed": 0,
        "written_at": "2026-12-06T00:00:00.000+00:00",
        "something_new": {"key": "x"},
    }

    assert Manifest.from_bytes(json.dumps(later).encode()).sequence == 9
