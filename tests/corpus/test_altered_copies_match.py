"""One example of each alteration of the robustness suite is caught, and nothing unrelated is."""

import numpy as np
import pytest
from PIL import Image

from hashmatch_tools.evaluation import alterations as alter
from hashmatch_tools.evaluation.suite import IMAGE_ALTERATIONS, VIDEO_FRAME_ALTERATIONS, decode, encode, pan
from hashmatch.media.hashing import hash_media
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.made_media import image_bytes


def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


def picture_bytes(rgb, fmt="JPEG", **options):
    return image_bytes(rgb, fmt, **options)


@pytest.fixture(scope="module")
def bridge(corpus):
    photo = np.asarray(Image.open(corpus / "images/pdq-bridge-mods/aaa-orig.jpg").convert("RGB"))
    return photo, hash_reference(picture_bytes(photo, "PNG"))


@pytest.fixture(scope="module")
def background(corpus):
    return np.asarray(Image.open(corpus / "images/pdq-labelme-subset/q2821.jpg").convert("RGB").resize((1280, 720)))


@pytest.fixture(scope="module")
def chair(corpus, tmp_path_factory):
    frames, fps = decode(corpus / "videos/tmk-sample-videos/chair-orig-22-sd-bar.mp4", seconds=6.0)
    frames = frames[::2]  # 15 frames a second keeps the test quick
    path = tmp_path_factory.mktemp("chair") / "reference.mp4"
    encode(frames, fps / 2, path)
    return frames, fps / 2, hash_reference(path)


def caught(reference, data):
    verdict = compare(reference, hash_media(data))
    return verdict.match


IMAGE_CASES = {
    **{name: (function, {}) for name, function in IMAGE_ALTERATIONS.items() if name not in ("jpeg low quality", "webp re-encode")},
    "jpeg low quality": (lambda rgb: rgb, {"quality": 25}),
}


@pytest.mark.parametrize("alteration", sorted(IMAGE_CASES))
def test_altered_picture_is_caught(bridge, alteration):
    photo, reference = bridge
    function, options = IMAGE_CASES[alteration]
    assert caught(reference, picture_bytes(function(photo), **(options or {"quality": 88})))


def test_webp_re_encoded_picture_is_caught(bridge):
    photo, reference = bridge
    assert caught(reference, picture_bytes(photo, "WEBP", quality=60))


def test_picture_in_picture_still_is_caught(bridge, background):
    photo, reference = bridge
    assert caught(reference, picture_bytes(alter.picture_in_picture(photo, background)))


def test_picture_filmed_off_a_screen_is_caught(bridge):
    photo, reference = bridge
    assert caught(reference, picture_bytes(alter.filmed_off_screen(photo)))


def test_unrelated_pictures_are_not_caught(bridge, corpus):
    _, reference = bridge
    for name in ("pdq-labelme-subset/q1050.jpg", "pdq-misc/pen-and-coaster.png", "pdq-exif-rotation/exif-rotn-3.jpg"):
        assert not caught(reference, (corpus / "images" / name).read_bytes()), name


def video_bytes(frames, fps, tmp_path, name, **options):
    path = tmp_path / name
    encode(frames, fps, path, **options)
    return path.read_bytes()


@pytest.mark.parametrize("alteration", sorted(VIDEO_FRAME_ALTERATIONS))
def test_altered_video_is_caught(chair, tmp_path, alteration):
    frames, fps, reference = chair
    function = VIDEO_FRAME_ALTERATIONS[alteration]
    assert caught(reference, video_bytes([function(f) for f in frames], fps, tmp_path, "copy.mp4"))


def test_video_edits_in_time_are_caught(chair, tmp_path):
    frames, fps, reference = chair
    edits = {
        "speed 1.5x": [frames[int(i * 1.5)] for i in range(int(len(frames) / 1.5))],
        "trim": frames[len(frames) // 4 : 3 * len(frames) // 4],
        "noise": [alter.noise(f, seed=i) for i, f in enumerate(frames)],
    }
    for name, edited in edits.items():
        assert caught(reference, video_bytes(edited, fps, tmp_path, "edit.mp4")), name
    assert caught(reference, video_bytes(frames[:: 2], fps / 2, tmp_path, "rate.mp4")), "frame rate halved"
    assert caught(reference, video_bytes(frames, fps, tmp_path, "low.mp4", bit_rate=150_000)), "low bitrate"
    assert caught(reference, video_bytes(frames, fps, tmp_path, "vp9.webm", codec="libvpx-vp9", bit_rate=400_000)), "VP9"


def test_video_inside_a_longer_unrelated_video_is_caught(chair, corpus, tmp_path):
    frames, fps, reference = chair
    height, width = frames[0].shape[:2]
    filler = [np.asarray(Image.fromarray(f).resize((width, height))) for f in pan(np.asarray(Image.open(corpus / "images/pytx-test-resources/rgb.jpeg").convert("RGB")), seconds=3.0, fps=int(fps))]
    assert caught(reference, video_bytes(filler + frames + filler, fps, tmp_path, "longer.mp4"))


def test_picture_in_picture_video_is_caught(chair, background, tmp_path):
    frames, fps, reference = chair
    assert caught(reference, video_bytes([alter.picture_in_picture(f, background) for f in frames], fps, tmp_path, "pip.mp4"))


def test_video_filmed_off_a_screen_is_caught(chair, tmp_path):
    frames, fps, reference = chair
    assert caught(reference, video_bytes([alter.filmed_off_screen(f, seed=i) for i, f in enumerate(frames)], fps, tmp_path, "screen.mp4"))


def test_unrelated_video_is_not_caught(chair, corpus):
    _, _, reference = chair
    assert not caught(reference, (corpus / "videos/tmk-sample-videos/doorknob-hd-no-bar.mp4").read_bytes())
    assert not caught(reference, (corpus / "videos/tmk-sample-videos/pattern-hd-no-bar.mp4").read_bytes())
