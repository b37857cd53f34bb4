"""Reference features in S3: one binary object per reference, read back whole, and None once it is gone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.aws_moto import s3_client, template_bucket
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket, features_key
from hashmatch.model import FrameFeatures, LocalFeatures

FEATURES = "reference-features"
SHA256 = "cd" * 32


def frames(seed: int, count: int = 3) -> list[FrameFeatures]:
    """Made-up ORB output: whole-pixel keypoints (as they are stored) and random 256-bit descriptors."""
    rng = np.random.default_rng(seed)
    return [
        FrameFeatures(float(n), LocalFeatures(rng.integers(0, 1024, (40, 2)).astype(np.float32), rng.integers(0, 256, (40, 32), dtype=np.uint8)))
        for n in range(count)
    ]


def assert_same_frames(got: list[FrameFeatures], expected: list[FrameFeatures]) -> None:
    assert [frame.timestamp for frame in got] == [frame.timestamp for frame in expected]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.features.points, e.features.points)
        np.testing.assert_array_equal(g.features.descriptors, e.features.descriptors)


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "ReferenceFeaturesBucket", FEATURES)
    return client


@pytest.fixture
def bucket(s3) -> ReferenceFeaturesBucket:
    return ReferenceFeaturesBucket(s3, FEATURES)


def test_features_read_back_as_written(bucket):
    written = frames(1)

    key = bucket.put("ref-1", SHA256, written)

    assert_same_frames(bucket.get(key), written)


def test_features_an_earlier_version_wrote_as_json_still_load(bucket, s3):
    written = frames(2)
    key = f"references/ref-old/{SHA256}.json"
    s3.put_object(Bucket=FEATURES, Key=key, Body=json.dumps([frame.to_dict() for frame in written]).encode())

    assert_same_frames(bucket.get(key), written)


def test_stored_features_take_36_bytes_a_keypoint(bucket, s3):
    key = bucket.put("ref-1", SHA256, frames(3, count=10))

    size = len(s3.get_object(Bucket=FEATURES, Key=key)["Body"].read())

    assert 10 * 40 * 36 <= size <= 10 * 40 * 36 + 2048


def test_an_object_that_is_not_stored_features_is_refused(bucket, s3):
    key = f"references/ref-bad/{SHA256}.npz"
    s3.put_object(Bucket=FEATURES, Key=key, Body=b"not an npz")

    with pytest.raises(ValueError):
        bucket.get(key)


def test_an_unreadable_object_is_left_out_of_a_load_and_logged(bucket, s3, caplog):
    good = bucket.put("ref-1", SHA256, frames(1))
    bad = f"references/ref-bad/{SHA256}.npz"
    s3.put_object(Bucket=FEATURES, Key=bad, Body=b"not an npz")

    loaded = bucket.get_many([good, bad])

    assert loaded[bad] is None and len(loaded[good]) == 3
    assert "reference features unreadable" in caplog.text


def test_a_reference_id_with_a_slash_makes_no_folders_in_the_key(bucket):
    key = bucket.put("bank/item 7", SHA256, frames(1, 1))

    assert key == f"references/bank%2Fitem%207/{SHA256}.npz"


def test_the_features_of_a_removed_reference_are_none(bucket):
    key = bucket.put("ref-1", SHA256, frames(1))
    bucket.delete(key)

    assert bucket.get(key) is None


def test_a_key_never_written_is_none(bucket):
    assert bucket.get(features_key("ref-1", SHA256)) is None


def test_many_references_load_at_once_each_under_its_key(bucket):
    written = {bucket.put(f"ref-{n}", SHA256, frames(n)): frames(n) for n in range(5)}
    gone = features_key("removed", SHA256)

    loaded = bucket.get_many([*written, gone])

    assert loaded[gone] is None
    for key, expected in written.items():
        assert_same_frames(loaded[key], expected)


def test_a_throttled_read_propagates_instead_of_looking_gone(s3):
    # moto never throttles: botocore's Stubber answers in its place.
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)

        with pytest.raises(ClientError):
            ReferenceFeaturesBucket(s3, FEATURES).get(features_key("ref-1", SHA256))
