"""The references' local features, searched: the second stage's index (candidate frames by hashed descriptor bits,
then verified by a homography, orb.py), its snapshot form, layers of it, and brute force to measure it against."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import BinaryIO, Hashable, Iterable, Mapping, Sequence

import cv2
import numpy as np

from hashmatch.hash_set.array_file import read_arrays, write_arrays
from hashmatch.matching.local_features.candidates import CandidateIndex
from hashmatch.matching.local_features.orb import CANDIDATES, LOW_DETAIL_DESCRIPTORS, MIN_INLIERS, RATIO, SEARCH_THREADS, in_threads, inliers
from hashmatch.model import LocalFeatures


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
