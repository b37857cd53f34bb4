"""TMK+PDQF matching (hashmatch_tools.tmk) on videos the tests make, so that it is checked where the corpus is not.

Skipped, saying why, without tmkpy or ffmpeg; failed instead under HASHMATCH_REQUIRE_TMK=1 (tests/tmk_required.py).
"""

from __future__ import annotations

import pytest

from hashmatch_tools import tmk
from hashmatch_tools.made_media import encode_video, panning
from tests.tmk_required import tmk_here  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tmk")
    made = {
        "known": encode_video(panning(3, 60), fps=20),
        "copy": encode_video(panning(3, 60), fps=20, codec="mpeg4"),  # the same shot, another codec
        "unrelated": encode_video(panning(4, 60), fps=20),
    }
    for name, data in made.items():
        (folder / f"{name}.mp4").write_bytes(data)
    return {name: tmk.video_vectors(folder / f"{name}.mp4") for name in made}


def test_a_video_scores_itself_as_identical(videos):
    assert tmk.scores(videos["known"], videos["known"]) == pytest.approx((1.0, 1.0), abs=1e-4)


def test_a_copy_in_another_codec_reaches_both_thresholds(videos):
    level_1, level_2 = tmk.scores(videos["copy"], videos["known"])
    assert level_1 >= tmk.LEVEL_1_THRESHOLD and level_2 >= tmk.LEVEL_2_THRESHOLD


def test_an_unrelated_video_stays_below_a_threshold(videos):
    level_1, level_2 = tmk.scores(videos["unrelated"], videos["known"])
    assert level_1 < tmk.LEVEL_1_THRESHOLD or level_2 < tmk.LEVEL_2_THRESHOLD
