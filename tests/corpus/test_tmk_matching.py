"""TMK+PDQF matching where tmkpy is installed (hashmatch_tools.tmk): the corpus's expected TMK hashes as a list's entries, its videos as queries.

tmk's README clusters its sample videos with c1 = c2 = 0.7: the chair family (trims, grey, sepia, small
logo) apart from the large-logo copy, the pattern family apart from its large-logo copy, the doorknob
alone. Skipped, saying why, without tmkpy (requirements/tmk.txt, `make tmk`) or an ffmpeg executable; with
HASHMATCH_REQUIRE_TMK=1 (CI, which installs both) they fail instead.
"""

from __future__ import annotations

import shutil

import pytest

from hashmatch.hash_set.formats.tmk import TmkEntry, tmk_text
from hashmatch_tools import tmk

VIDEOS = "videos/tmk-sample-videos"
HASHES = "expected-hashes/tmk"

from tests.tmk_required import tmk_here  # noqa: F401 (an autouse fixture)


@pytest.fixture(scope="module")
def references(corpus):
    entries = [TmkEntry(hash=tmk_text((corpus / HASHES / f"{name}.tmk").read_bytes()), labels=(name,), source="corpus") for name in ("chair-orig-22-sd-bar", "pattern-hd-no-bar")]
    return entries, [tmk.entry_vectors(entry) for entry in entries]


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ("chair-19-sd-bar", ["chair-orig-22-sd-bar"]),
        ("chair-22-sd-sepia-bar", ["chair-orig-22-sd-bar"]),
        ("chair-22-with-large-logo-bar", []),
        ("pattern-sd-grey-bar", ["pattern-hd-no-bar"]),
        ("pattern-sd-with-large-logo-bar", []),
        ("doorknob-hd-no-bar", []),
    ],
)
def test_videos_match_the_tmk_entries_of_their_family_as_tmks_readme_clusters_them(corpus, references, video, expected):
    entries, listed = references
    found = tmk.match_tmk(tmk.video_vectors(corpus / VIDEOS / f"{video}.mp4"), entries, listed)
    assert [match.entry.labels[0] for match in found] == expected


def test_a_video_hashed_here_scores_its_own_expected_hash_as_identical(corpus, references):
    _, listed = references
    assert tmk.scores(tmk.video_vectors(corpus / VIDEOS / "chair-orig-22-sd-bar.mp4"), listed[0]) == pytest.approx((1.0, 1.0), abs=1e-4)


def test_a_video_whose_name_a_shell_would_read_is_hashed_as_any_other(corpus, references, tmp_path):
    odd = tmp_path / "clip; touch pwned $(id).mp4"
    shutil.copyfile(corpus / VIDEOS / "chair-19-sd-bar.mp4", odd)
    entries, listed = references
    assert [m.entry.labels[0] for m in tmk.match_tmk(tmk.video_vectors(odd), entries, listed)] == ["chair-orig-22-sd-bar"] and not (tmp_path / "pwned").exists()
