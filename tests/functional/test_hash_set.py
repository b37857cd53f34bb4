"""The DynamoDB hash set: references stored in chunks, removed whole, and reloaded by matchers only when changed."""

from __future__ import annotations

import pytest
from madehashes import reference_hashes, with_features

from hashmatch.aws import hash_set as hash_set_module
from hashmatch.aws.hash_set import CachedHashSet
from hashmatch.vocabulary import Stage


@pytest.fixture
def cleanup(hash_set):
    added = []
    yield added
    for reference_id in added:
        hash_set.remove_reference(reference_id)


def test_a_reference_spread_over_several_items_loads_whole(hash_set, cleanup, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 10)
    reference = hash_set.add_reference(reference_hashes(25, 1), label="long", source="tests")
    cleanup.append(reference.reference_id)

    loaded = hash_set.load()

    assert loaded.references[reference.reference_id].frames == 25
    assert len(loaded.matcher.stage(Stage.PDQ)) == sum(r.frames for r in loaded.references.values())


def test_removing_a_reference_removes_all_its_items(stack, hash_set):
    reference = hash_set.add_reference(reference_hashes(5, 2), label="gone soon", source="tests")

    assert hash_set.remove_reference(reference.reference_id)

    items = stack.table("HashSetTable").query(KeyConditionExpression="reference_id = :id", ExpressionAttributeValues={":id": reference.reference_id})["Items"]
    assert items == []
    assert reference.reference_id not in hash_set.load().references


def test_a_warm_index_reloads_only_after_its_refresh_interval_and_a_version_change(hash_set, cleanup):
    now = [0.0]
    cached = CachedHashSet(hash_set, refresh_seconds=60, clock=lambda: now[0])
    before = cached.get()
    reference = hash_set.add_reference(reference_hashes(3, 3), label="new", source="tests")
    cleanup.append(reference.reference_id)

    now[0] = 59.0
    stale = cached.get()
    now[0] = 60.0
    fresh = cached.get()

    assert stale is before
    assert reference.reference_id in fresh.references


def test_the_loaded_index_carries_the_local_features_of_references_that_have_them(hash_set, cleanup):
    reference = hash_set.add_reference(with_features(reference_hashes(4, 4), 4), label="with features", source="tests")
    cleanup.append(reference.reference_id)

    loaded = hash_set.load()

    assert reference.feature_frames == 4
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == sum(r.feature_frames for r in loaded.references.values())


def test_a_reference_whose_features_vanished_during_a_load_is_still_matched_by_pdq(stack, hash_set, cleanup):
    reference = hash_set.add_reference(with_features(reference_hashes(3, 5), 5), label="being replaced", source="tests")
    cleanup.append(reference.reference_id)
    stack.client("s3").delete_object(Bucket=stack.ref("ReferenceFeaturesBucket"), Key=reference.features_key)

    loaded = hash_set.load()

    assert reference.reference_id in loaded.references
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == sum(r.feature_frames for r in loaded.references.values() if r.reference_id != reference.reference_id)
