"""Detail pictures in S3: an upload's JPEGs in one object, read back by byte range through the message's description."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.aws_moto import CallLog, s3_client, template_bucket
from hashmatch.aws.detail_pictures import detail_picture_loader, detail_pictures_key, open_detail_picture, read_detail_pictures, store_detail_pictures, stored_detail_pictures
from hashmatch.messages.hashes import DetailPicturesObject, StoredPicture
from hashmatch.media.hashing import encode_detail_picture
from hashmatch.model import DetailPicture

DETAILS = "details"
SHA256 = "ab" * 32


def grey_picture(seed: int, timestamp: float, insets=()) -> DetailPicture:
    rng = np.random.default_rng(seed)
    return DetailPicture(timestamp, rng.integers(0, 256, (48, 64), dtype=np.uint8), insets)


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "DetailsBucket", DETAILS)
    return client


@pytest.fixture
def calls(s3) -> CallLog:
    return CallLog(s3)


@pytest.fixture
def pictures():
    return [
        encode_detail_picture(grey_picture(1, 0.0)),
        encode_detail_picture(grey_picture(2, 2.0, insets=((0.1, 0.9, 0.2, 0.8),))),
        encode_detail_picture(grey_picture(3, 4.0)),
    ]


def test_an_uploads_pictures_go_into_one_object_named_by_its_sha256(s3, calls, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    assert (stored.bucket, stored.key) == (DETAILS, detail_pictures_key(SHA256))
    assert calls.operations() == ["PutObject"]


def test_stored_pictures_read_back_as_the_same_jpegs_timestamps_and_insets(s3, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    assert read_detail_pictures(s3, stored) == pictures


def test_every_read_back_picture_decodes_as_a_jpeg(s3, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    for picture in read_detail_pictures(s3, stored):
        assert Image.open(io.BytesIO(picture.jpeg)).format == "JPEG"


def test_the_description_survives_the_hashes_message(s3, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    carried = DetailPicturesObject.from_dict(json.loads(json.dumps(stored.to_dict())))

    assert carried == stored
    assert read_detail_pictures(s3, carried) == pictures


def test_the_loader_reads_nothing_until_called(s3, calls, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    load = detail_picture_loader(s3, stored)
    assert "GetObject" not in calls.operations()

    assert load() == pictures
    assert calls.operations().count("GetObject") == 1


def test_no_pictures_store_no_object(s3, calls):
    assert store_detail_pictures(s3, DETAILS, SHA256, []) is None
    assert calls.operations() == []


def test_an_object_shorter_than_its_pictures_is_refused(s3, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)
    s3.put_object(Bucket=DETAILS, Key=stored.key, Body=b"".join(p.jpeg for p in pictures)[:-1])

    with pytest.raises(ValueError, match="shorter than its pictures"):
        read_detail_pictures(s3, stored)


def test_a_stored_picture_without_insets_leaves_them_out_of_its_dict():
    assert StoredPicture(1.5, 0, 10).to_dict() == {"timestamp": 1.5, "offset": 0, "length": 10}


def test_a_stored_picture_survives_its_dict_form_with_insets():
    picture = StoredPicture(2.0, 100, 50, ((0.1, 0.9, 0.2, 0.8),))

    assert StoredPicture.from_dict(json.loads(json.dumps(picture.to_dict()))) == picture


def test_an_inset_that_is_not_four_shares_is_refused():
    with pytest.raises(ValueError, match="four shares"):
        StoredPicture.from_dict({"timestamp": 0, "offset": 0, "length": 1, "insets": [[0.1, 0.9, 0.2]]})


@pytest.mark.parametrize("offset, length", [(-1, 10), (0, 0), (5, -3)])
def test_a_description_with_a_negative_offset_or_an_empty_range_is_refused(offset, length):
    with pytest.raises(ValueError, match="non-negative offset and a positive length"):
        DetailPicturesObject.from_dict({"bucket": DETAILS, "key": "k", "pictures": [{"timestamp": 0, "offset": offset, "length": length}]})


def test_the_objects_own_index_says_where_each_picture_is_without_the_hashes_message(s3, pictures):
    stored = store_detail_pictures(s3, DETAILS, SHA256, pictures)

    found = stored_detail_pictures(s3, DETAILS, SHA256)

    assert [(p.timestamp, p.offset, p.length) for p in found.pictures] == [(p.timestamp, p.offset, p.length) for p in stored.pictures]


def test_one_picture_reads_back_alone_by_its_byte_range(s3, pictures):
    store_detail_pictures(s3, DETAILS, SHA256, pictures)

    body = open_detail_picture(s3, stored_detail_pictures(s3, DETAILS, SHA256), 1)

    assert body.read() == pictures[1].jpeg


def test_an_upload_whose_pictures_are_not_there_has_no_index(s3):
    assert stored_detail_pictures(s3, DETAILS, "cd" * 32) is None
