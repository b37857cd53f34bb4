"""Recall on the untuned references (evaluation/negatives/positives.py): the fixed sample, what counts as a hit, the stage behind it, and the interval."""

from __future__ import annotations

import random
from statistics import NormalDist

from hashmatch_tools.evaluation.negatives.positives import (
    Copy, CopyRecord, MatchedBy, Result, Tally, best_distance, classify, matched_by, sample_references, summary_lines, wilson_interval,
)
from hashmatch_tools.evaluation.pipeline import Decision

NAMES = ["suite/image/bridge", "suite/video/chair"] + [f"still/{n:016x}" for n in range(200)] + [f"video/{n:04d}" for n in range(40)]
Z = NormalDist().inv_cdf(0.975)


def record(reference: str, decision: Decision, named: tuple[str, ...], stage: MatchedBy | None = None) -> CopyRecord:
    copy = Copy(reference, "picture", "crop 10 %", f"pictures/{reference}/crop-10.jpg")
    return CopyRecord(copy, decision, classify(decision, named, reference), stage, named, (), "", 0.1)


def test_the_same_seed_samples_the_same_references_whatever_order_the_names_come_in():
    shuffled = NAMES[:]
    random.Random(5).shuffle(shuffled)

    assert sample_references(NAMES, 10, 4, seed=31) == sample_references(shuffled, 10, 4, seed=31)


def test_another_seed_samples_other_references():
    assert sample_references(NAMES, 10, 4, seed=31) != sample_references(NAMES, 10, 4, seed=32)


def test_the_sample_takes_the_asked_number_of_stills_and_videos_and_never_a_suite_reference():
    stills, videos = sample_references(NAMES, 10, 4)

    assert len(set(stills)) == 10 and all(name.startswith("still/") for name in stills)
    assert len(set(videos)) == 4 and all(name.startswith("video/") for name in videos)


def test_a_copy_matched_to_another_reference_only_is_a_wrong_reference_not_a_hit():
    assert classify(Decision.MATCHED, ("still/other",), "still/own") == Result.WRONG_REFERENCE


def test_a_copy_matched_naming_its_own_reference_among_others_is_a_hit():
    assert classify(Decision.MATCHED, ("still/other", "still/own"), "still/own") == Result.HIT


def test_a_copy_that_passes_is_missed_and_one_held_is_held():
    assert (classify(Decision.PASSED, (), "still/own"), classify(Decision.HELD, (), "still/own")) == (Result.MISSED, Result.HELD)


def test_a_hit_by_local_features_is_the_second_stages():
    assert matched_by("orb", layout_stage_ran=True) == MatchedBy.LOCAL_FEATURES


def test_a_pdq_hit_after_the_layout_stage_ran_is_the_layout_parts():
    assert matched_by("pdq", layout_stage_ran=True) == MatchedBy.LAYOUT


def test_a_pdq_hit_before_the_layout_stage_is_the_whole_frames():
    assert matched_by("pdq", layout_stage_ran=False) == MatchedBy.PDQ


def test_wrong_reference_matches_are_counted_apart_from_the_hits():
    tally = Tally()
    for each in (record("still/a", Decision.MATCHED, ("still/a",), MatchedBy.PDQ), record("still/b", Decision.MATCHED, ("still/c",)), record("still/d", Decision.PASSED, ())):
        tally.add(each)

    assert (tally.copies, tally.hits, tally.results[Result.WRONG_REFERENCE], tally.results[Result.MISSED]) == (3, 1, 1, 1)


def test_the_summary_gives_recall_and_the_wrong_reference_matches_apart():
    lines = summary_lines([record("still/a", Decision.MATCHED, ("still/a",), MatchedBy.LOCAL_FEATURES), record("still/b", Decision.MATCHED, ("still/c",))])

    assert lines[0].startswith("positives: all copies: recall 50.0% (1/2;") and "local features: 1" in lines[0] and "wrong reference 1" in lines[0]


def test_every_hit_bounds_recall_from_below_at_n_over_n_plus_z_squared():
    low, high = wilson_interval(80, 80)

    assert high == 1.0 and abs(low - 80 / (80 + Z * Z)) < 1e-12


def test_no_hit_bounds_recall_from_above_at_z_squared_over_n_plus_z_squared():
    low, high = wilson_interval(0, 16)

    assert low == 0.0 and abs(high - Z * Z / (16 + Z * Z)) < 1e-12


def test_the_interval_holds_the_observed_share_and_mirrors_for_misses():
    low, high = wilson_interval(30, 80)
    mirrored = wilson_interval(50, 80)

    assert low < 30 / 80 < high and abs(mirrored[0] - (1 - high)) < 1e-12 and abs(mirrored[1] - (1 - low)) < 1e-12


def test_the_interval_narrows_as_the_copies_grow():
    narrow, wide = wilson_interval(480, 960), wilson_interval(40, 80)

    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_a_miss_is_measured_by_the_closest_of_any_upload_frame_or_variant_to_any_reference_frame():
    zero, one_bit, three_bits = "0" * 64, "0" * 63 + "1", "0" * 63 + "7"

    assert best_distance([[three_bits], ["0f" * 32, one_bit]], [zero, "f" * 64]) == 1


def test_an_upload_without_usable_frames_has_no_distance():
    assert best_distance([], ["0" * 64]) is None
