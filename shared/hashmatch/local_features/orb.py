"""Local features (ORB keypoints, binary descriptors) and geometric verification.

The second stage, for copies a global hash cannot see: a 5 % crop moves PDQ by 40-76 bits
and PDQ tolerates only about 1 % of crop mismatch, while picture-in-picture and filmed-screen
copies change the whole frame. Keypoints survive all three; a homography fitted to their
matches (RANSAC) says whether one picture really appears inside the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import cv2
import numpy as np

from hashmatch.model import Box, EncodedDetailPicture, FrameFeatures, LocalFeatures

MAX_FEATURES = 1000
CLAHE_CLIP = 2.0
# Lowe's ratio test: a descriptor match counts only when clearly better than the runner-up.
RATIO = 0.8
# RANSAC reprojection tolerance at FEATURE_MAX_SIDE (1024 px).
RANSAC_PIXELS = 5.0
# Homography inliers that prove a copy. Measured on the robustness suite (docs/robustness.md):
# content of other references never passes 11-13 inliers, while the copies this stage catches
# (crops, logos, captions, picture-in-picture, filmed screens) keep a median of 376 (videos)
# and 509 (pictures). 30 leaves room on both sides.
MIN_INLIERS = 30
# A copy is not smaller than this share of the reference's side, nor much larger.
MIN_SCALE, MAX_SCALE = 0.1, 10.0
# Reference frames whose descriptors collect the most ratio-test votes are verified.
CANDIDATES = 3


# ORB describes a 31-pixel patch around each keypoint and builds a scale pyramid: a smaller picture
# has no keypoint to give, and OpenCV fails an assertion on it (a 1x1 animated GIF crashed hashing).
MIN_SIDE = 32


def extract(gray: np.ndarray, max_features: int = MAX_FEATURES) -> LocalFeatures:
    """ORB keypoints and descriptors of one grey picture (none for a picture under MIN_SIDE pixels)."""
    if min(gray.shape[:2]) < MIN_SIDE:
        return LocalFeatures.empty()
    # Local contrast equalisation first: on flat, dark or hazy pictures ORB's corner test finds
    # almost nothing (1-15 keypoints on the suite's seascape and dim desk tiles).
    equalised = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(8, 8)).apply(np.ascontiguousarray(gray))
    keypoints, descriptors = cv2.ORB_create(nfeatures=max_features).detectAndCompute(equalised, None)
    if descriptors is None:
        return LocalFeatures.empty()
    return LocalFeatures(np.float32([k.pt for k in keypoints]), descriptors)


def extract_with_insets(gray: np.ndarray, insets: Sequence[Box] = (), max_features: int = MAX_FEATURES) -> LocalFeatures:
    """Features of the whole picture plus, for each inset (top, bottom, left, right as shares),
    features of that region enlarged to full size, mapped back into the picture's coordinates.

    In a picture-in-picture copy the background takes most keypoints; the inset's own keypoints
    let the homography find the known picture inside.
    """
    parts = [extract(gray, max_features)]
    height, width = gray.shape[:2]
    for top, bottom, left, right in insets:
        y0, y1, x0, x1 = round(top * height), round(bottom * height), round(left * width), round(right * width)
        if y1 - y0 < 16 or x1 - x0 < 16:
            continue
        scale = max(height, width) / max(y1 - y0, x1 - x0)
        region = cv2.resize(np.ascontiguousarray(gray[y0:y1, x0:x1]), (round((x1 - x0) * scale), round((y1 - y0) * scale)), interpolation=cv2.INTER_LINEAR)
        inset = extract(region, max_features)
        parts.append(LocalFeatures(inset.points / scale + np.float32([x0, y0]), inset.descriptors))
    if len(parts) == 1:
        return parts[0]
    return LocalFeatures(np.concatenate([p.points for p in parts]), np.concatenate([p.descriptors for p in parts]))


def _plausible(homography: np.ndarray | None) -> bool:
    """A homography a copy could have: not degenerate, not mirrored, within the scale bounds."""
    if homography is None or not np.all(np.isfinite(homography)):
        return False
    determinant = float(np.linalg.det(homography[:2, :2]))
    return MIN_SCALE**2 <= determinant <= MAX_SCALE**2


def _good_matches(query: LocalFeatures, reference: LocalFeatures):
    if len(query) < 2 or len(reference) < 2:
        return []
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, reference.descriptors, k=2)
    return [first for first, second in (p for p in pairs if len(p) == 2) if first.distance < RATIO * second.distance]


def inliers(query: LocalFeatures, reference: LocalFeatures) -> int:
    """How many matched keypoints one plausible homography explains (0 when there is none)."""
    good = _good_matches(query, reference)
    if len(good) < 8:
        return 0
    source = query.points[[m.queryIdx for m in good]]
    target = reference.points[[m.trainIdx for m in good]]
    homography, mask = cv2.findHomography(source, target, cv2.RANSAC, RANSAC_PIXELS)
    if mask is None or not _plausible(homography):
        return 0
    return int(mask.sum())


@dataclass(frozen=True, slots=True)
class FeatureHit:
    reference: Hashable
    timestamp: float
    span: float
    inliers: int


class LocalFeatureIndex:
    """Reference frames' features; a search votes with descriptor matches, then verifies the best candidates."""

    # OpenCV's brute-force knnMatch takes a training set of fewer than 2^18 descriptors
    # (IMGIDX_ONE; 262,144 rows fail its assertion): about 320 reference frames.
    _CHUNK = (1 << 18) - 1

    def __init__(self) -> None:
        self._frames: list[tuple[Hashable, float, float, LocalFeatures]] = []
        self._owner: np.ndarray | None = None
        self._stacked: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, reference: Hashable, frames: Sequence[tuple[float, LocalFeatures]], duration: float) -> None:
        ordered = sorted(frames, key=lambda frame: frame[0])
        for position, (timestamp, features) in enumerate(ordered):
            end = ordered[position + 1][0] if position + 1 < len(ordered) else max(duration, timestamp)
            if len(features):
                self._frames.append((reference, float(timestamp), max(0.0, float(end) - float(timestamp)), features))
        self._stacked = None

    def _build(self) -> None:
        self._stacked = np.concatenate([f[3].descriptors for f in self._frames]) if self._frames else np.zeros((0, 32), np.uint8)
        self._owner = np.concatenate([np.full(len(f[3]), i) for i, f in enumerate(self._frames)]) if self._frames else np.zeros(0, int)

    def search(self, query: LocalFeatures, min_inliers: int = MIN_INLIERS) -> list[FeatureHit]:
        """Verified reference frames for one query frame, most inliers first.

        `min_inliers=0` returns every candidate with its count (for measuring distributions).
        """
        if self._stacked is None:
            self._build()
        if len(query) < 2 or len(self._stacked) < 2:
            return []
        votes = np.zeros(len(self._frames), dtype=np.int64)
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        for start in range(0, len(self._stacked), self._CHUNK):
            chunk = self._stacked[start : start + self._CHUNK]
            for pair in matcher.knnMatch(query.descriptors, chunk, k=2):
                if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance:
                    votes[self._owner[start + pair[0].trainIdx]] += 1
        hits = []
        for position in np.argsort(-votes)[:CANDIDATES]:
            if votes[position] < 8:
                break
            reference, timestamp, span, features = self._frames[position]
            count = inliers(query, features)
            if count >= min_inliers:
                hits.append(FeatureHit(reference, timestamp, span, count))
        return sorted(hits, key=lambda hit: -hit.inliers)


def features_of_detail_picture(picture: EncodedDetailPicture) -> FrameFeatures:
    """The local features of a detail picture as it travels (JPEG; decoded with OpenCV, no Pillow needed)."""
    grey = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable detail picture")
    return FrameFeatures(picture.timestamp, extract_with_insets(grey, picture.insets))
