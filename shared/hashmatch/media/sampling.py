"""Which frames of media are hashed, and at what size: densely for references, sparsely for uploads."""

from __future__ import annotations

from dataclasses import dataclass


# Frames are handed to the hashers at most this many pixels on the long side. Hashing a
# 720p frame costs 17-20 ms, the same frame scaled to 512 px 2.4 ms; but PDQ is not scale
# invariant: at 512 px the corpus video frames land 8-11 bits (mean) from the full-size
# hashes that vPDQ and shared hash lists hold, at full size within 1-2 bits. So references
# are hashed at full size (up to 1920 px) and uploads, where speed counts, at 512 px.
REFERENCE_MAX_SIDE = 1920
UPLOAD_MAX_SIDE = 512
# Pictures (and GIF/WebP frames) are shrunk by Pillow's box filter, which averages as PDQ's
# own prefilter does: at 512 px every published PDQ value in the corpus is within 10 bits,
# at full size one is 12 bits away. So both roles hash pictures at this size.
PICTURE_MAX_SIDE = 512
# Local features need more pixels than PDQ: a picture-in-picture copy shows the reference at
# a third of the frame, and at 512 px ORB finds too few of its corners to verify (measured:
# 27 inliers at 512 px against 265 at 1024 px, unrelated pictures at most 11).
FEATURE_MAX_SIDE = 1024


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video are hashed.

    Reference media is hashed densely (`every_frame`) so that an upload sampled at any phase
    finds a reference frame next to each of its own. Uploads are hashed sparsely: one frame
    per `interval` seconds, keyframes first, because a keyframe decodes on its own while a
    frame between keyframes needs the frames before it. Only where the keyframes are further
    apart than the sampling step (long GOPs, and short media, whose step shrinks towards
    `min_interval` so that they still yield `min_frames` frames) are frames between them
    decoded, and then only up to the last one needed, skipping the frames no other frame
    refers to. Near-duplicate frames are removed after hashing (see hashing.py).
    """

    interval: float | None  # None: every frame
    max_side: int = UPLOAD_MAX_SIDE  # video frames larger than this are scaled down before hashing
    # Take every keyframe besides the frames due (for measuring keyframes-only sampling).
    keyframes: bool = False
    min_frames: int = 16
    min_interval: float = 0.5
    # Frames between keyframes are decoded without the frames no other frame refers to (most
    # B-frames): the reference frames decode bit for bit as in a full decode, at about half its cost.
    skip_unreferenced: bool = True
    # Frames between keyframes are decoded for at most this many seconds of video per upload,
    # spread evenly over it, so that an hour with long GOPs still fits the hasher's time (beyond
    # it, such GOPs give their keyframes alone). None: no limit.
    max_seconds_between_keyframes: float | None = 300.0
    # Local features (local_features/orb.py) are taken from one sampled frame per `feature_interval`
    # seconds, at most `feature_frames` of them spread over the video; None: no features. Sparse
    # sampling spreads `feature_frames` over the video, no closer together than its sampled frames.
    feature_interval: float | None = None
    feature_frames: int = 16
    # Look for a picture inside the picture (picture-in-picture copies); upload side only.
    inner_pictures: bool = False

    @property
    def every_frame(self) -> bool:
        return self.interval is None

    def step(self, duration: float) -> float:
        """Seconds between sampled frames for media of this duration (sparse sampling)."""
        if self.interval is None:
            return 0.0
        if not duration or not self.min_frames:
            return self.interval
        return min(self.interval, max(self.min_interval, duration / self.min_frames))

    def feature_step(self, duration: float) -> float | None:
        """Seconds between feature frames for media of this duration (None: no features)."""
        if self.feature_interval is None:
            return None
        spread = duration / self.feature_frames if duration else 0.0
        if self.interval is None:
            # Dense (references): one per feature_interval, at most feature_frames; a short reference gets
            # MIN_REFERENCE_FEATURE_FRAMES spread over it (no closer than REFERENCE_FEATURE_MIN_STEP), so an
            # upload's instants, which its key places anywhere (schedule.py), find a reference picture near them.
            short = max(REFERENCE_FEATURE_MIN_STEP, duration / MIN_REFERENCE_FEATURE_FRAMES) if duration else self.feature_interval
            return max(min(self.feature_interval, short), spread)
        # Sparse: `feature_frames` pictures spread over the media, no closer together than its sampled
        # frames. A 4-second clip gives 8 rather than the 2 of one per feature_interval: the second or
        # two a short, low-detail clip is recognisable by must get some.
        return max(spread, self.step(duration))


# A reference shorter than 16 s gets 16 feature frames (a 4 s one every 0.25 s, not 4 at 0, 1, 2 and 3 s).
MIN_REFERENCE_FEATURE_FRAMES = 16
REFERENCE_FEATURE_MIN_STEP = 0.25


class FeatureCells:
    """Which sampled frames also give a detail picture (for local features): the first frame in each
    `step`-long cell of the timeline.

    Cells, not "a step after the last one": keyed instants (schedule.py) sit anywhere inside their
    own cells, so two can land a fraction of a step apart, and a rule counting from the last detail
    picture skipped the second of every such pair (a 4 s clip kept 5 of its 9 frames' pictures,
    where the fixed grid had kept 7, and lost its altered copies at the second stage).
    """

    def __init__(self, step: float | None):
        self.step = step
        self._last = -1

    def due(self, time: float) -> bool:
        if self.step is None:
            return False
        cell = int(time // self.step) if self.step > 0 else self._last + 1
        if cell <= self._last:
            return False
        self._last = cell
        return True


DENSE = Sampling(interval=None, max_side=REFERENCE_MAX_SIDE, feature_interval=1.0, feature_frames=600)
# Upload side: a frame every 2 s, at least 16 frames (down to one per 0.5 s) for short media.
# Measured on the corpus (docs/sampling.md): against a dense reference, one frame per 2 s gives
# the verdicts of 2 and 4 frames a second, at a fraction of the decoding.
SPARSE = Sampling(interval=2.0, max_side=UPLOAD_MAX_SIDE, feature_interval=2.0, feature_frames=16, inner_pictures=True)
