"""Decoded media and its frames: what every decoder (stills.py, video.py) gives the hashers."""

from __future__ import annotations

from dataclasses import dataclass, field
from time import monotonic
from typing import Iterator

import numpy as np

from hashmatch.media.sampling import SPARSE, Sampling


@dataclass(frozen=True)
class Frame:
    timestamp: float  # seconds from the start of the media, from the container's timestamps
    rgb: np.ndarray  # the whole picture: H x W x 3 uint8, upright, at most the sampling's max_side
    content: np.ndarray  # the same without uniform borders (rgb itself when there are none)
    # Grey picture at FEATURE_MAX_SIDE for local features, on the frames the sampling picks.
    detail: np.ndarray | None = None
    # Pictures found inside this one (picture-in-picture), when the sampling looks for them,
    # and where they are in `rgb` (top, bottom, left, right as shares of its height and width).
    inner: tuple[np.ndarray, ...] = ()
    inner_boxes: tuple[tuple[float, float, float, float], ...] = ()
    # Which of the media's pictures (Media.tracks) this frame is of: 0 the main one.
    track: int = 0
    # The same frame as a viewer may also show it (a picture with transparency composited on a light and on a dark
    # page): hashed beside it as its variants.
    alternates: tuple[np.ndarray, ...] = ()

    @property
    def has_borders(self) -> bool:
        return self.content.shape != self.rgb.shape


class TrackSource:
    """Where one of the pictures of an upload comes from (Track.source): what a player or viewer can show."""

    VIDEO = "video"  # a video stream (the first is track 0; players let viewers switch to the others)
    ANIMATION = "animation"  # the frames of an animated picture (GIF, APNG, WebP)
    PICTURE = "picture"  # a still picture
    ATTACHED_PICTURE = "attached-picture"  # cover art of an audio or video file
    SUBTITLES = "subtitles"  # a bitmap subtitle stream (DVD, Blu-ray): its pictures shown over the video
    PAGE = "page"  # a page or entry of a multi-picture file (TIFF pages, MPO, ICO and ICNS entries)
    MEMBER = "member"  # a picture inside an archive (ZIP) or a drawing (an SVG's embedded raster)


@dataclass
class Track:
    """One picture or timed picture sequence of an upload, and how much of it the sampled frames cover."""

    index: int
    source: str
    kind: str  # "image" or "video"
    duration: float = 0.0
    name: str = ""  # where it is in the file: "stream 1", "page 2", "holiday/002.png"
    coverage: Coverage = field(default_factory=lambda: Coverage())
    # Why it was not (wholly) looked at: over a limit, or in a form that cannot be decoded here.
    uncovered: str = ""
    hashed: bool = False  # a frame of it was hashed
    # Times of frames it gave that were stand-ins shown at none of the instants they stood for (keyframes.py): withdrawn.
    retracted: frozenset = frozenset()

    def uncovered_share(self) -> float:
        """The share of it no sampled frame stands for: of its time for a sequence, all or nothing for a still."""
        if self.uncovered and not self.hashed:
            return 1.0
        if self.kind == "image" or self.duration <= 0:
            return 0.0 if self.hashed else 1.0
        return max(0.0, 1.0 - self.coverage.covered_seconds(self.duration) / self.duration)


class Media:
    """Decoded media: what it is, how long it lasts, and its frames under a sampling."""

    kind: str  # "image" or "video" (an animated GIF/WebP is a video: a timed frame sequence)
    format: str
    duration: float  # seconds; 0.0 for a still image
    width: int
    height: int
    # Set by frames(): True when the deadline ended them before the media's end.
    partial: bool = False
    # Every picture a player or viewer can show, track 0 the main one; set when opened, coverage filled by frames().
    tracks: list[Track]

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None, schedule=None) -> Iterator[Frame]:
        """The sampled frames of every track; when `deadline` (a time.monotonic() value) passes, no more (and `partial` is set).
        `schedule` (schedule.Schedule) keys the sparse instants; None: the offline default."""
        raise NotImplementedError


class Deadline:
    """A deadline (a time.monotonic() value, or None for none) that remembers once it has passed."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.passed = False

    def up(self) -> bool:
        if not self.passed and self.deadline is not None and monotonic() >= self.deadline:
            self.passed = True
        return self.passed


def frame_time(frame, base: float | None, last_time: float) -> float:
    """A decoded frame's time in seconds: from its own timestamp (frames flushed out of a decoder
    carry no time base, so the stream's is used), else 1/30 s after the last one."""
    if frame.pts is not None and base is not None:
        return frame.pts * base
    return last_time + 1.0 / 30.0 if last_time >= 0 else 0.0


class Coverage:
    """The stretches of a timeline that sampled frames stand for; the rest of it is uncovered (never seen).

    A decoder adds what each sampled frame stands for (its instant's cell of the schedule, or the
    whole media for dense sampling); what is left between 0 and the media's end is uncovered: frames a
    time or decoding budget could not reach, or could not decode with the frames they refer to.
    """

    def __init__(self) -> None:
        self._covered: list[tuple[float, float]] = []

    def cover(self, start: float, end: float) -> None:
        if end > start:
            self._covered.append((start, end))

    def covered(self, duration: float) -> list[tuple[float, float]]:
        """The covered stretches within [0, duration], merged, in order."""
        merged: list[list[float]] = []
        for start, end in sorted(self._covered):
            start, end = max(0.0, start), min(duration, end)
            if end <= start:
                continue
            if merged and start <= merged[-1][1] + 1e-6:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [(a, b) for a, b in merged]

    def uncovered(self, duration: float) -> list[tuple[float, float]]:
        """The stretches within [0, duration] nothing covers, in order."""
        gaps, last = [], 0.0
        for start, end in self.covered(duration):
            if start > last + 1e-6:
                gaps.append((last, start))
            last = end
        if duration > last + 1e-6:
            gaps.append((last, duration))
        return gaps

    def covered_seconds(self, duration: float) -> float:
        return sum(end - start for start, end in self.covered(duration))
