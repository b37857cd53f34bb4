"""The second-stage benchmark's helpers: the phases of one upload's whole path, the brute-force sample's rule, what it says of its sample."""

from __future__ import annotations

import numpy as np
import pytest

from hashmatch_tools.bench.second_stage import Run, SizeResult, brute_enough, brute_notes, headline, path_report
from hashmatch_tools.bench.second_stage_data import Query
from hashmatch_tools.bench.second_stage_stack import PHASES, Instrumented, decode_share, phase_shares, upload_phases


def test_decode_share_is_the_decodes_part_of_the_extraction_threads_seconds():
    assert decode_share(0.5, 2.0) == pytest.approx(0.25)


def test_decode_share_is_zero_when_nothing_was_extracted():
    assert decode_share(0.0, 0.0) == 0.0


def test_the_phases_of_an_upload_add_up_to_its_total():
    phases = upload_phases(total=1.0, loader=0.1, extraction=0.2, mirror_extraction=0.1, search=0.5, verdict=0.05, decoding=0.25)
    assert set(phases) == set(PHASES)
    assert sum(phases.values()) == pytest.approx(1.0)


def test_the_mirror_probes_extraction_counts_as_extraction_not_as_search():
    phases = upload_phases(total=1.0, loader=0.0, extraction=0.2, mirror_extraction=0.1, search=0.5, verdict=0.0, decoding=0.0)
    assert phases["ORB extraction"] == pytest.approx(0.3)
    assert phases["search and verification"] == pytest.approx(0.4)


def test_extraction_is_split_into_decode_and_orb_by_the_decodes_share():
    phases = upload_phases(total=1.0, loader=0.0, extraction=0.4, mirror_extraction=0.0, search=0.0, verdict=0.0, decoding=0.25)
    assert (phases["JPEG decode"], phases["ORB extraction"]) == (pytest.approx(0.1), pytest.approx(0.3))


def test_what_no_phase_covers_is_the_rest():
    phases = upload_phases(total=1.0, loader=0.1, extraction=0.0, mirror_extraction=0.0, search=0.5, verdict=0.1, decoding=0.0)
    assert phases["rest"] == pytest.approx(0.3)


def test_phase_shares_weigh_each_upload_by_its_seconds():
    slow = {**{phase: 0.0 for phase in PHASES}, "S3 GET": 3.0}
    fast = {**{phase: 0.0 for phase in PHASES}, "verdict": 1.0}
    shares = phase_shares([slow, fast])
    assert (shares["S3 GET"], shares["verdict"]) == (pytest.approx(0.75), pytest.approx(0.25))


def test_brute_force_with_a_number_of_pictures_stops_at_that_number_however_long_they_took():
    assert not brute_enough(49, elapsed=10_000.0, wanted=50, budget=60.0, least=2)
    assert brute_enough(50, elapsed=1.0, wanted=50, budget=60.0, least=2)


def test_brute_force_with_a_budget_measures_the_least_pictures_even_past_it():
    assert not brute_enough(1, elapsed=10_000.0, wanted=None, budget=60.0, least=2)


def test_brute_force_with_a_budget_stops_once_it_is_spent():
    assert not brute_enough(5, elapsed=59.0, wanted=None, budget=60.0, least=2)
    assert brute_enough(5, elapsed=60.0, wanted=None, budget=60.0, least=2)


def _result(size: int, brute_seconds: list[float] | None) -> SizeResult:
    brute = Run(picture_seconds=brute_seconds) if brute_seconds is not None else None
    return SizeResult(size, 0, 0.0, 0.0, 0.0, 0.0, None, None, Run(), brute, 0.0, [], brute_budget="900 s, at least 2 pictures")


def test_a_brute_force_sample_under_50_pictures_says_what_50_would_take_at_its_median():
    (note,) = brute_notes([_result(100_000, [600.0, 900.0, 1200.0])])
    assert "n=3" in note and "50 pictures would take about 12.5 h" in note


