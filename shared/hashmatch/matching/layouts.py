"""The layout stage of the Matcher: PDQ of the parts of an upload's pictures where reaction layouts put a copy.

A split screen, a collage or a copy beside a band of other content shows the known picture in one
part of the frame: the whole frame's PDQ is far from it, and where the copy is squeezed into its
part (its aspect changed) local features verify it poorly, since ORB's descriptors are not made
for a stretch. PDQ is: it reduces any picture to 64 x 64 before hashing. So this stage cuts each
detail picture into the parts layouts use (LAYOUT_PARTS: the copy in 40, 50 or 60 % of the frame
on any side, a quarter, a ninth), moves each cut onto a border that stands out near it (a
layout's tiles rarely fall on our pixel, and at a ninth of the frame a pixel moves PDQ by tens of
bits), takes plain bars off each part (a copy fitted into its part), hashes it with PDQ and searches the reference frames with those hashes, at the deployed threshold.

A picture matches a reference when one of its parts does; the verdict weighs the pictures as it
weighs the local-feature stage's. It runs after the PDQ stage and before local features, which it
saves when it matches. A video probes LAYOUT_PROBES of its pictures first, and the others only
when a probe found something (a layout holds through a video): an upload that matches nothing
pays for the probes alone. The work is decoding the pictures in grey and a PDQ hash of each
part at PART_MAX_SIDE.
"""

from __future__ import annotations

from typing import Hashable, Sequence

import cv2
import numpy as np

from hashmatch.hash_set.frame_index import FrameIndex, FrameIndexLayers, FrameMatch
from hashmatch.matching.local_features.stage import spread
from hashmatch.matching.matcher import DetailPictureLoader, StageFindings
from hashmatch.matching.verdict import sampling_step
from hashmatch.media.borders import content_box
from hashmatch.model import Box, EncodedDetailPicture, MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import Stage

# Where a split puts the border between the copy and the rest: the copy in 40, 50 or 60 % of the frame.
SPLITS = (0.4, 0.5, 0.6)
# Collages of 2 x 2 and 3 x 3 tiles.
GRIDS = (2, 3)


def layout_parts() -> tuple[Box, ...]:
    """The parts probed, as (top, bottom, left, right) shares of the picture: each side of each split, each tile of each grid."""
    parts: list[Box] = []
    for share in SPLITS:
        parts += [(0.0, 1.0, 0.0, share), (0.0, 1.0, share, 1.0), (0.0, share, 0.0, 1.0), (share, 1.0, 0.0, 1.0)]
    for cells in GRIDS:
        parts += [(row / cells, (row + 1) / cells, column / cells, (column + 1) / cells) for row in range(cells) for column in range(cells)]
    return tuple(dict.fromkeys(parts))


LAYOUT_PARTS = layout_parts()
# Parts are hashed at most this many pixels on their long side: PDQ reduces them to 64 x 64 anyway,
# and a part of a 512-px picture is at most 512 px.
PART_MAX_SIDE = 256
# Pixels (of the detail picture, 1024 px on its long side) by which a part's inner sides are pulled in (see part_hashes).
PART_MARGIN = 3
# A part narrower than this (after its bars are off) is no copy anyone would watch.
PART_MIN_SIDE = 48
# How far (a share of the picture's side) a cut may move onto a border, and how much that border must stand out.
CUT_REACH = 0.02
BORDER_CONTRAST = 2.5
# Pictures of a video probed before the others (spread over it).
LAYOUT_PROBES = 4


def _grey(picture: EncodedDetailPicture) -> np.ndarray:
    """The detail picture in grey, at its own size (PART_MARGIN counts its pixels)."""
    grey = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable detail picture")
    return grey


