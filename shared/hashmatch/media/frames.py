"""Decoded media and its frames: what every decoder (stills.py, video.py) gives the hashers."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def has_borders(self) -> bool:
        return self.content.shape != self.rgb.shape


class Media:
    """Decoded media: what it is, how long it lasts, and its frames under a sampling."""

    kind: str  # "image" or "video" (an animated GIF/WebP is a video: a timed frame sequence)
    format: str
    duration: float  # seconds; 0.0 for a still image
    width: int
    height: int
    # Set by frames(): True when the deadline ended them before the media's end.
    partial: bool = False

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None) -> Iterator[Frame]:
        """The sampled frames; when `deadline` (a time.monotonic() value) passes, no more (and `partial` is set)."""
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