def test_a_size_without_brute_force_says_it_was_not_run():
    assert brute_notes([_result(100_000, None)]) == ["Brute force at 100,000 frames: not run."]


def test_the_instrumented_run_puts_back_every_function_it_wrapped():
    from hashmatch.matching import matcher
    from hashmatch.matching.local_features import orb, stage

    before = (stage.in_threads, stage.features_of_detail_picture, stage.search_pictures, matcher.decide, orb.cv2)
    with Instrumented():
        assert stage.search_pictures is not before[2]
    assert (stage.in_threads, stage.features_of_detail_picture, stage.search_pictures, matcher.decide, orb.cv2) == before


def _query(name: str, pictures: int):
    import numpy as np

    from hashmatch_tools.bench.second_stage_data import Query

    empty = np.zeros((0, 32), np.uint8)
    return Query(name, "video", "video:x", "crop", [float(t) for t in range(pictures)], [0] * pictures, 0.0, empty, np.zeros((0, 2)), [0] * pictures, empty, np.zeros((0, 2)))


def test_the_second_stages_own_seconds_from_the_whole_path_are_its_search_and_verdict_phases():
    from hashmatch_tools.bench.second_stage import stage_of_path
    from hashmatch_tools.bench.second_stage_stack import PathResult

    phases = {**{phase: 0.0 for phase in PHASES}, "S3 GET": 1.0, "ORB extraction": 1.0, "search and verification": 0.3, "verdict": 0.1}
    run = stage_of_path(PathResult(["a"], [2.4], [phases], {"a": {"video:x"}}), [_query("a", 4)])
    assert run.seconds["a"] == pytest.approx(0.4)
    assert run.picture_seconds == pytest.approx([0.1] * 4)


def test_an_upload_the_whole_path_skipped_for_want_of_detail_pictures_costs_nothing_and_matches_nothing():
    from hashmatch_tools.bench.second_stage import stage_of_path
    from hashmatch_tools.bench.second_stage_stack import PathResult

    run = stage_of_path(PathResult(), [_query("blank", 0)])
    assert (run.seconds["blank"], run.matched["blank"]) == (0.0, set())


def _upload(name: str, content: str) -> Query:
    empty = np.zeros((0, 32), np.uint8)
    return Query(name, "image", content, "crop 5 %" if content else "unrelated", [0.0], [0], 0.0, empty, empty, [0], empty, empty)


def _measured(size: int, cold_not_run: str = "") -> SizeResult:
    indexed = Run(matched={"a": {"ref"}, "b": set(), "u": set()})
    brute = Run(picture_seconds=[2.0, 4.0, 6.0])
    return SizeResult(size, 0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, indexed, brute, 0.0, [], upload_seconds=[0.2, 0.4, 0.6],
                      brute_budget="50 pictures", cold_not_run=cold_not_run)


def test_the_headline_gives_a_16_picture_upload_against_brute_force_with_the_pictures_brute_force_rests_on():
    queries = [_upload("a", "ref"), _upload("b", "ref"), _upload("u", "")]
    (line,) = headline([_measured(1_000)], queries).splitlines()[2:]
    assert "searched in 0.40 s" in line and "brute force's ~64 s (160x; brute force measured on 3 pictures)" in line
    assert "recall 1/2, 0 false positives of 3 uploads" in line


def test_the_headline_holds_issue_10s_budget_verdict_at_the_sizes_it_names():
    queries = [_upload("a", "ref")]
    assert "issue 10's 0.5 s budget met" in headline([_measured(10_000)], queries)
    assert "budget" not in headline([_measured(1_000)], queries)


def test_a_cold_matcher_the_bench_did_not_ask_moto_for_is_said_in_the_doc_and_the_headline():
    queries = [_upload("a", "ref")]
    result = _measured(100_000, cold_not_run="not run: its local-feature snapshot is 8,000 MB")
    assert "A cold matcher at 100,000 frames: not run: its local-feature snapshot is 8,000 MB." in path_report([result], queries)
    assert "a cold matcher not run" in headline([result], queries)
