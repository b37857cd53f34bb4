"""Find and remove uniform borders (letterbox and pillarbox bars) before hashing.

Black bars alone take vPDQ from a match to 0 % between the SD-with-bars and HD copies of the
same clip in the corpus, so every frame is hashed on its content box, not on its full size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Grey levels a bar line may vary by: lossy codecs ring at the bar's edge and add noise.
BORDER_TOLERANCE = 24
# Share of a line's pixels allowed outside the tolerance (compression specks, a thin logo).
BORDER_OUTLIERS = 0.02
# Only near-black or near-white lines count as border: a blue sky or a coloured stripe is
# content, and cropping it would depend on noise rather than on the picture.
DARK_BORDER_MAX = 40
BRIGHT_BORDER_MIN = 215
# A content box smaller than this share of either side means the frame is uniform, not boxed.
MIN_CONTENT_SHARE = 0.10
_PROBE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Box:
    """A crop box in pixels: rows top..bottom-1 and columns left..right-1."""

    top: int
    bottom: int
    left: int
    right: int

    def union(self, other: "Box") -> "Box":
        return Box(min(self.top, other.top), max(self.bottom, other.bottom), min(self.left, other.left), max(self.right, other.right))

    def crop(self, rgb: np.ndarray) -> np.ndarray:
        return rgb[self.top : self.bottom, self.left : self.right]

    def is_whole(self, shape: tuple[int, ...]) -> bool:
        return self.top == 0 and self.left == 0 and self.bottom == shape[0] and self.right == shape[1]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _border_run(lines: np.ndarray) -> int:
    """How many leading lines (rows of `lines`) are uniform and of the first line's colour."""
    edge = np.median(lines[0])
    if DARK_BORDER_MAX < edge < BRIGHT_BORDER_MIN:
        return 0
    low = np.quantile(lines, BORDER_OUTLIERS, axis=1)
    high = np.quantile(lines, 1 - BORDER_OUTLIERS, axis=1)
    uniform = (high - low <= BORDER_TOLERANCE) & (np.abs(np.median(lines, axis=1) - edge) <= BORDER_TOLERANCE)
    not_uniform = np.flatnonzero(~uniform)
    return int(not_uniform[0]) if not_uniform.size else lines.shape[0]


def content_box(rgb: np.ndarray) -> Box | None:
    """The box inside uniform borders, or None when the whole frame is uniform.

    Every line is examined at full resolution (a crop one pixel off moves a PDQ hash by
    several bits); only the pixels along a line are subsampled, for speed.
    """
    height, width = rgb.shape[:2]
    along_rows = max(1, width // _PROBE_SIZE)
    along_cols = max(1, height // _PROBE_SIZE)
    rows = _luma(rgb[:, ::along_rows].astype(np.float32))
    cols = _luma(rgb[::along_cols, :].astype(np.float32)).T
    top = _border_run(rows)
    if top >= height:
        return None
    bottom = height - _border_run(rows[::-1])
    left = _border_run(cols)
    right = width - _border_run(cols[::-1])
    if bottom - top < MIN_CONTENT_SHARE * height or right - left < MIN_CONTENT_SHARE * width:
        return None
    return Box(top, bottom, left, right)


class BorderTracker:
    """One crop box for a whole video: the union of the content boxes of its first frames.

    A per-frame box would crop dark scenes into their bright part; bars, unlike content,
    stay put, so the union over several frames finds them.
    """

    FRAMES = 8

    def __init__(self) -> None:
        self.box: Box | None = None
        self.seen = 0

    @property
    def settled(self) -> bool:
        return self.seen >= self.FRAMES

    def observe(self, rgb: np.ndarray) -> None:
        box = content_box(rgb)
        if box is None:
            return
        self.box = box if self.box is None else self.box.union(box)
        self.seen += 1

    def crop(self, rgb: np.ndarray) -> np.ndarray:
        if self.box is None or self.box.is_whole(rgb.shape):
            return rgb
        return self.box.crop(rgb)
