"""Packed hashes to matches within a radius: a vectorised Hamming-distance index (numpy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterable, Sequence

import numpy as np

from hashmatch.hashes import Hash

# Bound on the temporary XOR block (queries x entries x words x 8 bytes) of one batch step.
_BLOCK_BYTES = 64 * 1024 * 1024


def pack(hashes: Iterable[Hash | str], bits: int) -> np.ndarray:
    """Hashes to an (N, bits/64) uint64 array, most significant word first."""
    words = bits // 64
    rows = [h.to_bytes() if isinstance(h, Hash) else Hash.from_hex(h, bits).to_bytes() for h in hashes]
    if not rows:
        return np.zeros((0, words), dtype=np.uint64)
    return np.frombuffer(b"".join(rows), dtype=">u8").astype(np.uint64).reshape(len(rows), words)


class HashIndex:
    """All entries within a Hamming radius of each query, computed with np.bitwise_count."""

    def __init__(self, hashes: Iterable[Hash | str], bits: int = 256):
        if bits % 64:
            raise ValueError("bits must be a multiple of 64")
        self.bits = bits
        self._packed = pack(hashes, bits)

    def __len__(self) -> int:
        return self._packed.shape[0]

    def distances(self, queries: Sequence[Hash | str]) -> np.ndarray:
        """The full (queries x entries) distance matrix; for small indexes and tests."""
        packed = pack(queries, self.bits)
        return np.bitwise_count(packed[:, None, :] ^ self._packed[None, :, :]).sum(axis=2, dtype=np.uint16)

    def search(self, queries: Sequence[Hash | str], threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query position, entry position, distance) with distance <= threshold."""
        packed = pack(queries, self.bits)
        found_q, found_e, found_d = [], [], []
        entries = max(1, len(self))
        step = max(1, _BLOCK_BYTES // (entries * packed.shape[1] * 8 if packed.size else 1))
        for start in range(0, packed.shape[0], step):
            block = packed[start : start + step]
            dist = np.bitwise_count(block[:, None, :] ^ self._packed[None, :, :]).sum(axis=2, dtype=np.uint16)
            q, e = np.nonzero(dist <= threshold)
            found_q.append(q + start)
            found_e.append(e)
            found_d.append(dist[q, e])
        if not found_q:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty.astype(np.uint16)
        return np.concatenate(found_q), np.concatenate(found_e), np.concatenate(found_d)


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """One query frame within the threshold of one reference frame."""

    query_timestamp: float
    reference_timestamp: float
    reference_span: float  # the stretch of the reference this (deduplicated) frame stands for
    distance: int | None  # hash bits apart (None for a local-feature match)
    inliers: int | None = None  # keypoints a homography explains (local-feature matches only)


@dataclass(frozen=True, slots=True)
class _Entry:
    reference: Hashable
    timestamp: float
    span: float


class FrameIndex:
    """Reference frames of many references in one HashIndex; a search groups hits by reference."""

    def __init__(self, bits: int = 256):
        self.bits = bits
        self._entries: list[_Entry] = []
        self._hashes: list[str] = []
        self._index: HashIndex | None = None

    def add(self, reference: Hashable, frames: Sequence[tuple[float, str]], duration: float) -> None:
        """Add one reference's frames as (timestamp, hash hex), in time order."""
        ordered = sorted(frames, key=lambda frame: frame[0])
        for position, (timestamp, hex_hash) in enumerate(ordered):
            end = ordered[position + 1][0] if position + 1 < len(ordered) else max(duration, timestamp)
            self._entries.append(_Entry(reference, float(timestamp), max(0.0, float(end) - float(timestamp))))
            self._hashes.append(hex_hash)
        self._index = None

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, queries: Sequence[tuple[float, Sequence[str]]], threshold: int) -> dict[Hashable, list[FrameMatch]]:
        """For query frames given as (timestamp, [hash and its variants]), the best hit per reference frame pair."""
        if self._index is None:
            self._index = HashIndex(self._hashes, self.bits)
        flat: list[str] = []
        owner: list[int] = []
        for position, (_timestamp, hashes) in enumerate(queries):
            flat.extend(hashes)
            owner.extend([position] * len(hashes))
        found: dict[Hashable, dict[tuple[int, int], int]] = {}
        if not flat or not self._entries:
            return {}
        query_pos, entry_pos, distances = self._index.search(flat, threshold)
        for q, e, d in zip(query_pos.tolist(), entry_pos.tolist(), distances.tolist()):
            frame = owner[q]
            per_reference = found.setdefault(self._entries[e].reference, {})
            key = (frame, e)
            if key not in per_reference or d < per_reference[key]:
                per_reference[key] = d
        return {
            reference: [
                FrameMatch(queries[frame][0], self._entries[e].timestamp, self._entries[e].span, d)
                for (frame, e), d in sorted(pairs.items())
            ]
            for reference, pairs in found.items()
        }
