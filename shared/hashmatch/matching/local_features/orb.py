"""Local features (ORB keypoints, binary descriptors) and geometric verification.

The second stage, for copies a global hash cannot see: a 5 % crop moves PDQ by 40-76 bits
and PDQ tolerates only about 1 % of crop mismatch, while picture-in-picture and filmed-screen
copies change the whole frame. Keypoints survive all three; a homography fitted to their
matches (a RANSAC-type fit, OpenCV's USAC) says whether one picture really appears inside the other.
"""

from __future__ import annotations

import copy
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Callable, Hashable, Iterable, Mapping, Sequence, TypeVar

import cv2
import numpy as np

from hashmatch.hash_set.array_file import read_arrays, write_arrays
from hashmatch.matching.local_features.candidates import CandidateIndex
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


@dataclass(frozen=True, slots=True)
class FeatureHit:
    reference: Hashable
    timestamp: float
    span: float
    inliers: int


class _ReferenceFrames:
    """Reference frames' features (what each frame stands for in its reference); subclasses hold them and choose the candidates."""

    def __init__(self) -> None:
        self._recognisable: dict[Hashable, float] = {}

    def __len__(self) -> int:
        raise NotImplementedError

    def add(self, reference: Hashable, frames: Sequence[tuple[float, LocalFeatures]], duration: float) -> None:
        ordered = sorted(frames, key=lambda frame: frame[0])
        added = []
        for position, (timestamp, features) in enumerate(ordered):
            end = ordered[position + 1][0] if position + 1 < len(ordered) else max(duration, timestamp)
            if len(features):
                added.append((float(timestamp), max(0.0, float(end) - float(timestamp)), features))
        if duration > 0:
            seconds = sum(span for _timestamp, span, features in added if len(features) >= MIN_INLIERS)
            self._recognisable[reference] = self._recognisable.get(reference, 0.0) + seconds
        self._added(reference, added)

    def recognisable_seconds(self) -> Mapping[Hashable, float]:
        """Per video reference, the seconds whose frames have the descriptors a verification needs.

        A reference's blank wall or black screen can be matched by no copy: the share of a reference
        a copy covers (verdict.decide) is taken of these seconds, not of its whole duration, where
        they are at least MIN_RECOGNISABLE_SHARE of it. The 4-second doorknob clip is recognisable
        for its first 2 seconds only. (A reference is added once; its frames added again would count
        again. The matcher builds a new index when a reference is replaced.)
        """
        return self._recognisable

    def _added(self, reference: Hashable, frames: list[tuple[float, float, LocalFeatures]]) -> None:
        """Hold a reference's frames with features: (timestamp, span, features) each, in time order."""
        raise NotImplementedError

    def _frame(self, position: int) -> tuple[Hashable, float, float, LocalFeatures]:
        """Frame `position`: its reference, timestamp, span and features."""
        raise NotImplementedError

    def _candidates(self, query: LocalFeatures) -> list[int]:
        """Frame numbers worth verifying, best first (at most CANDIDATES)."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Make what searching reads (a search does it when frames were added since; searches in threads need it done first)."""

    def search_all(self, queries: Sequence[LocalFeatures], min_inliers: int = MIN_INLIERS, threads: int = SEARCH_THREADS) -> list[list[FeatureHit]]:
        """`search` for each of an upload's detail pictures, on `threads` threads.

        The work is numpy and OpenCV calls that release the GIL. The gain is small where OpenCV's matcher
        already spreads over the cores: 0.52 against 0.53 s (10,000 frames) and 0.41 against 0.53 s
        (100,000) for 16 pictures on 2 cores (docs/second-stage-bench.md).
        """
        self.prepare()
        return in_threads(lambda query: self.search(query, min_inliers), queries, threads)

    def search(self, query: LocalFeatures, min_inliers: int = MIN_INLIERS) -> list[FeatureHit]:
        """Verified reference frames for one query frame, most inliers first.

        `min_inliers=0` returns every candidate with its count (for measuring distributions).
        """
        if len(query) < 2 or not len(self):
            return []
        hits = []
        for position in self._candidates(query):
            reference, timestamp, span, features = self._frame(position)
            count = inliers(query, features, at_least=min_inliers)
            if count >= min_inliers:
                hits.append(FeatureHit(reference, timestamp, span, count))
        return sorted(hits, key=lambda hit: -hit.inliers)


# The local-feature snapshot (LocalFeatureIndex.save / load): array_file's layout under this magic.
_SNAPSHOT_MAGIC = b"HMFEATUR"
_SNAPSHOT_VERSION = 1


