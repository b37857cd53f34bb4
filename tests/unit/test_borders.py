import numpy as np

from hashmatch.media.borders import BorderTracker, Box, InnerTracker, content_box, inner_boxes
from hashmatch_tools.made_media import letterboxed, textured


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


def stripes(width=512, height=288):
    """A high-contrast diagonal background: edges everywhere, but none long and straight."""
    y, x = np.mgrid[0:height, 0:width]
    return np.repeat((((x + 2 * y) // 24) % 2 * 255).astype(np.uint8)[:, :, None], 3, axis=2)


def with_inset(background, picture, left=220, top=40):
    out = background.copy()
    out[top : top + picture.shape[0], left : left + picture.shape[1]] = picture
    return out


def test_a_picture_inside_a_picture_is_found():
    framed = with_inset(stripes(), textured(5, 200, 150))
    (box,) = inner_boxes(framed)
    assert abs(box.left - 220) <= 2 and abs(box.right - 420) <= 2 and abs(box.top - 40) <= 3 and abs(box.bottom - 190) <= 3


def test_a_plain_picture_has_no_inner_picture():
    assert inner_boxes(textured(6, 512, 288)) == []


def test_the_inner_picture_of_a_video_is_the_one_its_frames_agree_on():
    tracker = InnerTracker()
    for seed in range(InnerTracker.FRAMES):
        tracker.observe(with_inset(stripes(), textured(10 + seed, 200, 150)))
    crop = tracker.crop(with_inset(stripes(), textured(99, 200, 150)))
    assert tracker.settled and crop is not None and abs(crop.shape[0] - 150) <= 3 and abs(crop.shape[1] - 200) <= 2


def test_a_reference_video_opening_on_a_plain_area_is_not_cropped_for_its_whole_length():
    # A pan that starts on a white wall and moves onto a textured scene within a second: decoded frame by frame, the
    # first frames all show the wall on the left, which sparse sampling's first frames, seconds apart, mostly do not.
    from hashmatch.media.hashing import hash_media
    from hashmatch.signals import PRIMARY_SIGNAL
    from hashmatch.vocabulary import Role
    from hashmatch_tools.made_media import encode_video, textured

    width, height, speed, count = 320, 240, 10, 80
    canvas = textured(81, width + speed * count, height)
    canvas[:, :100] = 250
    frames = [np.ascontiguousarray(canvas[:, i * speed : i * speed + width]) for i in range(count)]
    video = encode_video(frames, fps=10)

    reference, upload = hash_media(video, role=Role.REFERENCE), hash_media(video)

    distances = [min(PRIMARY_SIGNAL.distance(query, known.pdq) for known in reference.frames for query in frame.query_hashes) for frame in upload.frames]
    assert distances and max(distances) <= PRIMARY_SIGNAL.match_threshold
