"""The reference frames of many references in one index (PdqIndex: sub-linear, exact); a search groups hits by reference."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from hashmatch.hash_set.brute_force import HashIndex, pack
from hashmatch.hash_set.pdq_index import PdqIndex
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD, PdqSignal

PDQ_BITS = PdqSignal.bits


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """One query frame within the threshold of one reference frame."""

    query_timestamp: float
    reference_timestamp: float
    reference_span: float  # the stretch of the reference this (deduplicated) frame stands for
    distance: int | None  # hash bits apart (None for a local-feature match)
    inliers: int | None = None  # keypoints a homography explains (local-feature matches only)
    entry: int | None = None  # the reference frame's position in its FrameIndex (PDQ matches)


# Snapshot layout: magic, version, entries, references' JSON bytes, the PdqIndex's bytes; then the
# JSON (reference keys in order), owner (uint32), timestamp and span (float32), each 64-byte
# aligned, then the PdqIndex snapshot (the hashes and their buckets).
_SNAPSHOT = struct.Struct("<8sIQQQ")
_SNAPSHOT_MAGIC = b"HMFRAMES"
_SNAPSHOT_VERSION = 1
# Every part of a snapshot starts 64-byte aligned, so numpy views of it need no copy.
ALIGN = 64


def aligned(size: int) -> int:
    """`size` rounded up to the next part boundary."""
    return size + (-size % ALIGN)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (aligned(len(data)) - len(data))


# The owner of a still entry: a hash that is a reference of its own (a hash-list entry), keyed
# by itself ("pdq:<hex>"), so a million of them need no key list.
STILL = np.uint32(0xFFFFFFFF)
STILL_KEY_PREFIX = "pdq:"


class FrameIndex:
    """Reference frames of many references, searched together; a search groups hits by reference.

    Frames are added per reference (or in bulk as still entries), then the index is frozen into
    arrays at the first search (or read whole from a snapshot): per frame its owner, timestamp
    and span, 12 bytes beside the 32-byte hash and the PdqIndex's buckets.
    """

    def __init__(self, bits: int = 256, radius: int = PDQ_CONFIDENT_MATCH_THRESHOLD):
        self.bits = bits
        self.radius = radius  # searches up to this threshold use the sub-linear index
        self.references: list[Hashable] = []
        self._positions: dict[Hashable, int] = {}
        self._pending: list[tuple[int, float, float, str]] = []
        self._owner = np.zeros(0, np.uint32)
        self._timestamp = np.zeros(0, np.float32)
        self._span = np.zeros(0, np.float32)
        self._packed = np.zeros((0, bits // 64), np.uint64)
        self._index: PdqIndex | HashIndex | None = None

    def add(self, reference: Hashable, frames: Sequence[tuple[float, str]], duration: float) -> None:
        """Add one reference's frames as (timestamp, hash hex), in time order."""
        owner = self._positions.get(reference)
        if owner is None:
            owner = self._positions[reference] = len(self.references)
            self.references.append(reference)
        ordered = sorted(frames, key=lambda frame: frame[0])
        for position, (timestamp, hex_hash) in enumerate(ordered):
            end = ordered[position + 1][0] if position + 1 < len(ordered) else max(duration, timestamp)
            self._pending.append((owner, float(timestamp), max(0.0, float(end) - float(timestamp)), hex_hash))
        self._index = None

    def add_still(self, hashes: Sequence[str] | np.ndarray) -> None:
        """Hashes that are references of their own, still (duration 0), keyed "pdq:<hex>": hash-list entries, in bulk."""
        packed = hashes if isinstance(hashes, np.ndarray) else pack(hashes, self.bits)
        self._flush_pending()  # positions follow the order frames were added in
        count = len(packed)
        self._append(np.full(count, STILL, np.uint32), np.zeros(count, np.float32), np.zeros(count, np.float32), packed)
        self._index = None

    def key_of(self, entry: int) -> Hashable:
        """The reference the frame at `entry` belongs to."""
        self._freeze()
        owner = self._owner[entry]
        return f"{STILL_KEY_PREFIX}{self.hash_of(entry)}" if owner == STILL else self.references[int(owner)]

    def __len__(self) -> int:
        return len(self._owner) + len(self._pending)

    def _append(self, owner: np.ndarray, timestamp: np.ndarray, span: np.ndarray, packed: np.ndarray) -> None:
        self._owner = np.concatenate([self._owner, owner])
        self._timestamp = np.concatenate([self._timestamp, timestamp])
        self._span = np.concatenate([self._span, span])
        self._packed = np.concatenate([self._packed, packed])

    def _flush_pending(self) -> None:
        if self._pending:
            owners, timestamps, spans, hashes = zip(*self._pending)
            self._append(np.asarray(owners, np.uint32), np.asarray(timestamps, np.float32), np.asarray(spans, np.float32), pack(hashes, self.bits))
            self._pending = []

    def _freeze(self) -> None:
        if self._pending:
            self._flush_pending()
            self._index = None
        if self._index is None:
            sub_linear = self.bits == PDQ_BITS
            self._index = PdqIndex.build(self._packed, self.radius) if sub_linear else HashIndex.of_packed(self._packed)

    def hash_of(self, entry: int) -> str:
        """The hex hash of the frame at `entry` (FrameMatch.entry)."""
        self._freeze()
        return self._packed[entry].astype(">u8").tobytes().hex()

    @property
    def packed(self) -> np.ndarray:
        """Every frame's hash packed (brute_force.pack's layout), in entry order: for what the sub-linear index does not answer, such as the nearest hash at any distance."""
        self._freeze()
        return self._packed

    def owners(self) -> np.ndarray:
        """Per frame, the position of its reference in `references` (STILL for a still entry)."""
        self._freeze()
        return self._owner

    def selected(self, keep: np.ndarray) -> "FrameIndex":
        """A new index of the frames where `keep` is true, in their order; references left without a frame are dropped."""
        self._freeze()
        owner = self._owner[keep]
        media = owner != STILL
        used = np.unique(owner[media])
        renumber = np.zeros(len(self.references) + 1, np.uint32)
        renumber[used] = np.arange(len(used), dtype=np.uint32)
        owner = np.where(media, renumber[np.where(media, owner, 0)], STILL).astype(np.uint32)
        index = FrameIndex(self.bits, self.radius)
        index.references = [self.references[int(position)] for position in used]
        index._positions = {key: position for position, key in enumerate(index.references)}
        index._append(owner, self._timestamp[keep], self._span[keep], self._packed[keep])
        return index


    def search_entries(self, hashes: Sequence[str], threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query position, entry position, distance) within the threshold, for plain hashes."""
        self._freeze()
        if not hashes or not len(self._packed):
            empty = np.zeros(0, np.int64)
            return empty, empty.copy(), empty.astype(np.uint16)
        packed = pack(hashes, self.bits)
        if isinstance(self._index, PdqIndex) and threshold <= self._index.radius:
            return self._index.search(packed, threshold)
        # Above the radius the buckets were sized for: brute force, still exact.
        return HashIndex.of_packed(self._packed).search_packed(packed, threshold)

    def search(self, queries: Sequence[tuple[float, Sequence[str]]], threshold: int) -> dict[Hashable, list[FrameMatch]]:
        """For query frames given as (timestamp, [hash and its variants]), the best hit per reference frame pair."""
        flat: list[str] = []
        owner: list[int] = []
        for position, (_timestamp, hashes) in enumerate(queries):
            flat.extend(hashes)
            owner.extend([position] * len(hashes))
        query_pos, entry_pos, distances = self.search_entries(flat, threshold)
        found: dict[Hashable, dict[tuple[int, int], int]] = {}
        for q, e, d in zip(query_pos.tolist(), entry_pos.tolist(), distances.tolist()):
            per_reference = found.setdefault(self.key_of(e), {})
            key = (owner[q], e)
            if key not in per_reference or d < per_reference[key]:
                per_reference[key] = d
        return {
            reference: [
                FrameMatch(queries[frame][0], float(self._timestamp[e]), float(self._span[e]), d, entry=e)
                for (frame, e), d in sorted(pairs.items())
            ]
            for reference, pairs in found.items()
        }

    def to_bytes(self) -> bytes:
        """The index as a snapshot: reference keys (strings), per-frame arrays and the PdqIndex, for from_bytes."""
        self._freeze()
        if not isinstance(self._index, PdqIndex):
            raise ValueError("only a 256-bit (PDQ) FrameIndex has a snapshot")
        keys = json.dumps([str(reference) for reference in self.references]).encode()
        index = self._index.to_bytes()
        header = _SNAPSHOT.pack(_SNAPSHOT_MAGIC, _SNAPSHOT_VERSION, len(self._owner), len(keys), len(index))
        parts = [header, keys, self._owner.astype("<u4").tobytes(), self._timestamp.astype("<f4").tobytes(), self._span.astype("<f4").tobytes()]
        return b"".join(padded(part) for part in parts) + index

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> "FrameIndex":
        """A FrameIndex over a snapshot's bytes (zero-copy views; no per-frame work)."""
        view = memoryview(data).cast("B")
        magic, version, count, key_bytes, index_bytes = _SNAPSHOT.unpack_from(view)
        if magic != _SNAPSHOT_MAGIC or version != _SNAPSHOT_VERSION:
            raise ValueError("not a FrameIndex snapshot of a version this code reads")
        offset = aligned(_SNAPSHOT.size)
        keys = json.loads(bytes(view[offset : offset + key_bytes]))
        offset += aligned(key_bytes)
        arrays = []
        for dtype in ("<u4", "<f4", "<f4"):
            arrays.append(np.frombuffer(view, dtype=dtype, count=count, offset=offset))
            offset += aligned(4 * count)
        if offset + index_bytes != len(view):
            raise ValueError("FrameIndex snapshot is truncated or has trailing bytes")
        index = PdqIndex.from_bytes(view[offset:])
        frame_index = cls(PDQ_BITS, index.radius)
        frame_index.references = keys
        frame_index._positions = {key: position for position, key in enumerate(keys)}
        frame_index._owner, frame_index._timestamp, frame_index._span = arrays
        frame_index._packed = index.hashes
        frame_index._index = index
        return frame_index


class FrameIndexLayers:
    """A frozen FrameIndex with some of its keys hidden and a small overlay index searched beside it.

    How a matcher takes the changes made since its snapshot without rebuilding the snapshot's
    index: a changed reference is hidden in the base and, unless it is gone, in the overlay.
    """

    def __init__(self, base: FrameIndex, hidden: set[Hashable], overlay: FrameIndex):
        self.base = base
        self.hidden = hidden
        self.overlay = overlay

    @property
    def radius(self) -> int:
        """Searches up to this threshold are exact in both layers (the smaller of their radii)."""
        return min(self.base.radius, self.overlay.radius)

    def __len__(self) -> int:
        return len(self.base) + len(self.overlay)

    def search(self, queries: Sequence[tuple[float, Sequence[str]]], threshold: int) -> dict[Hashable, list[FrameMatch]]:
        found = {key: matches for key, matches in self.base.search(queries, threshold).items() if key not in self.hidden}
        if len(self.overlay):
            found.update(self.overlay.search(queries, threshold))
        return found
