"""The DynamoDB hash set: references stored in chunks, removed whole, and reloaded by matchers only when changed."""

from __future__ import annotations

import pytest
from tests.madehashes import reference_hashes, with_features

from hashmatch.aws.hash_set import table as hash_set_module
from hashmatch.vocabulary import Stage
from hashmatch.aws.hash_set.live import version_from_table
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD


@pytest.fixture
def cleanup(hash_set):
    added = []
    yield added
    for reference_id in added:
        hash_set.remove_reference(reference_id)


def test_a_reference_spread_over_several_items_loads_whole(hash_set, cleanup, monkeypatch):
    monkeypatch.setattr(hash_set_module, "FRAMES_PER_ITEM", 10)
    hashes = reference_hashes(25, 1)
    reference = hash_set.add_reference(hashes, label="long", source="tests")
    cleanup.append(reference.reference_id)

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    found = loaded.matcher.stage(Stage.PDQ).index.search([(frame.timestamp, [frame.pdq]) for frame in hashes.frames], 0)
    assert len(found[reference.reference_id]) == 25


def test_removing_a_reference_removes_all_its_items(stack, hash_set):
    reference = hash_set.add_reference(reference_hashes(5, 2), label="gone soon", source="tests")

    assert hash_set.remove_reference(reference.reference_id)

    items = stack.table("HashSetTable").query(KeyConditionExpression="reference_id = :id", ExpressionAttributeValues={":id": reference.reference_id})["Items"]
    assert items == []
    assert reference.reference_id not in version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)


def test_the_loaded_index_carries_the_local_features_of_references_that_have_them(hash_set, cleanup):
    reference = hash_set.add_reference(with_features(reference_hashes(4, 4), 4), label="with features", source="tests")
    cleanup.append(reference.reference_id)

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert reference.feature_frames == 4
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == sum(r.feature_frames for r in hash_set.references())


def test_a_reference_whose_features_vanished_during_a_load_is_still_matched_by_pdq(stack, hash_set, cleanup):
    reference = hash_set.add_reference(with_features(reference_hashes(3, 5), 5), label="being replaced", source="tests")
    cleanup.append(reference.reference_id)
    stack.client("s3").delete_object(Bucket=stack.ref("ReferenceFeaturesBucket"), Key=reference.features_key)

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert reference.reference_id in loaded
    assert len(loaded.matcher.stage(Stage.LOCAL_FEATURES)) == sum(r.feature_frames for r in hash_set.references() if r.reference_id != reference.reference_id)
