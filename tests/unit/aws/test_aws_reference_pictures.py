"""Reference pictures in S3: a reference's small frames, kept by reference and timestamp, for reviewers (on moto's in-process S3, the bucket as template.yaml defines it)."""

from __future__ import annotations

import pytest

from tests.aws_moto import s3_client, template_bucket
from hashmatch.aws.reference_pictures import ReferencePictures, reference_picture_key
from hashmatch.model import EncodedDetailPicture

BUCKET = "reference-pictures"


@pytest.fixture
def pictures(aws):
    s3 = s3_client()
    template_bucket(s3, "ReferencePicturesBucket", BUCKET)
    return ReferencePictures(s3, BUCKET)


def frames(*timestamps: float) -> list[EncodedDetailPicture]:
    return [EncodedDetailPicture(t, f"jpeg of {t}".encode()) for t in timestamps]


def test_a_references_pictures_are_listed_by_their_timestamps(pictures):
    pictures.put("ref-1", frames(0.0, 1.0, 2.5))

    assert pictures.timestamps("ref-1") == [0.0, 1.0, 2.5]


def test_a_picture_reads_back_by_reference_and_timestamp(pictures):
    pictures.put("ref-1", frames(0.0, 1.0))

    assert pictures.open("ref-1", 1.0).read() == b"jpeg of 1.0"


def test_adding_a_reference_again_replaces_its_pictures(pictures):
    pictures.put("ref-1", frames(0.0, 1.0, 2.0))

    pictures.put("ref-1", frames(0.0, 0.5))

    assert pictures.timestamps("ref-1") == [0.0, 0.5]


def test_a_reference_id_with_a_slash_does_not_reach_another_references_pictures(pictures):
    pictures.put("ref", frames(0.0))
    pictures.put("ref/1", frames(3.0))

    assert (pictures.timestamps("ref"), pictures.timestamps("ref/1")) == ([0.0], [3.0])
    assert reference_picture_key("ref/1", 3.0) == "ref%2F1/0000003000.jpg"


def test_removing_a_reference_removes_its_pictures_only(pictures):
    pictures.put("ref-1", frames(0.0, 1.0))
    pictures.put("ref-2", frames(0.0))

    assert pictures.delete("ref-1") == 2
    assert (pictures.timestamps("ref-1"), pictures.timestamps("ref-2")) == ([], [0.0])


def test_a_hash_list_entry_has_no_pictures(pictures):
    assert pictures.timestamps("pdq:" + "f" * 64) == []
