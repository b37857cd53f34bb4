"""Mirrored and letterboxed copies of corpus media still match (borders removed, mirrors hashed)."""

import numpy as np
import pytest
from PIL import Image

from hashmatch.media.hashing import hash_media
from hashmatch.media.decode import open_media
from hashmatch.media.sampling import DENSE
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.made_media import encode_video, image_bytes, letterboxed


def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


def picture_bytes(rgb):
    return image_bytes(rgb, "JPEG", quality=90)


@pytest.fixture(scope="module")
def bridge(corpus):
    path = corpus / "images/pdq-bridge-mods/aaa-orig.jpg"
    return np.asarray(Image.open(path).convert("RGB")), hash_reference(path)


@pytest.fixture(scope="module")
def chair(corpus):
    """The first 6 s of the chair reference, decoded, and its reference hashes."""
    path = corpus / "videos/tmk-sample-videos/chair-orig-22-sd-bar.mp4"
    frames = [f.rgb for f in open_media(path).frames(DENSE, remove_borders=False) if f.timestamp < 6.0]
    return frames, hash_reference(encode_video(frames, fps=30))


def test_mirrored_corpus_image_matches(bridge):
    rgb, reference = bridge
    assert compare(reference, hash_media(picture_bytes(rgb[:, ::-1]))).match


def test_letterboxed_corpus_image_matches(bridge):
    rgb, reference = bridge
    assert compare(reference, hash_media(picture_bytes(letterboxed(rgb, bar=0.12, pillar=0.05)))).match


def test_unrelated_corpus_image_does_not_match(bridge, corpus):
    _, reference = bridge
    assert not compare(reference, hash_media(corpus / "images/pdq-misc/pen-and-coaster.png")).match


def test_mirrored_corpus_video_matches(chair):
    frames, reference = chair
    verdict = compare(reference, hash_media(encode_video([np.ascontiguousarray(f[:, ::-1]) for f in frames], fps=30)))
    assert verdict.match and verdict.query_match_percent >= 80


def test_letterboxed_corpus_video_matches(chair):
    frames, reference = chair
    # The SD chair already has pillar bars; add letterbox bars too, as a re-upload in 16:9 would.
    boxed = [letterboxed(f, bar=0.15) for f in frames]
    verdict = compare(reference, hash_media(encode_video(boxed, fps=30)))
    assert verdict.match and verdict.query_match_percent >= 80