def part_hashes(grey: np.ndarray, parts: Sequence[Box] = LAYOUT_PARTS) -> list[str]:
    """PDQ hashes (hex) of the parts of a grey picture, each without plain bars; parts of low PDQ quality are left out."""
    height, width = grey.shape[:2]
    rows, columns = _border_strength(grey, 0), _border_strength(grey, 1)
    found = []
    for top, bottom, left, right in parts:
        # Each cut is moved onto the strongest border near it (a layout's tiles rarely sit on our pixel); sides inside
        # the picture are then pulled in by PART_MARGIN pixels to look for bars: a sliver of the neighbouring part
        # would keep a fitted copy's bars from being taken off.
        y0, y1 = _cut(rows, top), _cut(rows, bottom)
        x0, x1 = _cut(columns, left), _cut(columns, right)
        inner = grey[y0 + PART_MARGIN * (top > 0) : y1 - PART_MARGIN * (bottom < 1), x0 + PART_MARGIN * (left > 0) : x1 - PART_MARGIN * (right < 1)]
        if min(inner.shape[:2]) < PART_MIN_SIDE:
            continue
        inner_rgb = _part_rgb(inner)
        inside = content_box(inner_rgb)
        if inside is None:
            continue
        if inside.top or inside.left or inside.bottom < inner_rgb.shape[0] or inside.right < inner_rgb.shape[1]:
            rgb = inside.crop(inner_rgb)  # a copy fitted into its part: its bars off
        else:
            # No bars: the part as the layout cut it. Pulling its sides in would crop the copy by PART_MARGIN on each
            # inner side, which at a ninth of the frame (a 3 x 3 collage's tile) moves PDQ by tens of bits.
            rgb = _part_rgb(grey[y0:y1, x0:x1])
        if min(rgb.shape[:2]) < PART_MIN_SIDE * min(1.0, PART_MAX_SIDE / max(inner.shape[:2])):
            continue
        value = PRIMARY_SIGNAL.hash_frame(rgb)
        if value.quality >= PRIMARY_SIGNAL.min_quality:
            found.append(str(value.hash))
    return list(dict.fromkeys(found))


def _border_strength(grey: np.ndarray, axis: int) -> np.ndarray:
    """How sharply the picture changes between each pair of neighbouring rows (axis 0) or columns (axis 1): entry i is
    the mean absolute step between line i - 1 and line i, so a border between two tiles stands out (entry 0 is 0)."""
    steps = np.abs(np.diff(grey.astype(np.int16), axis=axis)).mean(axis=1 - axis)
    return np.concatenate([[0.0], steps])


def _cut(strength: np.ndarray, share: float) -> int:
    """Where a cut at `share` of the picture falls: on the strongest border within CUT_REACH of it when that border
    stands out (BORDER_CONTRAST times the median step there), else at `share` itself; the picture's edges stay put."""
    size = len(strength)
    nominal = round(share * size)
    if nominal <= 0 or nominal >= size:
        return nominal
    reach = max(1, round(CUT_REACH * size))
    window = strength[max(1, nominal - reach) : min(size, nominal + reach + 1)]
    best = int(np.argmax(window))
    if window[best] < BORDER_CONTRAST * max(float(np.median(window)), 1.0):
        return nominal
    return max(1, nominal - reach) + best


def _part_rgb(region: np.ndarray) -> np.ndarray:
    """A grey part at most PART_MAX_SIDE on its long side, as the three channels PDQ takes."""
    scale = min(1.0, PART_MAX_SIDE / max(region.shape[:2]))
    if scale < 1.0:
        region = cv2.resize(region, (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return np.repeat(region[:, :, None], 3, axis=2)


class LayoutStage:
    """The parts of the upload's detail pictures against the references' PDQ frames, within the threshold."""

    stage = Stage.PDQ

    def __init__(self, index: FrameIndex | FrameIndexLayers, threshold: int):
        self.index = index
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self.index)

    def find(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None) -> StageFindings | None:
        if detail_pictures is None:
            return None
        pictures = list(detail_pictures())
        if not pictures:
            return None
        probes = spread(len(pictures), LAYOUT_PROBES)
        found = self._search([pictures[position] for position in probes])
        if found and len(probes) < len(pictures):
            rest = [picture for position, picture in enumerate(pictures) if position not in probes]
            for reference, matches in self._search(rest).items():
                found[reference] = sorted(found.get(reference, []) + matches, key=lambda m: (m.query_timestamp, m.reference_timestamp))
        return StageFindings(pictures, found, sampling_step(pictures), self.threshold)

    def _search(self, pictures: Sequence[EncodedDetailPicture]) -> dict[Hashable, list[FrameMatch]]:
        queries = [(picture.timestamp, hashes) for picture in pictures if (hashes := part_hashes(_grey(picture)))]
        return self.index.search(queries, self.threshold) if queries else {}
