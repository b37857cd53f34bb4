"""vPDQ lists are matched as videos, and as the reference implementation matches them: the `vpdq` package is the oracle.

Every corpus video of the chair and pattern families is hashed by `vpdq` itself (every frame, one
thread) and matched against the corpus's two vPDQ lists by vPDQ's documented rule; hashmatch
hashes the same video as an upload and matches it against the list read as a listed video. The
verdicts must agree, except where DIFFERENCES says why they do not.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

import numpy as np
import pytest

from hashmatch.hash_set.lists import HashListEntry, read_hash_list
from hashmatch.hash_set.snapshot import LISTED_VIDEO_PREFIX, HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.media.hashing import hash_media
from hashmatch.signals import PRIMARY_SIGNAL
from tests.conftest import CORPUS

# What vpdq's sdist needs to build (requirements/apt.txt): CMake, and pkg-config finding FFmpeg's libraries.
VPDQ_BUILD_TOOLS = ("cmake", "pkg-config")
VPDQ_BUILD_LIBRARIES = ("libavcodec", "libavformat", "libavutil", "libswscale", "libswresample", "libavfilter", "libavdevice")


def vpdq_cannot_be_built() -> str | None:
    """Why vpdq cannot be built on this machine (a missing tool or FFmpeg library), or None when it can."""
    missing = [tool for tool in VPDQ_BUILD_TOOLS if shutil.which(tool) is None]
    if "pkg-config" not in missing:
        missing += [library for library in VPDQ_BUILD_LIBRARIES if subprocess.run(["pkg-config", "--exists", library], check=False).returncode != 0]
    return f"missing {', '.join(missing)} (requirements/apt.txt; `sudo make system-packages`)" if missing else None


try:
    import vpdq
except ImportError:
    # Skipped only where it cannot be built; where it can, a missing vpdq is an environment behind requirements/dev.txt.
    vpdq, _why = None, vpdq_cannot_be_built()
    if _why is not None:
        pytest.skip(f"the vpdq package (the oracle, requirements/dev.txt) cannot be built here: {_why}", allow_module_level=True)


@pytest.fixture(scope="module")
def oracle():
    if vpdq is None:
        pytest.fail("the vpdq package (requirements/dev.txt) is not installed, though this machine can build it: run `make setup`", pytrace=False)
    return vpdq

# vPDQ's rule, as its README and python-threatexchange's vpdq matcher apply it: exact duplicate hashes
# dropped, frames below quality 50 dropped, a frame matches when within 31 bits of one on the other side;
# a video matches when at least 80 % of the query's frames match (python-threatexchange's
# VPDQ_QUERY_MATCH_THRESHOLD_PERCENT; its compared-side threshold is 0).
VPDQ_DISTANCE, VPDQ_QUALITY, VPDQ_QUERY_PERCENT = 31, 50, 80.0

LISTS = {
    "chair-orig-22-sd-bar": ("chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar", "chair-22-with-large-logo-bar", "chair-orig-22-sd-bar"),
    "pattern-hd-no-bar": ("pattern-hd-no-bar", "pattern-longer-no-bar", "pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar", "pattern-sd-with-large-logo-bar"),
}
VIDEOS = sorted({video for family in LISTS.values() for video in family})

# Where the verdicts differ, and why.
BARS = (
    "hashmatch takes the pillar-box bars off an upload's frames before hashing them (media/borders.py) and also "
    "searches with the uncropped frame's hash; vPDQ hashes whole frames, so the SD copies with bars land more than "
    "31 bits from every frame of the HD list without bars (vPDQ: 0 % both ways)"
)
DIFFERENCES = {
    ("pattern-sd-grey-bar", "pattern-hd-no-bar"): BARS,
    ("pattern-sd-with-small-logo-bar", "pattern-hd-no-bar"): BARS,
}


def packed(hexes: list[str]) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32), axis=1)


def vpdq_percentages(query: list[str], compared: list[str]) -> tuple[float, float]:
    """vPDQ's query and compared match percentages of two sets of (quality-filtered) frame hashes."""
    query, compared = sorted(set(query)), sorted(set(compared))
    if not query or not compared:
        return 0.0, 0.0
    near = (packed(query)[:, None, :] != packed(compared)[None, :, :]).sum(axis=2) <= VPDQ_DISTANCE
    return 100.0 * near.any(axis=1).mean(), 100.0 * near.any(axis=0).mean()


@cache
def vpdq_frames(video: str) -> list[str]:
    """The video's frame hashes as vpdq computes them (every frame; one thread: more hold every decoded frame in memory)."""
    features = vpdq.computeHash(str(CORPUS / "videos/tmk-sample-videos" / f"{video}.mp4"), seconds_per_hash=0, thread_count=1)
    return [feature.hex for feature in features if feature.quality >= VPDQ_QUALITY]


@cache
def listed(name: str) -> tuple[list[str], object]:
    """A vPDQ list's usable hashes (for vPDQ's rule) and the hashmatch Matcher over it read as a listed video."""
    path = CORPUS / "expected-hashes/vpdq" / f"{name}.txt"
    rows = [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]
    hashes = [pdq for _frame, quality, pdq, _seconds in rows if int(quality) >= VPDQ_QUALITY]
    with open(path) as lines:
        entries = [found for found in read_hash_list(lines, name, name=path.name) if isinstance(found, HashListEntry)]  # its frames below quality 50 are skipped lines
    return hashes, hash_set_matcher(HashSetView(HashSetSnapshot.build(entries)), PRIMARY_SIGNAL.match_threshold)


@cache
def uploaded(video: str):
    return hash_media(CORPUS / "videos/tmk-sample-videos" / f"{video}.mp4")


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(LISTS))
@pytest.mark.parametrize("video", VIDEOS)
def test_a_corpus_video_matches_a_vpdq_list_as_vpdq_says(corpus, oracle, video, name):
    hashes, matcher = listed(name)
    query_percent, compared_percent = vpdq_percentages(vpdq_frames(video), hashes)
    vpdq_match = query_percent >= VPDQ_QUERY_PERCENT
    result = matcher.match(uploaded(video))
    key = f"{LISTED_VIDEO_PREFIX}{name}.txt"
    verdict = result.verdicts.get(key)
    ours = verdict is not None and verdict.match

    seen = f"vpdq {query_percent:.2f} % / {compared_percent:.2f} %, hashmatch {verdict.query_match_percent if verdict else 0} % / {verdict.reference_match_percent if verdict else 0} % ({verdict.rule if verdict else None})"
    if (video, name) in DIFFERENCES:
        assert ours != vpdq_match, f"{video} vs {name}: the difference is gone ({seen})"
    else:
        assert ours == vpdq_match, f"{video} vs {name}: {seen}"
    # One listed video is one match, never one per frame.
    assert [k for k, _ in result.matches] == ([key] if ours else [])
