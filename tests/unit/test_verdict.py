from hashmatch.model import FrameHashes
from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.verdict import MIN_MATCHED_FRAMES, QUERY_MATCH_THRESHOLD, decide, sampling_step
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.vocabulary import Stage


def pdq_decide(*args, **kwargs):
    """A verdict as the PDQ stage decides it."""
    return decide(*args, stage=Stage.PDQ, threshold=PDQ_CONFIDENT_MATCH_THRESHOLD, **kwargs)

H = "0" * 64


def frames(times):
    return [FrameHashes(t, H, 100) for t in times]


def matches(pairs, span=0.5):
    return [FrameMatch(q, r, span, 4) for q, r in pairs]


def test_clip_cut_from_a_longer_reference_matches_on_the_query_side():
    query = frames([0, 0.5, 1.0, 1.5, 2.0])
    verdict = pdq_decide(query, matches([(t, 100 + t) for t in (0, 0.5, 1.0, 1.5, 2.0)]), reference_duration=600.0)
    assert verdict.match
    assert verdict.query_match_percent == 100.0
    assert verdict.reference_match_percent < 1.0


def test_longer_upload_containing_the_reference_matches_on_the_reference_side():
    query = frames([i * 0.5 for i in range(200)])  # 100 s upload
    inside = [(50 + i * 0.5, i * 0.5) for i in range(20)]  # the whole 10 s reference, from 50 s on
    verdict = pdq_decide(query, matches(inside), reference_duration=10.0)
    assert verdict.match
    assert verdict.query_match_percent == 10.0
    assert verdict.reference_match_percent == 100.0
    assert verdict.matched_query_timestamps[0] == 50.0 and verdict.matched_reference_timestamps[-1] == 9.5


def test_a_few_scattered_frame_matches_are_not_a_video_match():
    query = frames([i * 0.5 for i in range(100)])
    verdict = pdq_decide(query, matches([(3.0, 40.0), (20.0, 7.0)]), reference_duration=60.0)
    assert not verdict.match
    assert verdict.query_match_percent < QUERY_MATCH_THRESHOLD


def test_a_single_stray_frame_never_matches_a_video_upload():
    query = frames([0.0, 0.5])
    verdict = pdq_decide(query, matches([(0.0, 0.0)]), reference_duration=0.5)
    assert verdict.query_match_percent == 50.0 and verdict.matched_query_frames < MIN_MATCHED_FRAMES
    assert not verdict.match


def test_an_image_upload_matching_a_still_reference_matches_fully():
    verdict = pdq_decide(frames([0.0]), matches([(0.0, 0.0)], span=0.0), reference_duration=0.0)
    assert verdict.match and verdict.query_match_percent == verdict.reference_match_percent == 100.0


def test_an_upload_with_no_usable_frames_does_not_match():
    verdict = pdq_decide([], [], reference_duration=10.0)
    assert not verdict.match and verdict.query_frames == 0 and verdict.best_distance is None


def test_reference_coverage_counts_each_second_once():
    query = frames([0, 0.5, 1.0])
    overlapping = matches([(0, 2.0), (0.5, 2.0), (1.0, 2.5)], span=0.5)
    verdict = pdq_decide(query, overlapping, reference_duration=10.0)
    assert verdict.reference_match_percent == 12.5  # 1.75 s .. 3.0 s of 10 s


def test_sampling_step_is_the_typical_gap():
    assert sampling_step(frames([0, 0.5, 1.0, 1.1, 1.5, 2.0])) == 0.5
    assert sampling_step(frames([0])) == 0.0


def test_reference_coverage_is_taken_of_the_seconds_the_stage_can_recognise():
    # A 4 s clip recognisable for its first 2 s (then a blank wall): its first second is half of it.
    query = frames([0, 0.5, 1.0, 1.5, 2.0])
    found = matches([(0, 0.0), (0.5, 0.0)], span=1.0)
    assert pdq_decide(query, found, reference_duration=4.0).reference_match_percent == 25.0
    verdict = pdq_decide(query, found, reference_duration=4.0, recognisable_seconds=2.0)
    assert verdict.reference_match_percent == 50.0 and verdict.match


def test_recognisable_seconds_never_make_a_reference_longer_than_it_is():
    query = frames([0, 0.5])
    found = matches([(0, 0.0), (0.5, 0.5)], span=0.5)
    assert pdq_decide(query, found, 1.0, recognisable_seconds=5.0).reference_match_percent == pdq_decide(query, found, 1.0).reference_match_percent


def test_a_long_mostly_blank_reference_is_not_covered_by_its_one_recognisable_card():
    # 600 s, recognisable for 2 s (a title card): two upload pictures showing the card are no match.
    query = frames([3.75 * i for i in range(16)])
    found = matches([(0.0, 10.0), (3.75, 10.0)], span=2.0)
    verdict = pdq_decide(query, found, reference_duration=600.0, recognisable_seconds=2.0)
    assert verdict.reference_match_percent < 1.0 and not verdict.match


def test_a_recognisable_share_counts_the_matched_frames_own_spans_not_the_upload_step():
    query = frames([0.0, 3.75, 7.5, 11.25])
    found = matches([(0.0, 0.0), (3.75, 0.0)], span=1.0)
    assert pdq_decide(query, found, reference_duration=4.0, recognisable_seconds=2.0).reference_match_percent == 50.0
