"""What the review desk shows side by side: the upload's pictures in the matched stretches beside the reference's of the same
moment, the reference's pictures as they are kept (small, grey, capped), and the outline of a local-feature match."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from hashmatch.model import DetailPicture
from hashmatch_tools.made_media import detailed
from hashmatch_tools.references import REFERENCE_PICTURE_SIDE, reference_pictures
from hashmatch_tools.review.pictures import PicturePair, outline_shares, side_by_side


def test_each_upload_picture_in_a_matched_stretch_is_paired_with_the_reference_picture_of_the_same_moment():
    pairs = side_by_side([0.0, 2.0, 4.0, 6.0], [10.0, 11.0, 12.0, 13.0, 14.0], query_segments=[[2.0, 4.0]], reference_segments=[[11.0, 13.0]])

    assert pairs == [PicturePair(1, 2.0, 11.0), PicturePair(2, 4.0, 13.0)]


def test_at_most_four_pairs_are_shown_spread_over_the_match():
    upload = [float(t) for t in range(0, 32, 2)]

    pairs = side_by_side(upload, upload, query_segments=[[0.0, 30.0]], reference_segments=[[0.0, 30.0]])

    assert [pair.upload_timestamp for pair in pairs] == [0.0, 10.0, 20.0, 30.0]


def test_without_upload_pictures_the_reference_is_shown_at_its_matched_stretches():
    pairs = side_by_side([], [0.0, 5.0, 9.0], query_segments=[[0.0, 2.0]], reference_segments=[[5.0, 7.0]])

    assert pairs == [PicturePair(None, None, 5.0)]


def test_reference_pictures_are_grey_jpegs_no_larger_than_their_side():
    grey = np.asarray(Image.fromarray(detailed(4, 1024, 576)).convert("L"))

    (picture,) = reference_pictures([DetailPicture(1.0, grey)])

    shown = Image.open(io.BytesIO(picture.jpeg))
    assert (shown.format, shown.mode, max(shown.size), picture.timestamp) == ("JPEG", "L", REFERENCE_PICTURE_SIDE, 1.0)


def test_a_long_references_pictures_are_spread_over_it_up_to_the_limit():
    grey = np.zeros((64, 64), np.uint8)

    kept = reference_pictures([DetailPicture(float(t), grey) for t in range(100)], limit=5)

    assert [picture.timestamp for picture in kept] == [0.0, 25.0, 50.0, 74.0, 99.0]


def jpeg(grey: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(grey, "L").save(out, format="JPEG", quality=90)
    return out.getvalue()


def test_a_local_feature_match_is_outlined_where_the_reference_sits_in_the_upload():
    reference = np.asarray(Image.fromarray(detailed(7, 384, 288)).convert("L"))
    upload = np.asarray(Image.fromarray(detailed(8, 1024, 768)).convert("L")).copy()
    upload[200:488, 300:684] = reference  # the known picture inside another, as in a picture-in-picture copy

    corners = outline_shares(jpeg(upload), jpeg(reference))

    expected = [(300 / 1024, 200 / 768), (684 / 1024, 200 / 768), (684 / 1024, 488 / 768), (300 / 1024, 488 / 768)]
    assert corners is not None and np.allclose(corners, expected, atol=0.02)


def test_unrelated_pictures_get_no_outline():
    one = np.asarray(Image.fromarray(detailed(7, 384, 288)).convert("L"))
    other = np.asarray(Image.fromarray(detailed(9, 1024, 768)).convert("L"))

    assert outline_shares(jpeg(other), jpeg(one)) is None
