"""Frame matches to a verdict: how much of the upload matches a reference, and how much of the reference it covers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.segment import Run, longest_run
from hashmatch.model import FrameFeatures, FrameHashes
from hashmatch.vocabulary import MatchRule, Stage

# A video matches when at least half of the upload's usable frames match the reference
# (a clip cut from it: the upload is mostly reference) or the upload covers at least half of
# the reference (a longer video containing it). Measured on the corpus (README, "Figures"):
# every true variant scores >= 82 % on one side, the hard large-logo copies and unrelated
# videos <= 21 %, so 50 % sits in the middle of a wide gap.
QUERY_MATCH_THRESHOLD = 50.0
REFERENCE_MATCH_THRESHOLD = 50.0
# The segment rule, beside them: an upload that plays at least this many seconds of a reference
# video through (segment.longest_run: consecutive upload frames, in order, at a consistent time
# offset) matches it whatever the percentages, as an excerpt inside a longer report does.
# Not yet chosen from data: that needs the negative corpus of issue 27 item 8 (docs/matching.md,
# "Excerpts: the segment rule", says what stands behind it until then).
MIN_SEGMENT_SECONDS = 8.0
# One stray frame is not a video match: a uniform title card or a common logo can collide.
MIN_MATCHED_FRAMES = 2
# A reference's recognisable seconds (decide) replace its duration only when they are at least this
# share of it: a long, mostly blank reference with one title card or logo would otherwise be wholly
# covered by any upload that shows the card.
MIN_RECOGNISABLE_SHARE = 0.25


@dataclass(frozen=True)
class Verdict:
    match: bool
    query_match_percent: float
    reference_match_percent: float
    query_frames: int  # usable (quality-filtered) sampled frames of the upload
    matched_query_frames: int
    matched_query_timestamps: list[float]
    matched_reference_timestamps: list[float]
    best_distance: int | None  # PDQ bits (None when the match came from local features)
    stage: Stage
    best_inliers: int | None = None
    # What the stage that decided counts against: PDQ bits, local-feature inliers; 0 for an exact digest.
    threshold: int = 0
    # Which rule made it a match (None: no match); the longest run of the reference the upload plays through.
    rule: MatchRule | None = None
    segment: Run | None = None

    def to_dict(self) -> dict:
        """As `hashmatch compare --json` prints it; the stage is the key `signal` there (its contract), the threshold is not in it."""
        data = asdict(self)
        data["signal"] = str(data.pop("stage"))
        del data["threshold"]
        data["rule"] = str(self.rule) if self.rule is not None else None
        data["segment"] = self.segment.to_dict() if self.segment is not None else None
        return data


def sampling_step(frames: Sequence[FrameHashes] | Sequence[FrameFeatures]) -> float:
    """The typical time between an upload's sampled frames (0 for a still image)."""
    times = sorted(frame.timestamp for frame in frames)
    gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
    return gaps[len(gaps) // 2] if gaps else 0.0


def _covered_seconds(matches: Sequence[FrameMatch], step: float, duration: float) -> float:
    """Length of the reference time covered: each matched reference frame stands for its own
    span and for half a query step either side of it (the upload's sample stands for that)."""
    intervals = sorted(
        (max(0.0, m.reference_timestamp - step / 2), min(duration, m.reference_timestamp + max(m.reference_span, step / 2)))
        for m in matches
    )
    covered, start, end = 0.0, None, None
    for low, high in intervals:
        if start is None or low > end:
            if start is not None:
                covered += end - start
            start, end = low, high
        else:
            end = max(end, high)
    if start is not None:
        covered += end - start
    return covered


def decide(
    query_frames: Sequence[FrameHashes] | Sequence[FrameFeatures],
    matches: Sequence[FrameMatch],
    reference_duration: float,
    stage: Stage,
    threshold: int,
    query_step: float | None = None,
    recognisable_seconds: float | None = None,
) -> Verdict:
    """The verdict for one upload against one reference from their frame matches.

    `threshold` is what `stage` matched frames within (kept with the verdict for the match message).
    `query_frames` are the frames `stage` looked at: the upload's usable frames (PDQ) or its
    detail pictures' features (local features); a still reference (an image or a bare hash
    from a shared list) has duration 0 and counts as wholly covered by any match.
    `recognisable_seconds`: how much of the reference the stage could match at all (its frames
    with something to verify). Where that is less than its duration but at least
    MIN_RECOGNISABLE_SHARE of it, the share covered is the matched frames' spans over it.
    """
    step = sampling_step(query_frames) if query_step is None else query_step
    matched_query = sorted({m.query_timestamp for m in matches})
    matched_reference = sorted({m.reference_timestamp for m in matches})
    total = len(query_frames)
    query_percent = 100.0 * len(matched_query) / total if total else 0.0
    if not matches:
        reference_percent = 0.0
    elif reference_duration <= 0:
        reference_percent = 100.0
    elif recognisable_seconds and MIN_RECOGNISABLE_SHARE * reference_duration <= recognisable_seconds < reference_duration:
        # Both sides in recognisable time: the matched reference frames' own spans (distinct frames,
        # which do not overlap), without the half upload step either side, of the recognisable seconds.
        spans = {m.reference_timestamp: m.reference_span for m in matches}
        reference_percent = min(100.0, 100.0 * sum(spans.values()) / recognisable_seconds)
    else:
        reference_percent = min(100.0, 100.0 * _covered_seconds(matches, step, reference_duration) / reference_duration)
    enough_frames = len(matched_query) >= min(MIN_MATCHED_FRAMES, total)
    distances = [m.distance for m in matches if m.distance is not None]
    inlier_counts = [m.inliers for m in matches if m.inliers is not None]
    # Only a video against a video has a run to play through (an image, a still reference or list entry has none).
    segment = longest_run([frame.timestamp for frame in query_frames], matches) if reference_duration > 0 and total > 1 else None
    rule = None
    if matches and enough_frames:
        if query_percent >= QUERY_MATCH_THRESHOLD:
            rule = MatchRule.QUERY_SHARE
        elif reference_percent >= REFERENCE_MATCH_THRESHOLD:
            rule = MatchRule.REFERENCE_SHARE
        elif segment is not None and segment.reference_seconds >= MIN_SEGMENT_SECONDS:
            rule = MatchRule.SEGMENT
    return Verdict(
        match=rule is not None,
        query_match_percent=round(query_percent, 2),
        reference_match_percent=round(reference_percent, 2),
        query_frames=total,
        matched_query_frames=len(matched_query),
        matched_query_timestamps=[round(t, 3) for t in matched_query],
        matched_reference_timestamps=[round(t, 3) for t in matched_reference],
        best_distance=min(distances) if distances else None,
        stage=stage,
        best_inliers=max(inlier_counts) if inlier_counts else None,
        threshold=threshold,
        rule=rule,
        segment=segment,
    )
