import numpy as np

from hashmatch.borders import BorderTracker, Box, content_box
from makemedia import letterboxed, textured


def test_letterbox_bars_are_found_exactly():
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[30:170, 10:290] = textured(1, 280, 140)
    assert content_box(rgb) == Box(30, 170, 10, 290)


def test_a_picture_without_borders_keeps_its_whole_box():
    rgb = textured(2)
    assert content_box(rgb).is_whole(rgb.shape)


def test_a_uniform_frame_has_no_content_box():
    assert content_box(np.zeros((90, 160, 3), np.uint8)) is None
    assert content_box(np.full((90, 160, 3), 255, np.uint8)) is None


def test_a_coloured_stripe_is_content_not_border():
    rgb = textured(3)
    rgb[:40] = (40, 90, 200)  # a clear blue sky
    assert content_box(rgb).top == 0


def test_noisy_bars_from_lossy_encoding_still_count_as_border():
    rng = np.random.default_rng(0)
    rgb = letterboxed(textured(4, 320, 240), bar=0.125)
    noisy = np.clip(rgb.astype(int) + rng.integers(0, 12, rgb.shape) * (rgb == 0), 0, 255).astype(np.uint8)
    box = content_box(noisy)
    assert abs(box.top - 30) <= 1 and abs(box.bottom - 210) <= 1


def test_a_video_box_is_the_union_over_its_first_frames():
    tracker = BorderTracker()
    dark_top = np.zeros((100, 100, 3), np.uint8)
    dark_top[50:90, 10:90] = 200
    bright = np.zeros((100, 100, 3), np.uint8)
    bright[10:90, 10:90] = 200
    tracker.observe(dark_top)
    tracker.observe(bright)
    assert tracker.box == Box(10, 90, 10, 90)
