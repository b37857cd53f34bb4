"""Uploads built to carry a known picture or video past the hasher (issue 27, items 1-4): each is matched or held, never passed.

Each test builds its upload with hashmatch_tools.adversarial from a known picture or video made here, hashes the
known media as a reference, and asks what the hasher and matcher do with the upload (adversarial.outcome).
"""

from __future__ import annotations

import numpy as np
import pytest

from hashmatch_tools import adversarial
from hashmatch_tools.made_media import encode_video, image_bytes, panning, textured
from hashmatch_tools.matching import hash_reference

KNOWN = textured(101, 320, 240)
BENIGN = textured(202, 320, 240)
CAUGHT = ("matched", "held")


@pytest.fixture(scope="module")
def known_picture():
    return hash_reference(image_bytes(KNOWN))


def scenes(seed: int, count: int = 20, frames_per_scene: int = 20) -> list[np.ndarray]:
    """A video of `count` scenes, each a short pan across a picture of its own (2 s at 10 fps): every frame a usable PDQ hash."""
    return [frame for scene in range(count) for frame in panning(seed + scene, frames_per_scene, 160, 120, speed=2)]


@pytest.fixture(scope="module")
def known_frames():
    return scenes(103)  # 40 s at 10 fps


@pytest.fixture(scope="module")
def known_video(known_frames):
    return hash_reference(encode_video(known_frames, fps=10))


def small(picture: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(picture[:120, :160])


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_an_animation_with_benign_frames_shown_20_ms_at_the_grid_instants_is_caught(fmt, known_picture):
    upload = adversarial.animation_with_benign_instants(KNOWN, BENIGN, seconds=40.0, fmt=fmt)

    assert adversarial.outcome(upload, known_picture) in CAUGHT


def test_an_mp4_whose_forced_keyframes_are_benign_and_frames_between_known_is_caught(known_frames, known_video):
    upload = adversarial.keyframes_benign(known_frames, small(BENIGN), fps=10, keyframe_seconds=0.5)

    assert adversarial.outcome(upload, known_video) in CAUGHT


def test_a_variable_frame_rate_video_with_a_1_ms_benign_frame_at_each_grid_instant_is_caught(known_frames, known_video):
    upload = adversarial.benign_flashes(known_frames, small(BENIGN), fps=10, flash_seconds=0.001)

    assert adversarial.outcome(upload, known_video) in CAUGHT


@pytest.mark.parametrize("container", ["matroska", "mp4"])
def test_a_known_second_video_track_behind_a_benign_first_one_is_caught(container, known_frames, known_video):
    benign = scenes(404)

    upload = adversarial.second_video_track(known_frames, benign, container=container)

    assert adversarial.outcome(upload, known_video) in CAUGHT


@pytest.mark.parametrize("container", ["mp3", "mp4"])
def test_known_cover_art_of_an_audio_file_is_caught(container, known_picture):
    upload = adversarial.cover_art(KNOWN, container=container)

    assert adversarial.outcome(upload, known_picture) in CAUGHT


def test_a_known_picture_in_a_bitmap_subtitle_stream_is_caught(known_picture):
    benign = panning(205, 100, 320, 240, speed=1)

    upload = adversarial.pgs_subtitles(benign, KNOWN, fps=10)

    assert adversarial.outcome(upload, known_picture) in CAUGHT


def test_a_known_second_tiff_page_is_caught(known_picture):
    assert adversarial.outcome(adversarial.tiff_pages(KNOWN, BENIGN), known_picture) in CAUGHT


def test_a_known_second_mpo_picture_is_caught(known_picture):
    assert adversarial.outcome(adversarial.mpo(KNOWN, BENIGN), known_picture) in CAUGHT


def test_a_known_smaller_icon_entry_is_caught():
    square = textured(106, 256, 256)
    reference = hash_reference(image_bytes(square))

    assert adversarial.outcome(adversarial.ico_entries(square, textured(207, 256, 256)), reference) in CAUGHT


def test_a_ten_minute_video_with_one_benign_keyframe_at_its_start_is_caught():
    known = panning(108, 1200, 96, 64, speed=1)  # ten minutes at 2 fps
    reference = hash_reference(encode_video(known, fps=2))

    upload = adversarial.one_keyframe(known, np.ascontiguousarray(BENIGN[:64, :96]), fps=2)

    assert adversarial.outcome(upload, reference) in CAUGHT


def test_a_png_with_black_colour_and_the_picture_in_its_alpha_channel_is_caught():
    grey = np.repeat(np.asarray(textured(109).mean(axis=2), np.uint8)[:, :, None], 3, axis=2)
    reference = hash_reference(image_bytes(grey))

    assert adversarial.outcome(adversarial.picture_in_alpha(grey), reference) in CAUGHT


def test_an_svg_with_the_known_picture_embedded_as_a_raster_is_caught(known_picture):
    assert adversarial.outcome(adversarial.svg_with_raster(KNOWN), known_picture) in CAUGHT


@pytest.mark.parametrize("build", [adversarial.jpeg_xl_container, adversarial.jpeg_xl_codestream])
def test_jpeg_xl_is_held_as_media_that_cannot_be_read_here(build, known_picture):
    assert adversarial.outcome(build(), known_picture) == "held"


def test_a_zip_of_pictures_with_the_known_one_inside_is_caught(known_picture):
    assert adversarial.outcome(adversarial.zip_of_pictures(KNOWN, BENIGN), known_picture) in CAUGHT
