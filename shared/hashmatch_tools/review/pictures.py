"""Which pictures the desk shows side by side for a matched reference, and the outline of a local-feature match.

A match message says which stretches of the upload matched which of the reference (segments, in
seconds), not which frame matched which; the desk pairs each of the upload's detail pictures inside
a matched stretch with the reference picture nearest the same moment of the reference's stretch.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

# Pairs shown per matched reference: enough to judge, few enough that nobody looks at more than needed.
PAIRS_SHOWN = 4
# An upload picture this close to a matched stretch counts as inside it (pictures are up to 2 s apart).
SEGMENT_SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class PicturePair:
    """One row of the side-by-side view: the upload's picture (its number in the detail-picture object) and the reference's."""

    upload_number: int | None
    upload_timestamp: float | None
    reference_timestamp: float | None


def nearest(timestamps: Sequence[float], moment: float) -> float | None:
    """The timestamp in (sorted) `timestamps` nearest `moment`."""
    if not timestamps:
        return None
    at = bisect.bisect_left(timestamps, moment)
    around = [timestamps[i] for i in (at - 1, at) if 0 <= i < len(timestamps)]
    return min(around, key=lambda t: abs(t - moment))


def _reference_moment(moment: float, query_segments: Sequence[Sequence[float]], reference_segments: Sequence[Sequence[float]]) -> float:
    """The moment of the reference that `moment` of the upload matched: the same offset into the paired stretch, or (when
    the stretches do not pair one to one) the same share of the way through the matched span."""
    if not reference_segments:
        return 0.0
    if not query_segments:
        return reference_segments[0][0]
    if len(query_segments) == len(reference_segments):
        k = min(range(len(query_segments)), key=lambda n: 0 if query_segments[n][0] <= moment <= query_segments[n][1] else min(abs(moment - query_segments[n][0]), abs(moment - query_segments[n][1])))
        (q0, q1), (r0, r1) = query_segments[k], reference_segments[k]
        return min(max(r0 + (moment - q0), r0), r1)
    q0, q1 = query_segments[0][0], query_segments[-1][1]
    r0, r1 = reference_segments[0][0], reference_segments[-1][1]
    share = (moment - q0) / (q1 - q0) if q1 > q0 else 0.0
    return r0 + min(max(share, 0.0), 1.0) * (r1 - r0)


def side_by_side(
    upload_timestamps: Sequence[float],
    reference_timestamps: Sequence[float],
    query_segments: Sequence[Sequence[float]],
    reference_segments: Sequence[Sequence[float]],
    shown: int = PAIRS_SHOWN,
) -> list[PicturePair]:
    """Up to `shown` pairs: the upload's pictures inside its matched stretches (spread over them), each beside the
    reference picture of the same moment. Without upload pictures (expired, or none), the reference's matched stretches alone."""
    reference_timestamps = sorted(reference_timestamps)
    inside = [
        (number, t)
        for number, t in enumerate(upload_timestamps)
        if not query_segments or any(first - SEGMENT_SLACK_SECONDS <= t <= last + SEGMENT_SLACK_SECONDS for first, last in query_segments)
    ] or list(enumerate(upload_timestamps))
    if len(inside) > shown:
        step = (len(inside) - 1) / (shown - 1) if shown > 1 else 0
        inside = [inside[round(n * step)] for n in range(shown)]
    if inside:
        return [PicturePair(number, t, nearest(reference_timestamps, _reference_moment(t, query_segments, reference_segments))) for number, t in inside]
    moments = [segment[0] for segment in reference_segments][:shown] or [0.0]
    return [PicturePair(None, None, nearest(reference_timestamps, moment)) for moment in moments]


def outline_shares(upload_jpeg: bytes, reference_jpeg: bytes) -> list[tuple[float, float]] | None:
    """Where the reference picture appears in the upload's picture, as four corners in shares of the upload picture's
    width and height (for an SVG outline over it); None when the local features find no plausible placement."""
    import cv2
    import numpy as np

    from hashmatch.matching.local_features.orb import matched_outline

    upload = cv2.imdecode(np.frombuffer(upload_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    reference = cv2.imdecode(np.frombuffer(reference_jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if upload is None or reference is None:
        return None
    corners = matched_outline(upload, reference)
    if corners is None:
        return None
    height, width = upload.shape[:2]
    return [(round(float(x) / width, 4), round(float(y) / height, 4)) for x, y in corners]
