"""Packed PDQ hashes to every entry within a radius, sub-linearly: multi-index hashing in numpy.

(Over 450 lines on purpose: one data structure, and most of its length is the argument below for why its
answer is exact and how its buckets are laid out, kept beside the code it justifies.)

Why it is exact (the pigeonhole argument)
------------------------------------------
The 256 bits are cut into `m` disjoint chunks of `b` bits (bits left over belong to no chunk).
If a query and an entry are `d` bits apart, then `d = d_1 + ... + d_m + d_rest`, where `d_i` is
their distance on chunk `i`. Give each chunk a threshold `t_i` (-1 meaning "not probed") with
`(t_1 + 1) + ... + (t_m + 1) >= r + 1`. If every chunk had `d_i >= t_i + 1`, the sum would give
`d >= r + 1`; so every entry with `d <= r` has at least one chunk with `d_i <= t_i`. Probing,
for each chunk, every entry whose chunk value is within `t_i` bits of the query's therefore
finds every entry within `r`; each candidate's full distance is then computed, so nothing
beyond `r` is returned either. The answer is the brute-force answer, not an approximation.

Built for radius R (PDQ's 31 by default) the index uses m = ceil((R + 1) / 3) chunks, so each
chunk needs at most t = 2 (31 -> 11 chunks of 23 bits: ten probed within 2 bits, one within 1;
3 bits are in no chunk). A smaller radius spreads r + 1 over the same chunks and probes less
(radius 10: every chunk within 0 bits). A radius above R would need t = 3 on some chunk, far
more probes than the layout was sized for, and is refused.

Layout (one compressed-sparse-row table per chunk, all chunks in two flat arrays)
---------------------------------------------------------------------------------
A chunk value splits into its top `p` bits (its bucket) and its low `b - p` bits (its residue).
For each chunk the entries are sorted by chunk value. `offsets` (m * 2**p + 1 uint32) says
where each bucket starts in `slots`; a slot (m * N uint32) holds the entry's position in its
high bits and its residue in its low bits, two zero bits apart (uint64 if that ever does not
fit: at radius 31 it needs at most 28 bits, whatever N).
`p = floor(log2(N / 3))`, so a bucket holds 3 to 6 entries on average and the offsets cost at
most 44 * 2**p / N <= 14.7 bytes per entry. Memory beyond the 32-byte hash, at radius 31:
11 slots * 4 B + offsets (11.5 B at 1M entries, 8.8 B at 10M) + a 4-byte scratch slot per
entry (see below) = 59.5 B at 1M, 57.2 B at 10M; never more than 62.7 B.

Search: for each query and chunk, every mask of j <= t_i top bits names one bucket; its rows
whose residue is within t_i - j bits of the query's are candidates; their hashes are read
and the full distance decides. An entry close on several chunks is reached through each of
them and is kept once, from the first chunk it is close on. All of it is vectorised over a
block of queries (a few dozen: the temporaries stay in the CPU caches); no Python loop runs
per entry or per bucket.

Clustered data: a scene of near-identical video frames puts thousands of entries in one
bucket of every chunk. A query unrelated to the scene reaches such a bucket only when one of
its chunks lands within t bits of the scene's (about 11 * 232 / 2**21, 0.1 %, per scene at
10M entries), so clusters do not slow every query, and the structure's size does not depend
on the data at all. A query near the scene must read each of those buckets (the scene is its
answer); large buckets (1,024 rows and more) are read one by one, and a scratch stamp per
entry (one uint32 per entry, allocated on first need) drops the frames the query already has
from a lower chunk, so each frame's hash is read once, not once per chunk.

The snapshot (`to_bytes`/`from_bytes`, `write`/`read`) is a 64-byte versioned header and the
three arrays (hashes, offsets, slots), each 64-byte aligned, little-endian: loading is
`np.frombuffer`, no copy and no per-entry work.
"""

from __future__ import annotations

import itertools
import math
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from typing import Sequence

import numpy as np

from hashmatch.hashes import Hash
from hashmatch.hash_set.brute_force import pack
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

