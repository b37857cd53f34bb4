"""Planting hashes at a chosen distance, spread over the bits at random or in the worst way for a chunked search.

Both searches of the project find hashes within 31 bits by chunks (pigeonhole): retro-match's SQL
probes sixteen 16-bit chunks within 1 bit (upload_log/retro_match.py), PdqIndex probes eleven 23-bit
chunks within 2 bits, one within 1 (hash_set/pdq_index.py). Bits flipped at random almost always
leave several chunks close, the easy case. The worst case puts just over each chunk's threshold in as
many chunks as the distance allows, so that a copy at the threshold is reachable through one chunk
only, and exactly at that chunk's own threshold: a search that probed one bit too few would miss it.

Bits are numbered from the most significant bit of the first 64-bit word (bit 0) to the least
significant of the last (bit 255), as both searches cut their chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BITS = 256


@dataclass(frozen=True)
class ChunkLayout:
    """Disjoint chunks of `bits` bits from bit 0, each probed within its threshold (bits past the last chunk are in none)."""

    bits: int
    thresholds: tuple[int, ...]

    @property
    def chunks(self) -> int:
        return len(self.thresholds)

    def chunk_of(self, bit: int) -> int | None:
        chunk = bit // self.bits
        return chunk if chunk < self.chunks else None

    def positions(self, chunk: int) -> np.ndarray:
        return np.arange(chunk * self.bits, (chunk + 1) * self.bits)

    @property
    def exact_radius(self) -> int:
        """The largest distance the probes are sure to reach: sum(t + 1) - 1."""
        return sum(t + 1 for t in self.thresholds) - 1


def retro_layout() -> ChunkLayout:
    """Retro-match's chunk probes (upload_log/retro_match.py)."""
    from hashmatch.upload_log.retro_match import CHUNK_BITS, CHUNK_RADIUS, CHUNKS

    return ChunkLayout(CHUNK_BITS, (CHUNK_RADIUS,) * CHUNKS)


def pdq_index_layout(radius: int) -> ChunkLayout:
    """PdqIndex's chunks at a built radius, as the index itself cuts them (hash_set/pdq_index.py)."""
    from hashmatch.hash_set import pdq_index

    chunks = pdq_index._chunk_count(radius)
    return ChunkLayout(pdq_index._chunk_width(chunks), tuple(pdq_index._thresholds(radius, chunks)))


def random_spread(distance: int, rng: np.random.Generator) -> np.ndarray:
    """`distance` distinct bit positions, uniformly at random."""
    return np.sort(rng.choice(BITS, size=distance, replace=False))


def worst_case_spread(distance: int, layout: ChunkLayout, rng: np.random.Generator) -> np.ndarray:
    """`distance` distinct bit positions that leave as few chunks as possible within their thresholds.

    Chunks are taken in a random order and each given its threshold + 1 bits (out of its reach) while
    the distance allows; what is left (less than the next chunk's threshold + 1) goes into the next
    chunk, which it leaves within its threshold. At the exact radius (31 for both searches) that is one
    chunk, at exactly its threshold; from the exact radius + 1 on, none (and the bits beyond go anywhere
    not yet flipped).
    """
    if not 0 <= distance <= BITS:
        raise ValueError(f"a distance between 0 and {BITS}, not {distance}")
    order = rng.permutation(layout.chunks)
    chosen: list[np.ndarray] = []
    left = distance
    for chunk in order:
        if left == 0:
            break
        take = min(layout.thresholds[chunk] + 1, left, layout.bits)
        chosen.append(rng.choice(layout.positions(chunk), size=take, replace=False))
        left -= take
    positions = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    if left:
        free = np.setdiff1d(np.arange(BITS), positions)
        positions = np.concatenate([positions, rng.choice(free, size=left, replace=False)])
    return np.sort(positions)


def flip(row: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """One packed hash (4 uint64 words, most significant first) with these bits flipped."""
    out = np.array(row, dtype=np.uint64, copy=True)
    for bit in np.asarray(positions, dtype=np.int64):
        out[bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out


def flip_rows(rows: np.ndarray, positions: list[np.ndarray]) -> np.ndarray:
    """Each packed row (n x 4 uint64) with its own bits flipped."""
    out = np.array(rows, dtype=np.uint64, copy=True)
    for i, bits in enumerate(positions):
        bits = np.asarray(bits, dtype=np.int64)
        np.bitwise_xor.at(out[i], bits // 64, np.left_shift(np.uint64(1), (63 - bits % 64).astype(np.uint64)))
    return out


def distance(a: np.ndarray, b: np.ndarray) -> int:
    """Hamming distance of two packed hashes."""
    return int(sum(int(np.bitwise_count(np.uint64(x) ^ np.uint64(y))) for x, y in zip(a, b)))


def chunk_distances(a: np.ndarray, b: np.ndarray, layout: ChunkLayout) -> list[int]:
    """Per chunk of the layout, the bits in which the two packed hashes differ."""
    differing = [bit for bit in range(BITS) if (int(a[bit // 64]) ^ int(b[bit // 64])) >> (63 - bit % 64) & 1]
    counts = [0] * layout.chunks
    for bit in differing:
        chunk = layout.chunk_of(bit)
        if chunk is not None:
            counts[chunk] += 1
    return counts


def chunks_within(a: np.ndarray, b: np.ndarray, layout: ChunkLayout) -> int:
    """How many chunks' probes reach `b` from `a` (chunk distance within the chunk's threshold)."""
    return sum(d <= t for d, t in zip(chunk_distances(a, b, layout), layout.thresholds))


def flip_random(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each packed row (n x 4 uint64) with counts[i] distinct bits flipped at random, vectorised (for millions of rows)."""
    rows = np.array(rows, dtype=np.uint64, copy=True)
    counts = np.asarray(counts)
    most = int(counts.max()) if len(counts) else 0
    if most == 0:
        return rows
    if most > 8:
        positions = np.argsort(rng.random((len(rows), BITS)), axis=1)[:, :most]
    else:  # few flips: draw positions and re-draw the rows that drew one twice
        positions = rng.integers(0, BITS, size=(len(rows), most))
        for _ in range(50):
            ordered = np.sort(positions, axis=1)
            repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
            if not repeated.any():
                break
            positions[repeated] = rng.integers(0, BITS, size=(int(repeated.sum()), most))
    every = np.arange(len(rows))
    for slot in range(most):
        use = counts > slot
        bit = positions[use, slot]
        rows[every[use], bit // 64] ^= np.uint64(1) << (63 - bit % 64).astype(np.uint64)
    return rows
