import numpy as np
import pytest

from hashmatch.signals import PRIMARY_SIGNAL, SIGNAL_TYPES, PdqSignal, PHashSignal, signal_type
from hashmatch_tools.made_media import textured


def test_pdq_is_the_primary_signal_with_the_published_threshold():
    assert PRIMARY_SIGNAL is PdqSignal
    assert PdqSignal.match_threshold == 31 and PdqSignal.min_quality == 50 and PdqSignal.bits == 256


def test_every_signal_type_hashes_a_frame_to_its_declared_width():
    rgb = textured(1)
    for signal in SIGNAL_TYPES.values():
        value = signal.hash_frame(rgb)
        assert len(str(value.hash)) == signal.bits // 4


def test_pdq_quality_is_high_for_a_structured_picture_and_low_for_a_flat_one():
    assert PdqSignal.hash_frame(textured(2)).quality >= 80
    assert PdqSignal.hash_frame(np.full((64, 64, 3), 128, np.uint8)).quality < PdqSignal.min_quality


@pytest.mark.parametrize("exact", [True, False])
def test_pdq_variants_include_the_exact_mirrored_picture_hash(exact):
    rgb = textured(3, 200, 150)
    mirrored = PdqSignal.hash_frame(np.ascontiguousarray(rgb[:, ::-1])).hash
    variants = PdqSignal.hash_frame_variants(rgb, exact=exact)
    assert len(variants) == (7 if exact else 8)
    assert mirrored in variants
    assert PdqSignal.hash_frame(rgb).hash - mirrored > PdqSignal.match_threshold


def test_exact_variants_are_the_hashes_of_every_rotation_and_flip():
    rgb = textured(4, 160, 120)
    rotated = PdqSignal.hash_frame(np.ascontiguousarray(np.rot90(rgb, 1))).hash
    upside_down = PdqSignal.hash_frame(np.ascontiguousarray(rgb[::-1])).hash
    variants = PdqSignal.hash_frame_variants(rgb, exact=True)
    assert rotated in variants and upside_down in variants


def test_different_pictures_are_far_apart_in_every_signal():
    a, b = textured(4), textured(5)
    for signal in SIGNAL_TYPES.values():
        assert not signal.is_match(signal.hash_frame(a).hash, signal.hash_frame(b).hash)


def test_a_slight_blur_stays_a_match_in_every_signal():
    from PIL import Image, ImageFilter

    rgb = textured(6)
    blurred = np.asarray(Image.fromarray(rgb).filter(ImageFilter.GaussianBlur(1)))
    for signal in SIGNAL_TYPES.values():
        assert signal.is_match(signal.hash_frame(rgb).hash, signal.hash_frame(blurred).hash)


def test_distance_accepts_hex_strings():
    value = str(PHashSignal.hash_frame(textured(7)).hash)
    assert PHashSignal.distance(value, value) == 0


def test_unknown_signal_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown signal type"):
        signal_type("tmk")


@pytest.mark.parametrize("exact", [True, False])
def test_pdq_hash_taken_with_its_variants_is_the_frames_own_hash(exact):
    rgb = textured(21, 200, 150)
    value, variants = PdqSignal.hash_frame_and_variants(rgb, exact=exact)
    assert value == PdqSignal.hash_frame(rgb)
    assert variants == PdqSignal.hash_frame_variants(rgb, exact=exact)
