"""The adversarial suite (issue 27): uploads built to carry known content past the pipeline are matched or held, never passed.

Each case is decided by the pipeline itself (hashmatch_tools.evaluation.pipeline): hashed as the
Lambda hasher hashes an upload, checked as the matcher checks it, holds included. Constructions
today's code lets through are expected failures (strict): when a fix catches one, its test passes,
strict xfail turns that into a failure, and the mark comes off.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from hashmatch_tools import adversarial
from hashmatch_tools.evaluation.adversarial import CASES, Content, HashSets, interleaved_upload, interleavings
from hashmatch_tools.evaluation.pipeline import Decision

ANSWERED = (Decision.MATCHED, Decision.HELD)
BY_NAME = {case.name: case for case in CASES}


def known_failure(item: int, construction: str):
    return pytest.mark.xfail(strict=True, reason=f"issue 27 item {item}: {construction}")


def case(name: str, *marks):
    return pytest.param(BY_NAME[name], marks=marks, id=name)


@pytest.fixture(scope="module")
def hash_sets() -> HashSets:
    return HashSets(Content.made())


def needs_jpeg_xl(construction):
    if construction.name.startswith("JPEG XL") and not adversarial.jpeg_xl_available():
        pytest.skip("making JPEG XL needs ffmpeg with libjxl (requirements/apt.txt)")


# Every case of CASES, with today's failures marked.
CONSTRUCTIONS = [
    case("grid-aligned benign frames (GIF)", known_failure(1, "grid-aligned benign animation frames (GIF)")),
    case("grid-aligned benign frames (WebP)", known_failure(1, "grid-aligned benign animation frames (WebP)")),
    case("grid-aligned benign frames (APNG)", known_failure(1, "grid-aligned benign animation frames (APNG)")),
    case("benign keyframes forced every 0.5 s", known_failure(1, "forced benign keyframes")),
    case("1 ms benign frame at each sampled instant (VFR)", known_failure(1, "VFR 1 ms benign frames at the sampled instants")),
    case("benign first video track, known second (Matroska)", known_failure(2, "benign first track, known second track (Matroska)")),
    case("benign first video track, known second (MP4)", known_failure(2, "benign first track, known second track (MP4)")),
    case("known cover art on a benign video (Matroska attachment)", known_failure(2, "cover art (Matroska attachment)")),
    case("known cover art on a benign video (MP4 attached picture)", known_failure(2, "cover art (MP4 attached picture)")),
    case("known picture as bitmap subtitles (PGS) over a benign video", known_failure(2, "bitmap subtitles")),
    case("multi-page TIFF, known second page", known_failure(2, "multi-page TIFF")),
    case("MPO, known second picture", known_failure(2, "MPO")),
    case("ICO, known largest picture, benign first entry", known_failure(2, "ICO")),
    case("picture carried in the alpha channel", known_failure(2, "alpha-carried picture")),
    case("10-minute long GOP, one benign keyframe, known after it", known_failure(3, "long GOP with one benign keyframe")),
    case("SVG with the picture embedded as a raster", known_failure(4, "SVG with an embedded raster")),
    case("JPEG XL codestream", known_failure(4, "JPEG XL codestream")),
    case("JPEG XL container", known_failure(4, "JPEG XL container")),
    case("ZIP holding the picture", known_failure(4, "ZIP")),
    case("12 s excerpt inside a 40 s video (30 % of each)", known_failure(5, "excerpt inside a long video")),
    case("split screen, known half (picture)", known_failure(6, "split screen (picture)")),
    case("3x3 collage, known centre tile (picture)", known_failure(6, "collage (picture)")),
    case("inset at 60 % into another picture"),
    case("thumbnail at 25 %"),
    case("split screen, known half (video)", known_failure(6, "split screen (video)")),
    case("vPDQ list of the known video, the video uploaded", known_failure(7, "vPDQ list vs video")),
]


@pytest.mark.parametrize("construction", CONSTRUCTIONS)
def test_construction_is_matched_or_held(construction, hash_sets):
    needs_jpeg_xl(construction)

    outcome = construction.decide(hash_sets)

    assert outcome.decision in ANSWERED, f"{construction.name}: {outcome.decision} ({outcome.hashing}, {outcome.checking}) {outcome.detail}"


def test_every_case_has_a_test():
    # A case added to CASES needs its line in CONSTRUCTIONS (and its mark, if today's code lets it through).
    assert {param.id for param in CONSTRUCTIONS} == set(BY_NAME)


@pytest.mark.parametrize("construction", [pytest.param(c, id=c.name) for c in CASES if c.control is not None])
def test_known_content_shown_plainly_the_same_way_is_matched(construction, hash_sets):
    # The control: without the construction the same container's known content matches, so a case that
    # passes does so because of its construction, not because its known content is unrecognisable.
    outcome = construction.decide_control(hash_sets)

    assert outcome.decision == Decision.MATCHED, f"{construction.name} (control): {outcome.decision} {outcome.detail}"


@pytest.mark.xfail(strict=True, reason="issue 27 item 10: random interleavings of known and benign content (today's passes: items 1, 2 and 5)")
@given(plan=interleavings())
def test_random_interleavings_of_known_and_benign_content_are_matched_or_held(plan, hash_sets):
    outcome = hash_sets.media.decide(interleaved_upload(plan, hash_sets.content), "interleaving")

    assert outcome.decision in ANSWERED, f"{plan}: {outcome.decision} ({outcome.checking})"
