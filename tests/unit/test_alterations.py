"""Each alteration of the robustness suite does what its name says (one example each)."""

import numpy as np
import pytest

from hashmatch_tools.evaluation import alterations as alter
from hashmatch_tools.made_media import textured


@pytest.fixture
def picture():
    return textured(1, 320, 240)


def test_resize_halves_each_side(picture):
    assert alter.resize(picture).shape == (120, 160, 3)


@pytest.mark.parametrize("share", [0.05, 0.10])
def test_crop_cuts_that_share_unevenly_from_each_side(picture, share):
    out = alter.crop(picture, share)
    assert out.shape[0] == pytest.approx(240 * (1 - share), abs=2) and out.shape[1] == pytest.approx(320 * (1 - share), abs=2)
    left = round(320 * share * 0.6)
    assert np.array_equal(out[0, 0], picture[round(240 * share * 0.6), left])


def test_mirror_flips_left_and_right(picture):
    assert np.array_equal(alter.mirror(picture)[:, 0], picture[:, -1])


def test_rotate_90_turns_clockwise(picture):
    out = alter.rotate_90(picture)
    assert out.shape == (320, 240, 3) and np.array_equal(out[0, -1], picture[0, 0])


def test_letterbox_puts_the_picture_between_black_bars(picture):
    out = alter.letterbox(picture, 16 / 9)
    assert out.shape[1] / out.shape[0] == pytest.approx(16 / 9, abs=0.02)
    assert out[:, :10].max() == 0 and out[:, -10:].max() == 0


def test_grayscale_makes_the_channels_equal(picture):
    out = alter.grayscale(picture)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_brightness_contrast_brightens_on_average(picture):
    assert alter.brightness_contrast(picture).mean() > picture.mean()


def test_noise_is_seeded_and_changes_pixels(picture):
    assert np.array_equal(alter.noise(picture, seed=3), alter.noise(picture, seed=3))
    assert np.abs(alter.noise(picture).astype(int) - picture).mean() > 5


def test_logo_changes_only_the_top_right_corner(picture):
    out = alter.logo(picture)
    changed = np.argwhere((out != picture).any(axis=2))
    assert changed.size and changed[:, 0].max() < 240 * 0.3 and changed[:, 1].min() > 320 * 0.7


def test_caption_band_darkens_the_bottom(picture):
    out = alter.caption(picture)
    assert out[-20:].mean() < 80 and np.array_equal(out[:150], picture[:150])


def test_picture_in_picture_shrinks_the_picture_onto_the_background(picture):
    background = textured(2, 640, 360)
    out = alter.picture_in_picture(picture, background, scale=0.4)
    assert out.shape == background.shape
    assert np.array_equal(out[-5:, :5], background[-5:, :5]) and not np.array_equal(out, background)


def test_filmed_off_screen_surrounds_a_warped_blurred_picture(picture):
    out = alter.filmed_off_screen(picture)
    assert out.shape[0] > picture.shape[0] and out.shape[1] > picture.shape[1]
    assert out[:5, :5].mean() < 60  # the dark room around the screen


def test_split_screen_puts_the_picture_in_the_right_half_beside_the_other(picture):
    other = textured(2, 320, 240)
    out = alter.split_screen(picture, other)
    assert out.shape == (720, 1280, 3)
    assert out[:, :640].std() > 10 and out[:, 640:].std() > 10
    # The right half shows the picture fitted (640 x 480 between black bars above and below it).
    assert out[:100, 640:].max() == 0 and out[-100:, 640:].max() == 0


def test_collage_fits_the_picture_into_one_quarter_among_three_others(picture):
    others = [np.full((240, 320, 3), value, np.uint8) for value in (50, 100, 150)]
    out = alter.collage(picture, others, position=1)
    assert out.shape == (720, 1280, 3)
    assert (out[:360, :640] == 50).all() and (out[360:, :640] == 100).all() and (out[360:, 640:] == 150).all()
    assert out[:360, 640:].std() > 10


def test_reframe_vertical_makes_a_9_by_16_frame_with_the_picture_across_its_middle(picture):
    out = alter.reframe_vertical(picture)
    assert out.shape == (1280, 720, 3)
    middle = out[640 - 100 : 640 + 100]
    assert middle.std() > 10 and out[:200].std() < middle.std()  # the blurred copy above is flatter


def test_rotate_turns_the_picture_without_black_wedges(picture):
    out = alter.rotate(picture, 7.0)
    assert out.shape == picture.shape and out[:3, :3].max() > 0 and out[-3:, -3:].max() > 0
    assert not np.array_equal(out, picture)


def test_stretch_widens_only(picture):
    assert alter.stretch(picture, 1.35).shape == (240, 432, 3)


def test_patterned_border_keeps_the_picture_whole_inside_stripes(picture):
    out = alter.patterned_border(picture)
    pad_h, pad_w = round(240 * 0.12), round(320 * 0.12)
    assert np.array_equal(out[pad_h : pad_h + 240, pad_w : pad_w + 320], picture)
    assert len(np.unique(out[:pad_h].reshape(-1, 3), axis=0)) == 3


def test_meme_captions_add_a_white_band_with_text_above_the_picture(picture):
    out = alter.meme_captions(picture)
    band = round(240 * 0.28)
    assert out.shape[0] >= 240 + band - 1 and (out[:band] < 100).any() and np.median(out[:band]) == 255
    assert not np.array_equal(out[-40:], picture[-40:])  # the bottom line is written over the picture


def test_composite_fillers_are_no_reference_and_are_held_out_of_the_benchmark_filler():
    from hashmatch_tools.bench.second_stage_data import FILLER_PHOTOS, UNRELATED_PHOTOS
    from hashmatch_tools.evaluation.suite import COMPOSITE_FILLERS, IMAGE_REFERENCES, VIDEO_REFERENCES

    references = set(IMAGE_REFERENCES.values()) | {relative for relative, _seconds in VIDEO_REFERENCES.values()}
    assert not set(COMPOSITE_FILLERS) & (references | set(FILLER_PHOTOS))
    assert set(COMPOSITE_FILLERS) <= set(UNRELATED_PHOTOS)
