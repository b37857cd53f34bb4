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

    def shares(self, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
        """The box as shares of a frame's height and width, to carry it to another resolution."""
        return self.top / shape[0], self.bottom / shape[0], self.left / shape[1], self.right / shape[1]

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
    """One crop box for a whole video: the union of the content boxes of the frames it is shown.

    A per-frame box would crop dark scenes into their bright part; bars, unlike content,
    stay put, so the union over several frames finds them. The frames must be spread over the
    video (sparse sampling's first frames are; a video decoded frame by frame shows it frames at
    instants spread over it first, video.py), or a pan that opens on a plain area is cropped.
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


# --------------------------------------------------------------------------- inner pictures
# A picture-in-picture copy shows the known video as a rectangle inside another picture; its
# sides are long straight edges, which natural backgrounds (stripes, foliage, diagonals) lack.
# A grey-level step this large counts as an edge pixel...
EDGE_STEP = 28
# ...and a side is an unbroken run of edge pixels over this share of the frame's side.
MIN_SIDE_RUN = 0.30
# Gaps (pixels at working size) a side may have and still count as one run. A video's box is
# agreed over several frames, so its sides may be strict; a still picture has one chance, and
# bridging 3-pixel gaps finds 4 of 6 picture-in-picture copies in the suite instead of 3
# (while in video it moved the agreed box off the inner picture: 2 of 3 found instead of 3).
VIDEO_SIDE_GAP = 1
PICTURE_SIDE_GAP = 3
# An inner picture covers between these shares of the frame's width and height.
MIN_INNER_SHARE, MAX_INNER_SHARE = 0.2, 0.92
MAX_INNER_BOXES = 2


def _runs(strong: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of a boolean image: the longest run of True (length) and where it ends (row)."""
    best = np.zeros(strong.shape[1], dtype=np.int32)
    end = np.zeros(strong.shape[1], dtype=np.int32)
    run = np.zeros(strong.shape[1], dtype=np.int32)
    for row in range(strong.shape[0]):
        run = np.where(strong[row], run + 1, 0)
        longer = run > best
        best = np.where(longer, run, best)
        end = np.where(longer, row, end)
    return best, end


def _sides(steps: np.ndarray, length: int, gap: int) -> list[tuple[int, int, int]]:
    """Long straight edges across `steps` (rows = along the edge): (position, first, last)."""
    strong = steps > EDGE_STEP
    # Bridge short gaps: where the picture's edge meets the background in colour, the step vanishes.
    bridged = strong.copy()
    for shift in range(1, gap + 1):
        bridged[shift:] |= strong[:-shift]
    strong = bridged
    best, end = _runs(strong)
    sides = []
    for position in np.flatnonzero(best >= MIN_SIDE_RUN * length):
        first, last = int(end[position] - best[position] + 1), int(end[position])
        if sides and position - sides[-1][0] <= 2:
            if last - first > sides[-1][2] - sides[-1][1]:
                sides[-1] = (int(position), first, last)
            continue
        sides.append((int(position), first, last))
    return sides


def _snap(steps: np.ndarray, near: int, reach: int) -> int:
    """The row within `reach` of `near` where a horizontal edge crosses most of the box, if any."""
    low, high = max(0, near - reach), min(steps.shape[0], near + reach + 1)
    if high <= low:
        return near
    cover = (steps[low:high] > EDGE_STEP).mean(axis=1)
    best = int(np.argmax(cover))
    return low + best if cover[best] >= 0.6 else near


def inner_boxes(rgb: np.ndarray, gap: int = PICTURE_SIDE_GAP) -> list[Box]:
    """Rectangles inside the frame bounded by long straight edges on the left and right
    (a picture-in-picture), largest first. The sides' edge runs give the height (the content
    can break a side where it meets the background in colour); a horizontal edge across the
    box near either end, when there is one, fixes the top and bottom exactly."""
    grey = _luma(rgb.astype(np.float32))
    height, width = grey.shape
    columns = _sides(np.abs(np.diff(grey, axis=1)), height, gap)  # vertical sides: steps between columns
    rows = np.abs(np.diff(grey, axis=0))
    reach = max(2, round(0.08 * height))
    boxes: list[Box] = []
    for i, (left, top_l, bottom_l) in enumerate(columns):
        for right, top_r, bottom_r in columns[i + 1 :]:
            if not (MIN_INNER_SHARE * width <= right - left <= MAX_INNER_SHARE * width):
                continue
            if min(bottom_l, bottom_r) <= max(top_l, top_r):
                continue  # the two sides do not face each other
            inside = rows[:, left + 2 : right - 1]
            top = _snap(inside, min(top_l, top_r), reach)
            bottom = _snap(inside, max(bottom_l, bottom_r), reach) + 1
            box = Box(top, bottom, left + 1, right + 1)
            if box.bottom - box.top < MIN_INNER_SHARE * height or box.is_whole(rgb.shape):
                continue
            boxes.append(box)
    boxes.sort(key=lambda b: -(b.bottom - b.top) * (b.right - b.left))
    return boxes[:MAX_INNER_BOXES]


def _overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    width = min(a.right, b.right) - max(a.left, b.left)
    if height <= 0 or width <= 0:
        return 0.0
    inter = height * width
    area = lambda box: (box.bottom - box.top) * (box.right - box.left)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


class InnerTracker:
    """One inner-picture box for a whole video: the box most of its first frames agree on.

    Per frame, a side of the inner picture can vanish where the content meets the background
    in colour; a picture-in-picture stays put, so agreement over frames finds it.
    """

    FRAMES = BorderTracker.FRAMES
    AGREEMENT = 0.7  # overlap (IoU) for two frames' boxes to count as the same
    MIN_VOTES = 3

    def __init__(self) -> None:
        self.seen: list[list[Box]] = []
        self._box: Box | None = None

    @property
    def settled(self) -> bool:
        return len(self.seen) >= self.FRAMES

    def observe(self, rgb: np.ndarray) -> None:
        self.seen.append(inner_boxes(rgb, VIDEO_SIDE_GAP))
        if self.settled:
            self._box = self._agreed()

    def _agreed(self) -> Box | None:
        candidates = [box for boxes in self.seen for box in boxes]
        best, best_votes = None, 0
        for candidate in candidates:
            agreeing = [next((b for b in boxes if _overlap(b, candidate) >= self.AGREEMENT), None) for boxes in self.seen]
            agreeing = [b for b in agreeing if b is not None]
            if len(agreeing) > best_votes:
                best, best_votes = agreeing, len(agreeing)
        if best is None or best_votes < self.MIN_VOTES:
            return None
        median = lambda values: int(np.median(values))  # noqa: E731
        return Box(median([b.top for b in best]), median([b.bottom for b in best]), median([b.left for b in best]), median([b.right for b in best]))

    @property
    def box(self) -> Box | None:
        return self._box if self.settled else self._agreed()

    def crop(self, rgb: np.ndarray) -> np.ndarray | None:
        """The inner picture without its own uniform borders, or None when there is none."""
        box = self.box
        if box is None or box.bottom > rgb.shape[0] or box.right > rgb.shape[1]:
            return None
        return inner_picture(rgb, box)


def inner_picture(rgb: np.ndarray, box: Box) -> np.ndarray:
    """The picture inside `box`, without its own uniform borders."""
    inner = box.crop(rgb)
    own = content_box(inner)
    return np.ascontiguousarray(own.crop(inner) if own is not None else inner)