class LocalFeatureIndex(_ReferenceFrames):
    """The matcher's second stage: a CandidateIndex over the reference descriptors picks the frames
    to verify, so a search reads the few reference descriptors that share a hash key with the
    query's rather than all of them (docs/second-stage-bench.md).

    Each descriptor is held once, in the candidate index; a frame's keypoints are stacked beside
    them (uint16 pixels, as the reference-features objects store them), and a verification reads
    both as views. `save` writes all of it as one file that `load` maps without copying or
    building anything: the indexer's local-feature snapshot, which matchers load as they load the
    PDQ snapshot.
    """

    def __init__(self) -> None:
        super().__init__()
        self.candidate_index = CandidateIndex()
        self.references: list[Hashable] = []  # by reference number: the key
        self._numbers: dict[Hashable, int] = {}
        self._owner = np.zeros(0, np.uint32)  # per frame: its reference number
        self._timestamp = np.zeros(0, np.float64)
        self._span = np.zeros(0, np.float64)
        self._points = np.zeros((0, 2), np.uint16)  # per descriptor, stacked as the candidate index stacks them
        self._pending: list[tuple[int, float, float, np.ndarray]] = []
        self._excluded: np.ndarray | None = None  # per frame: left out of searches (`without`)
        self._frozen = False  # a view (`without`), or an index views were made of: its arrays are shared, nothing is added

    def __len__(self) -> int:
        held = len(self._owner) + len(self._pending)
        return held - (int(self._excluded.sum()) if self._excluded is not None else 0)

    def _added(self, reference: Hashable, frames: list[tuple[float, float, LocalFeatures]]) -> None:
        if self._frozen:
            raise ValueError("an index that shares its arrays with views (without) is not added to: index the new references beside it")
        number = self._numbers.setdefault(reference, len(self.references))
        if number == len(self.references):
            self.references.append(reference)
        for timestamp, span, features in frames:
            self._pending.append((number, timestamp, span, np.round(features.points).astype(np.uint16)))
        self.candidate_index.add([features.descriptors for _timestamp, _span, features in frames])

    def _flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._owner = np.concatenate([self._owner, np.array([p[0] for p in pending], np.uint32)])
            self._timestamp = np.concatenate([self._timestamp, np.array([p[1] for p in pending], np.float64)])
            self._span = np.concatenate([self._span, np.array([p[2] for p in pending], np.float64)])
            self._points = np.concatenate([self._points, *(p[3].reshape(-1, 2) for p in pending)])

    def prepare(self) -> None:
        """Build the hash tables now (a search does it when frames were added since)."""
        self._flush()
        self.candidate_index.build()

    def _frame(self, position: int) -> tuple[Hashable, float, float, LocalFeatures]:
        start, end = (int(v) for v in self.candidate_index.frame_starts[position : position + 2])
        features = LocalFeatures(self._points[start:end].astype(np.float32), self.candidate_index.descriptors[start:end])
        return self.references[int(self._owner[position])], float(self._timestamp[position]), float(self._span[position]), features

    def _candidates(self, query: LocalFeatures) -> list[int]:
        self._flush()
        frames, _votes = self.candidate_index.candidates(
            query.descriptors, CANDIDATES, flips=int(len(query) < LOW_DETAIL_DESCRIPTORS), excluded=self._excluded
        )
        return [int(frame) for frame in frames]

    def without(self, references: Iterable[Hashable]) -> "LocalFeatureIndex":
        """This index with these references' frames left out of every search: a view that shares its
        arrays (a matcher's snapshot, with the references removed or replaced since it was written)."""
        self.prepare()
        numbers = [self._numbers[key] for key in set(references) if key in self._numbers]
        self._frozen = True
        view = copy.copy(self)
        view._pending = []
        if numbers:
            left_out = np.isin(self._owner, np.asarray(numbers, np.uint32))
            view._excluded = left_out if self._excluded is None else self._excluded | left_out
            gone = {self.references[number] for number in numbers}
            view._recognisable = {key: seconds for key, seconds in self._recognisable.items() if key not in gone}
        return view

    def nbytes(self) -> int:
        """Memory held by the arrays: the candidate index and the frames' keypoints, times and owners."""
        self.prepare()
        return self.candidate_index.nbytes() + int(self._points.nbytes + self._owner.nbytes + self._timestamp.nbytes + self._span.nbytes)

    def save(self, out: BinaryIO, described: Mapping | None = None) -> int:
        """Write the index (references keyed by text) and `described` (JSON-able) to `out`, array by array; returns the bytes written."""
        if self._excluded is not None:
            raise ValueError("a view with references left out (without) is not saved: save the index it came from")
        self.prepare()
        recognisable = [self._recognisable.get(key) for key in self.references]
        about = {"references": [str(key) for key in self.references], "recognisable_seconds": recognisable, "described": dict(described or {})}
        arrays = {"owner": self._owner, "timestamp": self._timestamp, "span": self._span, "points": self._points}
        arrays.update({f"candidates.{name}": array for name, array in self.candidate_index.to_arrays().items()})
        return write_arrays(out, _SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, about, arrays)

    @classmethod
    def load(cls, data: bytes | bytearray | memoryview) -> tuple["LocalFeatureIndex", dict]:
        """An index over what `save` wrote (read-only views of `data`, nothing built), and what it described."""
        _version, about, arrays = read_arrays(data, _SNAPSHOT_MAGIC, (_SNAPSHOT_VERSION,))
        index = cls()
        prefix = "candidates."
        index.candidate_index = CandidateIndex.from_arrays({name[len(prefix) :]: array for name, array in arrays.items() if name.startswith(prefix)})
        index._owner, index._timestamp, index._span, index._points = arrays["owner"], arrays["timestamp"], arrays["span"], arrays["points"]
        index.references = list(about["references"])
        index._numbers = {key: number for number, key in enumerate(index.references)}
        frames = len(index.candidate_index)
        if not (len(index._owner) == len(index._timestamp) == len(index._span) == frames) or index._points.shape != (len(index.candidate_index.descriptors), 2):
            raise ValueError("local-feature snapshot: its frames and keypoints do not fit its candidate index")
        if frames and int(index._owner.max()) >= len(index.references):
            raise ValueError("local-feature snapshot: a frame names no reference")
        index._recognisable = {key: seconds for key, seconds in zip(index.references, about["recognisable_seconds"]) if seconds is not None}
        return index, about["described"]


