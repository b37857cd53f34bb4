"""PDQ hashes agree with the values the reference implementations publish (hash lists stay usable)."""

import csv

import numpy as np
import pytest
from PIL import Image

from hashmatch.hashes import Hash
from hashmatch.media.hashing import hash_media
from hashmatch.signals import PdqSignal

TOLERANCE = 10  # bits; the implementations differ in JPEG decoding and resampling only


def expected_rows(corpus):
    with open(corpus / "expected-hashes/pdq/pdq-expected-upstream.csv", newline="") as handle:
        return [row for row in csv.DictReader(handle) if row["hash_kind"] == "pdq"]


def hex_distance(a: str, b: str) -> int:
    return Hash.from_hex(a, 256) - Hash.from_hex(b, 256)


def plain_rows(corpus):
    """Rows a plain hash reproduces: not EXIF-rotated, not 16-bit, not a cropping expectation."""
    for row in expected_rows(corpus):
        path = row["corpus_path"]
        if "exif-rotation" in path or "I16" in path or "letterboxed" in path:
            continue
        yield row


@pytest.mark.parametrize("role", ["reference", "upload"])
def test_pdq_is_within_tolerance_of_every_published_value(corpus, role):
    checked = 0
    for row in plain_rows(corpus):
        frame = hash_media(corpus / row["corpus_path"], role=role).frames[0]
        if frame.quality < PdqSignal.min_quality:
            continue  # flat pictures hash unstably in every implementation and are never matched
        distance = hex_distance(frame.pdq, row["expected_hash"])
        assert distance <= TOLERANCE, f"{row['corpus_path']} ({row['implementation']}): {distance} bits"
        checked += 1
    assert checked >= 60


def test_published_quality_scores_agree(corpus):
    for row in plain_rows(corpus):
        if row["expected_quality"]:
            frame = hash_media(corpus / row["corpus_path"], role="reference").frames[0]
            assert abs(frame.quality - int(row["expected_quality"])) <= 5, row["corpus_path"]


def test_low_quality_pictures_are_flagged_as_such(corpus):
    for name in ("pdq-labelme-subset/q0003.jpg", "pdq-labelme-subset/q0004.jpg", "pdq-misc/small.jpg"):
        assert hash_media(corpus / "images" / name).frames[0].quality < PdqSignal.min_quality


def test_exif_rotated_photos_hash_like_the_reference_on_their_stored_pixels(corpus):
    # Upstream hashers ignore EXIF orientation, so their values are of the stored pixels.
    for row in expected_rows(corpus):
        if "exif-rotation" in row["corpus_path"]:
            stored = np.asarray(Image.open(corpus / row["corpus_path"]).convert("RGB"))
            assert PdqSignal.hash_frame(stored).hash - Hash.from_hex(row["expected_hash"], 256) <= TOLERANCE


def test_exif_rotated_photo_is_hashed_upright_and_still_matches_an_upstream_list(corpus):
    path = corpus / "images/pdq-exif-rotation/exif-rotn-6.jpg"
    (row,) = [r for r in expected_rows(corpus) if r["corpus_path"].endswith("exif-rotn-6.jpg")]
    frame = hash_media(path).frames[0]
    assert hex_distance(frame.pdq, row["expected_hash"]) > PdqSignal.match_threshold  # upright != stored
    assert min(hex_distance(v, row["expected_hash"]) for v in frame.variants) <= TOLERANCE


def test_letterboxed_sample_hashes_as_the_original_picture(corpus):
    (row,) = [r for r in expected_rows(corpus) if "letterboxed" in r["corpus_path"] and "original" in r["note"]]
    frame = hash_media(corpus / row["corpus_path"], role="reference").frames[0]
    assert hex_distance(frame.pdq, row["expected_hash"]) <= TOLERANCE


def test_sixteen_bit_grey_is_scaled_to_eight_bits_not_clipped(corpus):
    # python-threatexchange clips 16-bit values to 255 (its expected quality is 36); a viewer
    # scales them, and so does hashmatch: the hash is that of the 8-bit picture.
    path = corpus / "images/pytx-test-resources/I16.png"
    eight_bit = (np.asarray(Image.open(path), dtype=np.uint32) * 255 + 32767) // 65535
    rgb = np.repeat(eight_bit.astype(np.uint8)[:, :, None], 3, axis=2)
    assert hex_distance(hash_media(path, role="reference").frames[0].pdq, str(PdqSignal.hash_frame(rgb).hash)) <= 2


def test_every_colour_mode_of_the_bridge_photo_hashes_as_its_rgb_copy(corpus):
    folder = corpus / "images/pdq-color-modes"
    rgb = hash_media(folder / "RGB.jpg", role="reference").frames[0].pdq
    for path in sorted(folder.iterdir()):
        assert hex_distance(hash_media(path, role="reference").frames[0].pdq, rgb) <= 4, path.name
