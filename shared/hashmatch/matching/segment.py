"""The longest excerpt of a reference an upload shows: a run of its matched frames in order, at a consistent time offset.

The percentage rules (verdict.py) miss an excerpt inside a longer upload: five minutes of a
17-minute livestream inside a 12-minute report is 29 % of the reference and 42 % of the upload.
What such an upload does show is a stretch of the reference played through: consecutive upload
frames that match reference frames whose times advance with the upload's, at one speed or a
slowly changing one. `longest_run` finds the stretch that covers the most reference time; the
segment rule (verdict.MIN_SEGMENT_SECONDS) calls a run that covers enough of it a match.

The search is a longest-path over the frame matches (dynamic programming, no fit to go wrong on
outliers): a match follows another in a run when it is on one of the next upload frames (at most
MAX_HOLES usable upload frames between them went unmatched) and the reference advanced by what the
upload's time allows at a speed in SPEED_RANGE, within TIME_TOLERANCE. The reference positions are
the matched frames' own times (never their spans: a static shot, one reference frame standing for
many seconds, advances nothing), so a title card or a black screen shown for a minute is no run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hashmatch.hash_set.frame_index import FrameMatch

# Speeds at which a copy may play the reference (reference seconds per upload second): sped up
# or slowed down to half or double, as re-uploads do to dodge matching; not more (a run of
# 2 s upload steps could otherwise stride across unrelated stretches of a long reference).
SPEED_RANGE = (0.5, 2.0)
# Slack on each step's reference advance: the nearest reference frame to an upload frame is
# within a frame or two of it, and neighbouring frames of slow shots are as near in PDQ.
TIME_TOLERANCE = 1.0
# Usable upload frames that may go unmatched inside a run (a dissolve, a flash, a caption over
# one frame) before the run ends.
MAX_HOLES = 1
# A PDQ frame's candidate places in the reference are the reference frames within this many bits
# of its best one: its neighbours in a slow shot are a few bits further and would let a run
# start earlier and end later than the copy does. A loop or repeated shot keeps every repetition.
CANDIDATE_MARGIN_BITS = 6
# At most this many candidate places per upload frame (the nearest, then the earliest): a dark or
# flat upload frame can be near thousands of frames of a long reference, and is no evidence of where.
MAX_CANDIDATES = 24


@dataclass(frozen=True)
class Run:
    """A stretch of the reference an upload plays through: where it starts and ends in each, and on how many upload frames."""

    query_start: float
    query_end: float
    reference_start: float
    reference_end: float
    frames: int

    @property
    def reference_seconds(self) -> float:
        """The reference time the run covers: from its first matched reference frame to its last."""
        return self.reference_end - self.reference_start

    def to_dict(self) -> dict:
        return {
            "query": [round(self.query_start, 3), round(self.query_end, 3)],
            "reference": [round(self.reference_start, 3), round(self.reference_end, 3)],
            "frames": self.frames,
        }


def _candidates(matches: Sequence[FrameMatch]) -> tuple[np.ndarray, np.ndarray]:
    """One upload frame's candidate places in the reference: their times and spans, nearest first."""
    if all(match.distance is not None for match in matches):
        best = min(match.distance for match in matches)
        kept = sorted((match for match in matches if match.distance <= best + CANDIDATE_MARGIN_BITS), key=lambda m: (m.distance, m.reference_timestamp))
    else:
        # Local-feature matches are verified (a homography with MIN_INLIERS), a few per picture: all of them count.
        kept = sorted(matches, key=lambda m: (-(m.inliers or 0), m.reference_timestamp))
    kept = kept[:MAX_CANDIDATES]
    return np.array([m.reference_timestamp for m in kept], np.float64), np.array([m.reference_span for m in kept], np.float64)


def longest_run(query_timestamps: Sequence[float], matches: Sequence[FrameMatch]) -> Run | None:
    """The run of `matches` that covers the most reference time (None without matches).

    `query_timestamps`: the upload frames the stage looked at (matched or not), which say whether
    two matched frames are consecutive. A run of one frame covers 0 seconds.
    """
    if not matches:
        return None
    times = sorted(set(query_timestamps) | {match.query_timestamp for match in matches})
    position = {timestamp: index for index, timestamp in enumerate(times)}
    by_frame: dict[int, list[FrameMatch]] = {}
    for match in matches:
        by_frame.setdefault(position[match.query_timestamp], []).append(match)
    low, high = SPEED_RANGE
    # Per matched upload frame: its candidates' times and spans, and per candidate the best run
    # ending there so far: where it started (reference and upload time) and its frame count.
    states: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    best: Run | None = None
    for index in sorted(by_frame):
        here, spans = _candidates(by_frame[index])
        q = times[index]
        start_r, start_q, count = here.copy(), np.full(len(here), q), np.ones(len(here), np.int64)
        for previous in range(max(0, index - 1 - MAX_HOLES), index):
            if previous not in states:
                continue
            there, there_spans, there_start_r, there_start_q, there_count = states[previous]
            step = q - times[previous]
            # The reference advance from each earlier candidate to each candidate here, at its least and
            # most given both frames' spans, must meet what the upload's step allows at SPEED_RANGE.
            least = here[None, :] - (there + there_spans)[:, None]
            most = (here + spans)[None, :] - there[:, None]
            follows = (most >= low * step - TIME_TOLERANCE) & (least <= high * step + TIME_TOLERANCE) & (here[None, :] >= there[:, None] - TIME_TOLERANCE)
            if not follows.any():
                continue
            # The earliest start reachable (most reference covered from it), then the most frames.
            reachable = np.where(follows, there_start_r[:, None], np.inf)
            chosen = np.lexsort((-np.where(follows, there_count[:, None], -1), reachable), axis=0)[0]
            found = follows[chosen, np.arange(len(here))]
            from_r = there_start_r[chosen]
            better = found & ((from_r < start_r) | ((from_r == start_r) & (there_count[chosen] + 1 > count)))
            start_r = np.where(better, from_r, start_r)
            start_q = np.where(better, there_start_q[chosen], start_q)
            count = np.where(better, there_count[chosen] + 1, count)
        states[index] = (here, spans, start_r, start_q, count)
        seconds = here - start_r
        top = int(np.argmax(seconds))
        if best is None or seconds[top] > best.reference_seconds:
            best = Run(float(start_q[top]), q, float(start_r[top]), float(here[top]), int(count[top]))
    return best
