"""The longest run of a reference an upload plays through (matching/segment.py), and the segment rule that uses it."""

from __future__ import annotations

from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.segment import longest_run
from hashmatch.matching.verdict import decide
from hashmatch.model import FrameHashes
from hashmatch.vocabulary import MatchRule, Stage

STEP = 2.0  # the upload's sampling step


def upload_times(count: int) -> list[float]:
    return [STEP * n for n in range(count)]


def played(upload_seconds: list[float], start: float, speed: float = 1.0, offset: float = 0.0, distance: int = 6) -> list[FrameMatch]:
    """Matches of upload frames to the reference frames they show, the reference played from `start` at `speed` from upload time `offset`."""
    return [FrameMatch(t, round(start + speed * (t - offset), 2), 0.04, distance) for t in upload_seconds]


def test_an_excerpt_played_through_is_one_run_over_the_reference_time_it_shows():
    shown = [40.0 + STEP * n for n in range(8)]  # 40-54 s of the upload show 300-314 s of the reference
    run = longest_run(upload_times(60), played(shown, 300.0, offset=40.0))

    assert (run.query_start, run.query_end, run.reference_start, run.reference_end, run.frames) == (40.0, 54.0, 300.0, 314.0, 8)
    assert run.reference_seconds == 14.0


def test_a_sped_up_or_slowed_down_excerpt_is_a_run_over_the_reference_it_covers():
    shown = [STEP * n for n in range(6)]
    assert longest_run(upload_times(20), played(shown, 100.0, speed=1.5)).reference_seconds == 15.0
    assert longest_run(upload_times(20), played(shown, 100.0, speed=0.6)).reference_seconds == 6.0


def test_a_speed_beyond_double_breaks_every_step():
    shown = [STEP * n for n in range(6)]
    assert longest_run(upload_times(20), played(shown, 100.0, speed=3.0)).reference_seconds == 0.0


def test_one_unmatched_upload_frame_inside_a_run_is_bridged_and_two_are_not():
    times = upload_times(20)
    one_missed = [t for t in times[:10] if t != 8.0]
    two_missed = [t for t in times[:12] if t not in (8.0, 10.0)]

    assert longest_run(times, played(one_missed, 50.0)).reference_seconds == 18.0
    assert longest_run(times, played(two_missed, 50.0)).reference_seconds == 10.0  # 12-22 s of the upload (62-72 s), not 0-6 s joined to it


def test_reference_frames_matched_out_of_order_make_no_run():
    shuffled = [FrameMatch(STEP * n, float(second), 0.04, 6) for n, second in enumerate([80, 20, 140, 60, 0, 100])]
    assert longest_run(upload_times(6), shuffled).reference_seconds == 0.0


def test_an_upload_showing_one_still_reference_frame_for_a_minute_covers_none_of_it():
    # A title card: one reference frame standing for 60 s, shown by 30 consecutive upload frames.
    card = [FrameMatch(STEP * n, 5.0, 60.0, 4) for n in range(30)]
    assert longest_run(upload_times(30), card).reference_seconds == 0.0


def test_a_run_follows_the_nearest_reference_frames_not_their_slower_neighbours():
    # Each upload frame is 4 bits from the frame it shows and 24 from neighbours 1.5 s either side (a slow shot).
    matches = []
    for n in range(5):
        t = STEP * n
        matches += [FrameMatch(t, 10.0 + t, 0.04, 4), FrameMatch(t, 8.5 + t, 0.04, 24), FrameMatch(t, 11.5 + t, 0.04, 24)]
    run = longest_run(upload_times(5), matches)
    assert (run.reference_start, run.reference_end) == (10.0, 18.0)


def test_the_issue_s_case_five_minutes_of_a_17_minute_livestream_in_a_12_minute_report_match_by_the_segment_rule():
    frames = [FrameHashes(t, "0" * 64, 100) for t in upload_times(360)]  # 12 minutes, a frame every 2 s
    shown = [t for t in upload_times(360) if 210.0 <= t < 510.0]  # minutes 3.5-8.5 of the report show minutes 6-11
    verdict = decide(frames, played(shown, 360.0, offset=210.0), reference_duration=17 * 60.0, stage=Stage.PDQ, threshold=31)

    assert verdict.query_match_percent < 50 and verdict.reference_match_percent < 50
    assert verdict.match and verdict.rule == MatchRule.SEGMENT
    assert (verdict.segment.query_start, verdict.segment.reference_start, verdict.segment.reference_seconds) == (210.0, 360.0, 298.0)