BITS = 256
WORDS = BITS // 64
# Each chunk is probed within at most this many bits at the built radius: t = 2 is where the
# probe count (about 200 buckets per chunk) and the chunk count (memory) balance; t = 1 would
# need 16 chunks (64 bytes of slots alone), t = 3 over 1,300 buckets per chunk.
_MAX_CHUNK_THRESHOLD = 2
# A slot keeps two zero bits between an entry's position and its residue, where a probe's code puts
# 2 - budget ones (_PENALTY[budget]): popcount(slot ^ code) <= 2 on those bits then tests the budget.
_SLOT_GAP = 2
_PENALTY = np.array([0b11, 0b01, 0b00], dtype=np.uint8)
# Keys are handled as uint32; chunks wider than this would gain nothing at PDQ's radius.
_MAX_CHUNK_BITS = 32
# At least this many entries per bucket on average: the offsets stay under 14.7 bytes per entry.
_ENTRIES_PER_BUCKET = 3
# Upper bound on buckets probed per query block: bounds the temporary arrays of one search step.
_PROBES_PER_BLOCK = 1 << 15
# Buckets this large (near-duplicates: a scene's frames) are read one by one, a Python step each,
# and each (query, entry) kept once; in smaller ones the rows read twice cost less than that step.
_LARGE_BUCKET = 1024

_MAGIC = b"PDQINDEX"
_VERSION = 1
_HEADER = struct.Struct("<8sIIIIQ")  # magic, version, radius, bucket bits, slot bytes, entry count
_HEADER_BYTES = 64
_ALIGN = 64


def _chunk_key(packed: np.ndarray, start: int, width: int) -> np.ndarray:
    """Bits [start, start + width) of each 256-bit row, counted from the most significant bit, as uint32."""
    word, shift = divmod(start, 64)
    if shift + width <= 64:
        value = (packed[:, word] >> np.uint64(64 - shift - width)) & np.uint64((1 << width) - 1)
    else:
        high_bits = 64 - shift
        low_bits = width - high_bits
        value = ((packed[:, word] & np.uint64((1 << high_bits) - 1)) << np.uint64(low_bits)) | (
            packed[:, word + 1] >> np.uint64(64 - low_bits)
        )
    return value.astype(np.uint32)


def _stable_order(keys: np.ndarray, bits: int) -> np.ndarray:
    """argsort(keys, stable) as two 16-bit radix passes, several times faster than a 32-bit sort."""
    low = (keys & np.uint32(0xFFFF)).astype(np.uint16)
    order = np.argsort(low, kind="stable")
    if bits <= 16:
        return order
    high = (keys[order] >> np.uint32(16)).astype(np.uint16)
    return order[np.argsort(high, kind="stable")]


def _thresholds(radius: int, chunks: int) -> list[int]:
    """Per-chunk thresholds t_i (-1: chunk not probed) with sum(t_i + 1) = radius + 1, as even as possible."""
    base, extra = divmod(radius + 1, chunks)
    return [base - 1 + (1 if chunk < extra else 0) for chunk in range(chunks)]


def _as_packed(queries: np.ndarray | Sequence[Hash | str]) -> np.ndarray:
    if isinstance(queries, np.ndarray):
        if queries.ndim != 2 or queries.shape[1] != WORDS or queries.dtype != np.uint64:
            raise ValueError(f"packed queries must be an (N, {WORDS}) uint64 array, got {queries.shape} {queries.dtype}")
        return queries
    return pack(queries, BITS)


class _Plan:
    """The buckets one search probes per query at one radius: per probe its chunk, top-bit mask and residue budget."""

    def __init__(self, radius: int, chunks: int, bucket_bits: int):
        chunk_of, masks, budgets = [], [], []
        self.thresholds = _thresholds(radius, chunks)
        for chunk, threshold in enumerate(self.thresholds):
            for flips in range(min(threshold, bucket_bits) + 1):
                for bits in itertools.combinations(range(bucket_bits), flips):
                    chunk_of.append(chunk)
                    masks.append(sum(1 << bit for bit in bits))
                    budgets.append(threshold - flips)
        self.chunk = np.array(chunk_of, dtype=np.intp)
        self.mask = np.array(masks, dtype=np.uint32)
        self.budget = np.array(budgets, dtype=np.uint8)
        self.base = self.chunk.astype(np.int64) << bucket_bits  # each chunk's first bucket in the flat table

    def __len__(self) -> int:
        return len(self.chunk)


