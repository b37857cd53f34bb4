"""The layout stage of the Matcher: PDQ of the parts of an upload's pictures where reaction layouts put a copy.

A split screen, a collage or a copy beside a band of other content shows the known picture in one
part of the frame: the whole frame's PDQ is far from it, and where the copy is squeezed into its
part (its aspect changed) local features verify it poorly, since ORB's descriptors are not made
for a stretch. PDQ is: it reduces any picture to 64 x 64 before hashing. So this stage cuts each
detail picture into the parts layouts use (LAYOUT_PARTS: the copy in 40, 50 or 60 % of the frame
on any side, a quarter, a ninth), takes plain bars off each part (a copy fitted into its part),
hashes it with PDQ and searches the reference frames with those hashes, at the deployed threshold.

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
    found = []
    for top, bottom, left, right in parts:
        # Sides inside the picture are pulled in by PART_MARGIN pixels: a sliver of the neighbouring part (the
        # layout's border is rarely on our pixel) would keep a fitted copy's bars from being taken off.
        y0, y1 = round(top * height) + PART_MARGIN * (top > 0), round(bottom * height) - PART_MARGIN * (bottom < 1)
        x0, x1 = round(left * width) + PART_MARGIN * (left > 0), round(right * width) - PART_MARGIN * (right < 1)
        region = grey[y0:y1, x0:x1]
        if min(region.shape[:2]) < PART_MIN_SIDE:
            continue
        scale = min(1.0, PART_MAX_SIDE / max(region.shape[:2]))
        if scale < 1.0:
            region = cv2.resize(region, (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        rgb = np.repeat(region[:, :, None], 3, axis=2)
        inside = content_box(rgb)
        if inside is None:
            continue
        rgb = inside.crop(rgb)
        if min(rgb.shape[:2]) < PART_MIN_SIDE * scale:
            continue
        value = PRIMARY_SIGNAL.hash_frame(rgb)
        if value.quality >= PRIMARY_SIGNAL.min_quality:
            found.append(str(value.hash))
    return list(dict.fromkeys(found))


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
