"""Packed hashes to matches within a radius by brute force: pack() and HashIndex (any width, np.bitwise_count)."""

from __future__ import annotations

from typing import Iterable, Sequence

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

    @classmethod
    def of_packed(cls, packed: np.ndarray) -> "HashIndex":
        """An index over hashes already packed (pack's layout)."""
        index = cls((), bits=64 * packed.shape[1])
        index._packed = packed
        return index

    def __len__(self) -> int:
        return self._packed.shape[0]

    def distances(self, queries: Sequence[Hash | str]) -> np.ndarray:
        """The full (queries x entries) distance matrix; for small indexes and tests."""
        packed = pack(queries, self.bits)
        return np.bitwise_count(packed[:, None, :] ^ self._packed[None, :, :]).sum(axis=2, dtype=np.uint16)

    def search(self, queries: Sequence[Hash | str], threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query position, entry position, distance) with distance <= threshold."""
        return self.search_packed(pack(queries, self.bits), threshold)

    def search_packed(self, packed: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