class PdqIndex:
    """Every entry within a radius (at most the built one) of each query, exactly; see the module docstring."""

    def __init__(self, hashes: np.ndarray, radius: int, bucket_bits: int, offsets: np.ndarray, slots: np.ndarray):
        self._hashes = hashes
        self._radius = radius
        self._chunks = _chunk_count(radius)
        self._chunk_bits = _chunk_width(self._chunks)
        self._bucket_bits = bucket_bits
        self._offsets = offsets
        self._slots = slots
        self._plans: dict[int, _Plan] = {}
        self._scratch: np.ndarray | None = None
        self._stamp = 0
        self._scratch_lock = threading.Lock()

    # --- building -------------------------------------------------------------------------

    @classmethod
    def build(cls, packed: np.ndarray, radius: int = PDQ_CONFIDENT_MATCH_THRESHOLD) -> "PdqIndex":
        """An index of an (N, 4) uint64 array of packed hashes (hashmatch.hash_set.brute_force.pack), exact up to `radius`."""
        packed = np.asarray(packed)
        if packed.ndim != 2 or packed.shape[1] != WORDS or packed.dtype != np.uint64:
            raise ValueError(f"packed hashes must be an (N, {WORDS}) uint64 array, got {packed.shape} {packed.dtype}")
        if not 0 <= radius < BITS:
            raise ValueError(f"radius must be within 0..{BITS - 1}, got {radius}")
        packed = np.ascontiguousarray(packed)
        count = packed.shape[0]
        chunks = _chunk_count(radius)
        chunk_bits = _chunk_width(chunks)
        if chunks * count >= 1 << 32:
            raise ValueError(f"{count:,} entries is more than this index's 32-bit bucket offsets hold")
        bucket_bits = min(chunk_bits, max(0, math.floor(math.log2(max(count, 1) / _ENTRIES_PER_BUCKET))))
        residue_bits = chunk_bits - bucket_bits
        slot_type = np.dtype(np.uint32 if _id_bits(count) + residue_bits + _SLOT_GAP <= 32 else np.uint64)
        buckets = 1 << bucket_bits
        offsets = np.empty(chunks * buckets + 1, dtype=np.uint32)
        offsets[0] = 0
        slots = np.empty(chunks * count, dtype=slot_type)
        for chunk in range(chunks):
            keys = _chunk_key(packed, chunk * chunk_bits, chunk_bits)
            order = _stable_order(keys, chunk_bits)
            sorted_keys = keys[order]
            sizes = np.bincount(sorted_keys >> np.uint32(residue_bits), minlength=buckets)
            offsets[chunk * buckets + 1 : (chunk + 1) * buckets + 1] = np.cumsum(sizes) + chunk * count
            rows = slots[chunk * count : (chunk + 1) * count]
            rows[:] = order
            rows <<= slot_type.type(residue_bits + _SLOT_GAP)
            rows |= sorted_keys & np.uint32((1 << residue_bits) - 1)
        return cls(packed, radius, bucket_bits, offsets, slots)

    def __len__(self) -> int:
        return self._hashes.shape[0]

    @property
    def radius(self) -> int:
        """The largest radius `search` answers exactly (the one the index was built for)."""
        return self._radius

    @property
    def hashes(self) -> np.ndarray:
        """The entries as an (N, 4) uint64 array, in their original positions."""
        return self._hashes

    @property
    def index_nbytes(self) -> int:
        """Bytes the index holds beyond the hashes: bucket offsets, slots, and the scratch array for large buckets."""
        return self._offsets.nbytes + self._slots.nbytes + 4 * len(self)

    # --- searching ------------------------------------------------------------------------

    def search(
        self, queries: np.ndarray | Sequence[Hash | str], radius: int, *, workers: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query position, entry position, distance) with distance <= radius, ordered as brute force orders them.

        `queries` is an (Q, 4) uint64 array packed like hashmatch.hash_set.brute_force.pack, or hashes / hex strings.
        `workers` > 1 searches blocks of a large batch on that many threads (numpy releases the GIL).
        """
        if not 0 <= radius <= self._radius:
            raise ValueError(f"radius {radius} is outside 0..{self._radius}, the radius this index was built for")
        packed = _as_packed(queries)
        empty = np.zeros(0, dtype=np.int64)
        if packed.shape[0] == 0 or len(self) == 0:
            return empty, empty.copy(), empty.astype(np.uint16)
        plan = self._plans.get(radius)
        if plan is None:
            plan = self._plans[radius] = _Plan(radius, self._chunks, self._bucket_bits)
        # Blocks of a few queries keep each step's temporary arrays within the CPU caches.
        step = max(1, _PROBES_PER_BLOCK // len(plan))
        firsts = range(0, packed.shape[0], step)

        def block(first: int):
            return self._search_block(packed[first : first + step], first, plan, radius)

        if workers > 1 and len(firsts) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                found = list(pool.map(block, firsts))
        else:
            found = [block(first) for first in firsts]
        query_pos = np.concatenate([f[0] for f in found])
        entry_pos = np.concatenate([f[1] for f in found])
        distances = np.concatenate([f[2] for f in found])
        # Brute force's order: by query, then entry (one sort of (query, entry, distance) packed in an int64).
        count = len(self)
        if packed.shape[0] * count < 1 << 54:
            keys = np.sort((query_pos * count + entry_pos) << 8 | distances)
            return (keys >> 8) // count, (keys >> 8) % count, (keys & 0xFF).astype(np.uint16)
        order = np.argsort(query_pos * count + entry_pos, kind="stable")
        return query_pos[order], entry_pos[order], distances[order]

    def _search_block(self, packed: np.ndarray, first_query: int, plan: _Plan, radius: int):
        residue_bits = self._chunk_bits - self._bucket_bits
        keys = np.stack([_chunk_key(packed, chunk * self._chunk_bits, self._chunk_bits) for chunk in range(self._chunks)], axis=1)
        tops = keys >> np.uint32(residue_bits)
        query_residues = keys & np.uint32((1 << residue_bits) - 1)

        # Each probe reads one bucket: where it starts in the flat slots array, and how many rows it has.
        buckets = ((tops[:, plan.chunk] ^ plan.mask) + plan.base).ravel()  # (queries * probes,)
        starts = self._offsets.take(buckets)
        sizes = self._offsets.take(buckets + 1) - starts
        probes = np.flatnonzero(sizes)
        position_type = np.int64 if len(self._slots) >= 1 << 31 else np.int32
        starts = starts[probes].astype(position_type)
        sizes = sizes[probes].astype(position_type)
        owners = probes // len(plan)  # each probe's query in the block
        gap_shift = residue_bits + _SLOT_GAP
        wide = self._slots.dtype == np.uint64 or gap_shift + int(packed.shape[0] - 1).bit_length() > 31
        code_type = np.int64 if wide else np.int32
        # A probe's code: the query's residue in the low bits; then, in the slot's two zero bits, as
        # many ones as the residue may NOT differ by (2 - budget), so that one popcount <= 2 tests
        # "residue within budget"; then the query's position in the block (masked off in the test).
        codes = query_residues[:, plan.chunk].ravel()[probes].astype(code_type)
        codes |= _PENALTY[plan.budget[probes % len(plan)]].astype(code_type) << residue_bits
        codes |= owners.astype(code_type) << gap_shift

        found = []  # per candidate: query in the block, entry, a slot position in the chunk it came from
        large = sizes >= _LARGE_BUCKET
        if large.any():
            # Large buckets (a scene of near-identical frames, in every chunk) are read one by one.
            found.append(self._large_bucket_candidates(owners[large], starts[large], sizes[large], codes[large], gap_shift))
            small = ~large
            starts, sizes, codes = starts[small], sizes[small], codes[small]
        if len(codes):
            found.append(self._bucket_candidates(starts, sizes, codes, gap_shift))
        if not found:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.astype(np.uint16)
        query_pos, entry_pos, rows = (np.concatenate(parts) for parts in zip(*found))

        diff = self._hashes.take(entry_pos, axis=0)
        diff ^= packed.take(query_pos, axis=0)
        counts = np.bitwise_count(diff)
        distances = counts[:, 0].astype(np.uint16) + counts[:, 1] + counts[:, 2] + counts[:, 3]
        within = np.flatnonzero(distances <= radius)
        # An entry close on several chunks was reached through each of them: keep it only from the
        # first chunk it is close on. Near matches are close on chunk 0 mostly, so the set still to
        # check shrinks fast.
        found_in = rows[within] // len(self)
        keep = np.ones(len(within), dtype=bool)
        pending = np.flatnonzero(found_in > 0)
        for chunk, threshold in enumerate(plan.thresholds):
            pending = pending[found_in[pending] > chunk]
            if len(pending) == 0:
                break
            if threshold < 0:
                continue
            chunk_diff = _chunk_key(diff.take(within[pending], axis=0), chunk * self._chunk_bits, self._chunk_bits)
            earlier = np.bitwise_count(chunk_diff) <= threshold
            keep[pending[earlier]] = False
            pending = pending[~earlier]
        within = within[keep]
        return query_pos[within] + first_query, entry_pos[within], distances[within]

    def _bucket_candidates(self, starts, sizes, codes, gap_shift: int):
        """Rows of many small buckets at once: every row expanded, tested on its residue, kept or not."""
        unsigned = np.uint64 if codes.dtype == np.int64 else np.uint32
        ends = np.cumsum(sizes)
        # Every scanned row: its position in the flat slots array and its probe's code, expanded run by
        # run with one cumulative sum each (several times faster than np.repeat).
        positions = _expand_runs(starts, sizes, ends, step=1)
        row_codes = _expand_runs(codes, sizes, ends, step=0).view(unsigned)
        slots = self._slots.take(positions).astype(unsigned, copy=False)
        tested = unsigned((1 << gap_shift) - 1)  # the residue and the two gap bits
        kept = np.flatnonzero(np.bitwise_count((slots ^ row_codes) & tested) <= _MAX_CHUNK_THRESHOLD)
        query_pos = (row_codes[kept] >> unsigned(gap_shift)).astype(np.int64)
        entry_pos = (slots[kept] >> unsigned(gap_shift)).astype(np.int64)
        return query_pos, entry_pos, positions[kept]

    def _large_bucket_candidates(self, owners, starts, sizes, codes, gap_shift: int):
        """Large buckets one at a time, each (query, entry) kept once: from the lowest chunk that has it.

        A scene of near-identical frames fills a bucket in every chunk, so a query near it would
        otherwise read each frame's row and hash once per chunk. Buckets come in (query, chunk)
        order; a scratch stamp per entry (one uint32 per entry, allocated on first need) tells
        that the query has the entry already. Keeping the lowest chunk's row is what
        _search_block's first-chunk rule needs.
        """
        slot = self._slots.dtype.type
        tested, shift, limit = slot((1 << gap_shift) - 1), slot(gap_shift), slot(_MAX_CHUNK_THRESHOLD)
        entries_per_bucket = []
        with self._scratch_lock:
            if self._scratch is None:
                self._scratch = np.zeros(len(self), dtype=np.uint32)
            scratch = self._scratch
            current = -1
            for owner, start, size, code in zip(owners.tolist(), starts.tolist(), sizes.tolist(), codes.tolist()):
                if owner != current:
                    current, stamp = owner, self._next_stamp()
                rows = self._slots[start : start + size]
                entries = rows[np.bitwise_count((rows ^ slot(code & int(tested))) & tested) <= limit] >> shift
                entries = entries[scratch[entries] != stamp]
                scratch[entries] = stamp
                entries_per_bucket.append(entries)
        counts = [len(entries) for entries in entries_per_bucket]
        entry_pos = np.concatenate(entries_per_bucket).astype(np.int64)
        return np.repeat(owners.astype(np.int64), counts), entry_pos, np.repeat(starts.astype(np.int64), counts)

    def _next_stamp(self) -> np.uint32:
        """A value no scratch slot holds yet (called with the scratch lock held)."""
        self._stamp += 1
        if self._stamp > np.iinfo(np.uint32).max:
            self._scratch.fill(0)
            self._stamp = 1
        return np.uint32(self._stamp)

    # --- snapshots --------------------------------------------------------------------------

    def _sections(self) -> list[np.ndarray]:
        return [np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for a in (self._hashes, self._offsets, self._slots)]

    def _header(self) -> bytes:
        fields = (_MAGIC, _VERSION, self._radius, self._bucket_bits, self._slots.dtype.itemsize, len(self))
        return _HEADER.pack(*fields).ljust(_HEADER_BYTES, b"\0")

    def to_bytes(self) -> bytes:
        """The snapshot: a 64-byte header, then hashes, bucket offsets and slots, little-endian, each 64-byte aligned."""
        parts = [self._header()]
        for array in self._sections():
            data = array.tobytes()
            parts += [data, b"\0" * (-len(data) % _ALIGN)]
        return b"".join(parts)

    def write(self, path: str | PathLike) -> None:
        """Write the snapshot to a file, array by array (no second copy in memory)."""
        with open(path, "wb") as out:
            out.write(self._header())
            for array in self._sections():
                out.write(memoryview(array).cast("B"))
                out.write(b"\0" * (-array.nbytes % _ALIGN))

    @classmethod
    def read(cls, path: str | PathLike) -> "PdqIndex":
        """Read a snapshot file written by `write` (or `to_bytes`)."""
        with open(path, "rb") as source:
            return cls.from_bytes(source.read())

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> "PdqIndex":
        """An index over a snapshot's bytes; zero-copy: the arrays are read-only views of `data`."""
        view = memoryview(data).cast("B")
        if len(view) < _HEADER_BYTES:
            raise ValueError("not a PdqIndex snapshot: shorter than its header")
        magic, version, radius, bucket_bits, slot_bytes, count = _HEADER.unpack_from(view)
        if magic != _MAGIC:
            raise ValueError("not a PdqIndex snapshot: wrong magic bytes")
        if version != _VERSION:
            raise ValueError(f"PdqIndex snapshot version {version} is not supported (this code reads version {_VERSION})")
        if not 0 <= radius < BITS:
            raise ValueError(f"PdqIndex snapshot has an impossible radius {radius}")
        chunks = _chunk_count(radius)
        if bucket_bits > _chunk_width(chunks) or slot_bytes not in (4, 8):
            raise ValueError("PdqIndex snapshot header is inconsistent (bucket bits or slot width)")
        layout = [
            (np.dtype("<u8"), count * WORDS),
            (np.dtype("<u4"), (chunks << bucket_bits) + 1),
            (np.dtype(f"<u{slot_bytes}"), chunks * count),
        ]
        arrays = []
        offset = _HEADER_BYTES
        for dtype, items in layout:
            end = offset + dtype.itemsize * items
            if end > len(view):
                raise ValueError("PdqIndex snapshot is truncated")
            arrays.append(np.frombuffer(view, dtype=dtype, count=items, offset=offset).astype(dtype.newbyteorder("="), copy=False))
            offset = end + (-end % _ALIGN)
        if offset != len(view):
            raise ValueError("PdqIndex snapshot has trailing bytes")
        hashes, offsets, slots = arrays
        if int(offsets[0]) != 0 or int(offsets[-1]) != chunks * count:
            raise ValueError("PdqIndex snapshot's bucket offsets do not cover its slots")
        return cls(hashes.reshape(count, WORDS), radius, bucket_bits, offsets, slots)


def _expand_runs(values: np.ndarray, sizes: np.ndarray, ends: np.ndarray, step: int) -> np.ndarray:
    """Run k of sizes[k] (> 0) rows holds values[k], values[k] + 1, ... (step 1) or values[k] repeated (step 0)."""
    deltas = np.full(int(ends[-1]), step, dtype=values.dtype)
    deltas[0] = values[0]
    deltas[ends[:-1]] = values[1:] - values[:-1] - step * (sizes[:-1] - 1)
    return np.cumsum(deltas, dtype=values.dtype)


def _chunk_count(radius: int) -> int:
    return max(1, -(-(radius + 1) // (_MAX_CHUNK_THRESHOLD + 1)))


def _chunk_width(chunks: int) -> int:
    return min(BITS // chunks, _MAX_CHUNK_BITS)


def _id_bits(count: int) -> int:
    return max(1, (count - 1).bit_length())