class LocalFeatureLayers:
    """Several local-feature indexes searched as one (a matcher's snapshot, and the references added since it)."""

    def __init__(self, layers: Sequence[_ReferenceFrames]):
        self.layers = [layer for layer in layers if len(layer)]

    def __len__(self) -> int:
        return sum(len(layer) for layer in self.layers)

    def prepare(self) -> None:
        for layer in self.layers:
            layer.prepare()

    def recognisable_seconds(self) -> Mapping[Hashable, float]:
        merged: dict[Hashable, float] = {}
        for layer in self.layers:
            merged.update(layer.recognisable_seconds())
        return merged

    def search_all(self, queries: Sequence[LocalFeatures], min_inliers: int = MIN_INLIERS, threads: int = SEARCH_THREADS) -> list[list[FeatureHit]]:
        """Each layer's `search_all`; per query, the hits of all of them, most inliers first."""
        found: list[list[FeatureHit]] = [[] for _ in queries]
        for layer in self.layers:
            for hits, more in zip(found, layer.search_all(queries, min_inliers, threads)):
                hits.extend(more)
        return [sorted(hits, key=lambda hit: -hit.inliers) for hits in found]


class BruteForceFeatureIndex(_ReferenceFrames):
    """Every query descriptor against every reference descriptor (ratio-test votes): the stage before
    the candidate index, kept as the baseline the benchmark measures the index against. Its time
    grows with the references: about 10 ms per reference frame per detail picture."""

    # OpenCV's brute-force knnMatch takes a training set of fewer than 2^18 descriptors
    # (IMGIDX_ONE; 262,144 rows fail its assertion): about 320 reference frames.
    _CHUNK = (1 << 18) - 1
    # Fewer ratio-test votes than this is no candidate.
    MIN_VOTES = 8

    def __init__(self) -> None:
        super().__init__()
        self._frames: list[tuple[Hashable, float, float, LocalFeatures]] = []
        self._owner: np.ndarray | None = None
        self._stacked: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def _added(self, reference: Hashable, frames: list[tuple[float, float, LocalFeatures]]) -> None:
        self._frames.extend((reference, timestamp, span, features) for timestamp, span, features in frames)
        self._stacked = None

    def _frame(self, position: int) -> tuple[Hashable, float, float, LocalFeatures]:
        return self._frames[position]

    def prepare(self) -> None:
        if self._stacked is None:
            self._build()

    def _build(self) -> None:
        self._stacked = np.concatenate([f[3].descriptors for f in self._frames]) if self._frames else np.zeros((0, 32), np.uint8)
        self._owner = np.concatenate([np.full(len(f[3]), i) for i, f in enumerate(self._frames)]) if self._frames else np.zeros(0, int)

    def _candidates(self, query: LocalFeatures) -> list[int]:
        if self._stacked is None:
            self._build()
        if len(self._stacked) < 2:
            return []
        votes = np.zeros(len(self._frames), dtype=np.int64)
        matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        for start in range(0, len(self._stacked), self._CHUNK):
            chunk = self._stacked[start : start + self._CHUNK]
            for pair in matcher.knnMatch(query.descriptors, chunk, k=2):
                if len(pair) == 2 and pair[0].distance < RATIO * pair[1].distance:
                    votes[self._owner[start + pair[0].trainIdx]] += 1
        best = np.argsort(-votes, kind="stable")[:CANDIDATES]
        return [int(position) for position in best if votes[position] >= self.MIN_VOTES]


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
