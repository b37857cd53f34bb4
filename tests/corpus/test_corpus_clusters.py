"""The corpus video families come out as the upstream expectations say (the `compare` contract)."""

import json

import pytest

from hashmatch_tools.cli import main
from hashmatch.media.hashing import hash_media
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


CHAIR_VARIANTS = ["chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar"]
PATTERN_VARIANTS = ["pattern-longer-no-bar", "pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar"]
REFERENCES = {"chair": "chair-orig-22-sd-bar", "pattern": "pattern-hd-no-bar"}


@pytest.fixture(scope="module")
def videos(corpus):
    return corpus / "videos/tmk-sample-videos"


@pytest.fixture(scope="module")
def references(videos):
    return {family: hash_reference(videos / f"{name}.mp4") for family, name in REFERENCES.items()}


@pytest.fixture(scope="module")
def uploads(videos):
    return {path.stem: hash_media(path) for path in sorted(videos.glob("*.mp4"))}


@pytest.mark.parametrize("name", CHAIR_VARIANTS)
def test_every_chair_variant_matches_the_chair_reference(references, uploads, name):
    assert compare(references["chair"], uploads[name]).match


@pytest.mark.parametrize("name", PATTERN_VARIANTS)
def test_every_pattern_variant_but_the_large_logo_matches_the_pattern_reference(references, uploads, name):
    assert compare(references["pattern"], uploads[name]).match


@pytest.mark.parametrize("family", ["chair", "pattern"])
def test_no_video_matches_the_other_family_or_the_doorknob(references, uploads, family):
    members = {REFERENCES[family], *(CHAIR_VARIANTS if family == "chair" else PATTERN_VARIANTS), f"{family}-22-with-large-logo-bar", f"{family}-sd-with-large-logo-bar"}
    for name, upload in uploads.items():
        if name not in members:
            assert not compare(references[family], upload).match, name


def test_a_trimmed_copy_covers_most_but_not_all_of_the_reference(references, uploads):
    verdict = compare(references["chair"], uploads["chair-19-sd-bar"])
    assert verdict.query_match_percent >= 90
    assert 75 <= verdict.reference_match_percent <= 90  # 18.8 s of 22.5 s


def test_a_longer_cut_covers_the_whole_reference(references, uploads):
    verdict = compare(references["pattern"], uploads["pattern-longer-no-bar"])
    assert verdict.reference_match_percent >= 90


def test_compare_cli_reproduces_the_clusters(videos, capsys):
    queries = [videos / f"{name}.mp4" for name in ("chair-19-sd-bar", "chair-22-sd-sepia-bar", "doorknob-hd-no-bar")]
    assert main(["compare", "--json", str(videos / "chair-orig-22-sd-bar.mp4"), *map(str, queries)]) == 0
    verdicts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(v["query"], v["match"]) for v in verdicts] == [(str(queries[0]), True), (str(queries[1]), True), (str(queries[2]), False)]
