"""Local features (ORB keypoints, binary descriptors) and geometric verification.

The second stage, for copies a global hash cannot see: a 5 % crop moves PDQ by 40-76 bits
and PDQ tolerates only about 1 % of crop mismatch, while picture-in-picture and filmed-screen
copies change the whole frame. Keypoints survive all three; a homography fitted to their
matches (a RANSAC-type fit, OpenCV's USAC) says whether one picture really appears inside the other.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import cv2
import numpy as np

from hashmatch.model import Box, EncodedDetailPicture, FrameFeatures, LocalFeatures

T = TypeVar("T")
R = TypeVar("R")

MAX_FEATURES = 1000
CLAHE_CLIP = 2.0
# Lowe's ratio test: a descriptor match counts only when clearly better than the runner-up.
RATIO = 0.8
# RANSAC reprojection tolerance at FEATURE_MAX_SIDE (1024 px).
RANSAC_PIXELS = 5.0
# OpenCV's USAC framework in its fast setting (a RANSAC with local optimisation) rather than classic
# RANSAC: 0.42 against 10.2 ms a verification, measured on the 728 candidate pairs of the suite's
# queries that reach it against the 1,000-frame benchmark set. Same threshold, same verdicts but for 3
# pairs (of 576 at MIN_INLIERS or more with RANSAC) that fell below it; no pair below it rose past it.
HOMOGRAPHY_METHOD = cv2.USAC_FAST
# Homography inliers (distinct keypoints) that prove a copy. Measured on the robustness suite
# (docs/robustness.md, 2026-12-06): content of other references never passes 7-8 inliers, while the
# copies this stage catches (crops, logos, captions, composites, picture-in-picture, filmed screens)
# keep a median of 160 (videos) and 274 (pictures). 30 leaves room on both sides.
MIN_INLIERS = 30
# A copy is not smaller than this share of the reference's side, nor much larger.
MIN_SCALE, MAX_SCALE = 0.1, 10.0
# Reference frames whose descriptors collect the most votes are verified.
CANDIDATES = 3
# An upload's detail pictures are searched on this many threads: the CPUs this process may use, at
# most 4 (the matcher's Lambda has about 1.7 vCPU at 3008 MB and shows 2; the work releases the GIL).
SEARCH_THREADS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
# A detail picture with fewer descriptors than this (a thumbnail, a flat or blurred frame) also probes
# the hash keys one bit away: its few descriptors must each find their neighbours for it to reach
# MIN_VOTES, and probing 25 keys for a few hundred descriptors costs what one key costs for a
# detailed picture's thousands.
LOW_DETAIL_DESCRIPTORS = 400


# Keypoints are spread over a SPREAD_GRID x SPREAD_GRID grid, chosen from SPREAD_POOL times as many
# candidates as are kept (spread_over_grid).
SPREAD_GRID = 4
SPREAD_POOL = 5


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
    orb = cv2.ORB_create(nfeatures=max_features * SPREAD_POOL)
    keypoints = spread_over_grid(orb.detect(equalised, None), gray.shape, max_features)
    keypoints, descriptors = orb.compute(equalised, keypoints)
    if descriptors is None or not len(keypoints):
        return LocalFeatures.empty()
    return LocalFeatures(np.float32([k.pt for k in keypoints]), descriptors)


def spread_over_grid(keypoints: Sequence[cv2.KeyPoint], shape: tuple[int, ...], count: int, grid: int = SPREAD_GRID) -> list[cv2.KeyPoint]:
    """The `count` keypoints to describe, taken in turn from the cells of a grid x grid division of
    the picture (each cell's strongest first), so that no part of it takes them all.

    ORB keeps the strongest corners of the whole picture: text (meme captions, a caption band) and a
    busy picture beside the known one (split screen, collage) have the strongest, and left the known
    picture too few keypoints to verify.
    """
    if len(keypoints) <= count:
        return list(keypoints)
    height, width = shape[:2]
    points = np.float32([k.pt for k in keypoints])
    response = np.float32([k.response for k in keypoints])
    cell = np.minimum(points[:, 1] * grid // height, grid - 1) * grid + np.minimum(points[:, 0] * grid // width, grid - 1)
    order = np.lexsort((-response, cell))  # by cell, strongest first within it
    ordered_cells = cell[order]
    starts = np.searchsorted(ordered_cells, ordered_cells, side="left")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order)) - starts  # place of each keypoint within its cell
    chosen = np.lexsort((-response, rank))[:count]  # every cell's first, then every cell's second, ...
    return [keypoints[i] for i in chosen]


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


def inliers(query: LocalFeatures, reference: LocalFeatures, at_least: int = 0) -> int:
    """How many keypoints of each picture one plausible homography explains, the fewer of the two (0 when there is none).

    With `at_least`, 0 also when fewer descriptor matches than that survive the ratio test: the
    inliers are some of those matches, so no homography could reach
    it. Most candidates of an unrelated upload stop there (68 % of them, 1,000-frame benchmark set).
    """
    good = _good_matches(query, reference)
    if len(good) < max(8, at_least):
        return 0
    pairs = np.array([(m.queryIdx, m.trainIdx) for m in good])
    homography, mask = cv2.findHomography(query.points[pairs[:, 0]], reference.points[pairs[:, 1]], HOMOGRAPHY_METHOD, RANSAC_PIXELS)
    if mask is None or not _plausible(homography):
        return 0
    return explained_keypoints(pairs, mask.ravel().astype(bool))


def explained_keypoints(pairs: np.ndarray, inlier: np.ndarray) -> int:
    """Of matched (query, reference) keypoint pairs, how many distinct keypoints the inlier pairs
    hold on each side, the fewer of the two.

    Keypoints, not matches: many query keypoints matched to the same few reference keypoints (a
    reference frame of 26 descriptors, a homography that folds a whole picture onto one point)
    made 78 "inliers" of an unrelated picture at 100,000 reference frames.
    """
    explained = pairs[inlier]
    return int(min(len(np.unique(explained[:, 0])), len(np.unique(explained[:, 1]))))


def in_threads(function: Callable[[T], R], items: Sequence[T], threads: int = SEARCH_THREADS) -> list[R]:
    """`function` of each item, in order, on up to `threads` threads (for work that releases the GIL)."""
    if threads <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="local-features") as pool:
        return list(pool.map(function, items))


def features_of_detail_picture(picture: EncodedDetailPicture, mirrored: bool = False) -> FrameFeatures:
    """The local features of a detail picture as it travels (JPEG; decoded with OpenCV, no Pillow needed).

    `mirrored`: of the picture flipped left to right. ORB's descriptors are not mirror-invariant, so a
    mirrored copy's own features meet few of the reference's; its flipped picture's meet them as an
    unmirrored copy's would (and its homography is an ordinary one, which _plausible accepts).
    """
    grey = cv2.imdecode(np.frombuffer(picture.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable detail picture")
    insets = picture.insets
    if mirrored:
        grey = np.ascontiguousarray(grey[:, ::-1])
        insets = tuple((top, bottom, 1.0 - right, 1.0 - left) for top, bottom, left, right in insets)
    return FrameFeatures(picture.timestamp, extract_with_insets(grey, insets))


def matched_outline(query_grey: np.ndarray, reference_grey: np.ndarray) -> np.ndarray | None:
    """Where the reference picture appears in the query picture: its four corners (top-left, top-right, bottom-right,
    bottom-left) in the query's pixels, from the homography the verification fits; None when no plausible one explains
    MIN_INLIERS keypoints. For reviewers (`hashmatch review` outlines a local-feature match); mirrored copies are
    tried flipped, and their corners flipped back."""
    reference = extract(reference_grey)
    height, width = reference_grey.shape[:2]
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]]).reshape(-1, 1, 2)
    for mirrored in (False, True):
        shown = np.ascontiguousarray(query_grey[:, ::-1]) if mirrored else query_grey
        query = extract(shown)
        good = _good_matches(reference, query)
        if len(good) < MIN_INLIERS:
            continue
        pairs = np.array([(m.queryIdx, m.trainIdx) for m in good])
        homography, mask = cv2.findHomography(reference.points[pairs[:, 0]], query.points[pairs[:, 1]], HOMOGRAPHY_METHOD, RANSAC_PIXELS)
        if mask is None or not _plausible(homography) or explained_keypoints(pairs, mask.ravel().astype(bool)) < MIN_INLIERS:
            continue
        outline = cv2.perspectiveTransform(corners, homography).reshape(-1, 2)
        if mirrored:
            outline[:, 0] = query_grey.shape[1] - outline[:, 0]
        return outline
    return None
