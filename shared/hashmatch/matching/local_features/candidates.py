"""Candidate reference frames for one detail picture without a scan: hash tables over the bits of ORB descriptors.

The local-feature stage (orb.LocalFeatureIndex) compares every descriptor of a detail picture
with every reference descriptor, so its cost grows with the references. This index looks only
at reference descriptors that agree with a query descriptor on every bit of one of a few fixed
bit subsets (locality-sensitive hashing by bit sampling), or on all but one of them (multi-probe),
keeps those within MATCH_BITS of it by their real Hamming distance, and ranks reference frames
by how many query descriptors found such a neighbour in them. The few best frames then go to the
stage's geometric verification, unchanged.

Why bit sampling: ORB's 256 tests were chosen to be uncorrelated and near 50/50, so disjoint
subsets of them make near-independent hash tables, and a key is a few shifts and masks (no
trained vocabulary, nothing to retrain when references are added). A copy's descriptor is
typically 10-40 bits from its reference's; unrelated descriptors are 80-128 bits apart.

Pure numpy; the arrays (to_arrays / from_arrays) are the whole index.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

DESCRIPTOR_BYTES = 32
# Tables and bits per key. Each table holds every reference descriptor's number sorted by key, and
# below DIRECTORY_FROM the keys in that order too (a uint32 each). Measured on the suite's pictures against 2,000 filler frames
# (docs/second-stage-bench.md): 8 tables of 24 bits, exact keys only, find the copies that 4
# tables of 22 bits with one-bit probes find, at a tenth of the time (the probes, 23 per key,
# read 10x the entries), and give unrelated pictures half the votes.
TABLES = 8
BITS = 24
# 1: also probe the keys one bit away (BITS + 1 probes per key), for sparse tables.
FLIPS = 0
# A reference descriptor this close to a query descriptor is a neighbour (a vote). Copies of a
# picture keep most matches under 40 bits; ORB descriptors of unrelated patches rarely come this close.
MATCH_BITS = 48
# Buckets fuller than this are skipped, like stop words: flat or repeated texture (sky, walls)
# that fills one key everywhere says nothing about which frame a picture comes from. Measured on
# the 10,000-frame benchmark set (325 detail pictures): 512 reads a third fewer entries than 4,096
# (search 53 against 77 ms a picture) and verifies the copy's own frame for one picture more; 128
# reads half of what 512 reads (108,600 entries a picture, median) with the same recall (130 of the
# 144 altered copies, no false positive), and 64 little less again (per picture 74, 57, 54, 50 ms at
# 512, 256, 128, 64).
MAX_BUCKET = 128
# Fewer votes than this is no candidate. 5, not the brute force's 8 ratio-test votes: a noisy 256 px
# thumbnail's own frame collects 7 here and verifies with 108 inliers, while candidates of other
# content verified no more often at 5 than at 8 (1,000-frame set, 325 detail pictures; 5% more
# verifications).
MIN_VOTES = 5
SEED = 256
# From this many reference descriptors on, each table finds a key's run through a directory (where
# every possible key's run starts: 2^BITS + 1 uint32, 64 MB a table) instead of a binary search over
# its sorted keys, whose reads miss the cache once the tables are large: at 10,000 frames (5 M
# descriptors) the binary searches took 17 of a detail picture's 53 ms. The directory replaces the
# sorted keys (4 bytes a descriptor a table): crossing 2^20 descriptors steps the tables' lookup from
# 32 MB of sorted keys to 512 MB of directories; above 2^24 descriptors the directories are the smaller.
DIRECTORY_FROM = 1 << 20


def _bit_subsets(tables: int, bits: int, seed: int) -> np.ndarray:
    """Disjoint bit positions (0..255), one row per table."""
    if tables * bits > DESCRIPTOR_BYTES * 8:
        raise ValueError(f"{tables} tables of {bits} bits need more than {DESCRIPTOR_BYTES * 8} bits")
    order = np.random.default_rng(seed).permutation(DESCRIPTOR_BYTES * 8)
    return order[: tables * bits].reshape(tables, bits).astype(np.uint16)


def _keys(descriptors: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The key of each descriptor for one table: its bits at `positions`, packed into a uint32."""
    keys = np.zeros(len(descriptors), np.uint32)
    for shift, position in enumerate(positions):
        byte, bit = divmod(int(position), 8)
        keys |= ((descriptors[:, byte] >> np.uint8(7 - bit)) & np.uint8(1)).astype(np.uint32) << np.uint32(shift)
    return keys


def _hamming(descriptors: np.ndarray, rows: np.ndarray, query: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """Bits that differ between descriptors[rows[i]] and query[asked[i]], for each i.

    As four 64-bit words gathered with np.take: a third of the time of indexing the uint8 rows
    (5 against 21 ms for 110,000 pairs), which was the larger part of a search.
    """
    words = np.take(descriptors.view(np.uint64), rows, axis=0)
    words ^= np.take(query.view(np.uint64), asked, axis=0)
    counts = np.bitwise_count(words)
    return counts[:, 0].astype(np.uint16) + counts[:, 1] + counts[:, 2] + counts[:, 3]


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """All integers in [start, end) for each pair, concatenated (vectorised)."""
    sizes = ends - starts
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
    return np.arange(total, dtype=np.int64) + offsets


class CandidateIndex:
    """Reference frames (each a set of ORB descriptors) in hash tables; `candidates` ranks them for one query picture."""

    def __init__(self, tables: int = TABLES, bits: int = BITS, flips: int = FLIPS, seed: int = SEED) -> None:
        if not 1 <= bits <= 32 or flips not in (0, 1):
            raise ValueError("bits must be 1..32 and flips 0 or 1")
        self.bits, self.flips = bits, flips
        self.positions = _bit_subsets(tables, bits, seed)
        self.descriptors = np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
        self.frame_starts = np.zeros(1, np.int64)  # frame f owns descriptors frame_starts[f]:frame_starts[f + 1]
        self._pending: list[np.ndarray] = []
        self._order: np.ndarray | None = None  # per table: descriptor numbers sorted by key (tables x N, uint32)
        self._keys: np.ndarray | None = None  # per table: the keys in that order (tables x N, uint32); below DIRECTORY_FROM
        self._directory: np.ndarray | None = None  # per table: where each key's run starts (tables x 2^bits + 1); from DIRECTORY_FROM

    def __len__(self) -> int:
        """Reference frames held."""
        return len(self.frame_starts) - 1 + len(self._pending)

    @property
    def tables(self) -> int:
        return len(self.positions)

    def add(self, frames: Sequence[np.ndarray]) -> range:
        """Add reference frames (each N x 32 uint8 descriptors, N may be 0); returns their frame numbers."""
        first = len(self)
        for descriptors in frames:
            descriptors = np.asarray(descriptors, np.uint8).reshape(-1, DESCRIPTOR_BYTES)
            self._pending.append(descriptors)
        return range(first, len(self))

    def add_stacked(self, descriptors: np.ndarray, counts: np.ndarray) -> range:
        """Add reference frames given as one stacked array and each frame's descriptor count (no per-frame copies)."""
        self._flush()
        counts = np.asarray(counts, np.int64)
        if int(counts.sum()) != len(descriptors):
            raise ValueError("the counts do not add up to the descriptors")
        first = len(self)
        self.descriptors = np.concatenate([self.descriptors, np.asarray(descriptors, np.uint8)])
        self.frame_starts = np.concatenate([self.frame_starts, self.frame_starts[-1] + np.cumsum(counts)])
        return range(first, len(self))

    def _flush(self) -> None:
        if self._pending:
            counts = [len(d) for d in self._pending]
            self.descriptors = np.concatenate([self.descriptors, *self._pending])
            self.frame_starts = np.concatenate([self.frame_starts, self.frame_starts[-1] + np.cumsum(counts)])
            self._pending = []

    def build(self) -> None:
        """Bring the tables up to date; searching does it when frames were added since.

        Frames added after a build are merged in: their keys sorted, then inserted where they fall
        (a copy of each table, no new sort of the descriptors already there), so adding a
        reference to a large index costs a fraction of building it.
        """
        self._flush()
        count = len(self.descriptors)
        if count >= 2**32:
            raise ValueError("more than 2^32 reference descriptors")
        done = 0 if self._order is None else self._order.shape[1]
        if self._order is not None and done == count:
            return
        if done and self._directory is not None:
            self._merge_into_directory(done)
            return
        # From DIRECTORY_FROM on, a first build counts each table's runs from its unsorted keys and
        # keeps no sorted keys (32 bytes a descriptor less at its peak).
        directed = self._directed(count)
        before = self._keys if done else None
        order = np.empty((self.tables, count), np.uint32)
        sorted_keys = None if directed and not done else np.empty((self.tables, count), np.uint32)
        directory = self._empty_directory() if directed else None
        for table, positions in enumerate(self.positions):
            keys = _keys(self.descriptors[done:], positions)
            new_order = np.argsort(keys, kind="stable")
            if done:
                new_keys = keys[new_order]
                at = np.searchsorted(before[table], new_keys, side="right")
                order[table] = np.insert(self._order[table], at, (new_order + done).astype(np.uint32))
                sorted_keys[table] = np.insert(before[table], at, new_keys)
            else:
                order[table] = new_order
                if sorted_keys is not None:
                    sorted_keys[table] = keys[new_order]
            if directory is not None:
                directory[table, 1:] = self._keys_up_to(keys if not done else sorted_keys[table])
        # Everything is assigned together, once all of it is made: an error half way (memory) leaves the tables as they were.
        self._order, self._directory, self._keys = order, directory, None if directed else sorted_keys

    def _directed(self, count: int) -> bool:
        """Whether tables of `count` descriptors find runs through a directory (24-bit keys or shorter: 64 MB a table at most)."""
        return count >= DIRECTORY_FROM and self.bits <= 24

    def _keys_up_to(self, keys: np.ndarray) -> np.ndarray:
        """For each possible key k, how many of `keys` are k or less: a directory's run ends."""
        return np.cumsum(np.bincount(keys, minlength=1 << self.bits), dtype=np.uint32)

    def _empty_directory(self) -> np.ndarray:
        directory = np.empty((self.tables, (1 << self.bits) + 1), np.uint32)
        directory[:, 0] = 0
        return directory

    def _merge_into_directory(self, done: int) -> None:
        """Merge the descriptors from `done` on into tables held as a directory: each new number goes
        at the end of its key's run, and every run after that key starts that much later."""
        order = np.empty((self.tables, len(self.descriptors)), np.uint32)
        directory = self._directory.copy()  # the tables stay whole if this fails half way
        for table, positions in enumerate(self.positions):
            keys = _keys(self.descriptors[done:], positions)
            new_order = np.argsort(keys, kind="stable")
            new_keys = keys[new_order]
            order[table] = np.insert(self._order[table], directory[table][new_keys.astype(np.int64) + 1].astype(np.int64), (new_order + done).astype(np.uint32))
            directory[table, 1:] += self._keys_up_to(new_keys)
        self._order, self._directory = order, directory

    def _set_tables(self, order: np.ndarray, sorted_keys: np.ndarray) -> None:
        """Hold saved tables: each table's descriptor numbers sorted by key, and the lookup of a key's run in them."""
        if self._directed(order.shape[1]):
            directory = self._empty_directory()
            for table in range(self.tables):
                directory[table, 1:] = self._keys_up_to(sorted_keys[table])
            self._order, self._directory, self._keys = order, directory, None
        else:
            self._order, self._directory, self._keys = order, None, sorted_keys

    def sorted_keys(self) -> np.ndarray:
        """Each table's keys, sorted: the key of each descriptor number in the table's order (tables x N, uint32)."""
        self.build()
        return self._sorted_keys()

    def _sorted_keys(self) -> np.ndarray:
        if self._directory is None:
            return self._keys
        return np.stack([np.repeat(np.arange(1 << self.bits, dtype=np.uint32), np.diff(runs)) for runs in self._directory])

    def _runs(self, table: int, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each probe key, the start and end of its run in the table."""
        if self._directory is not None:
            return self._directory[table][probes].astype(np.int64), self._directory[table][probes.astype(np.int64) + 1].astype(np.int64)
        return np.searchsorted(self._keys[table], probes, side="left"), np.searchsorted(self._keys[table], probes, side="right")

    def candidates(
        self,
        query: np.ndarray,
        top: int,
        match_bits: int = MATCH_BITS,
        min_votes: int = MIN_VOTES,
        flips: int | None = None,
        excluded: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The `top` reference frames with most votes (at least `min_votes`), most first, and their votes.

        A vote is a query descriptor with at least one reference descriptor of that frame within
        `match_bits` among those its probes reach; each query descriptor votes once per frame.
        `flips` (0 or 1) overrides the index's own probing for this query. `excluded` (a bool per
        frame) leaves frames out of the ranking: a reference removed or replaced since the index was saved.
        """
        flips = self.flips if flips is None else flips
        if flips not in (0, 1):
            raise ValueError("flips must be 0 or 1")
        self.build()
        query = np.ascontiguousarray(np.asarray(query, np.uint8).reshape(-1, DESCRIPTOR_BYTES))
        nothing = np.zeros(0, np.int64), np.zeros(0, np.int64)
        if not len(query) or not len(self.descriptors):
            return nothing
        flips = np.concatenate(([0], np.uint32(1) << np.arange(self.bits, dtype=np.uint32))) if flips else np.zeros(1, np.uint32)
        owners, found = [], []
        for table, positions in enumerate(self.positions):
            probes = (_keys(query, positions)[:, None] ^ flips[None, :].astype(np.uint32)).ravel()
            asker = np.repeat(np.arange(len(query)), len(flips))
            starts, ends = self._runs(table, probes)
            usable = (ends > starts) & (ends - starts <= MAX_BUCKET)
            starts, ends, asker = starts[usable], ends[usable], asker[usable]
            owners.append(np.repeat(asker, ends - starts))
            found.append(np.take(self._order[table], _ranges(starts, ends)))
        asked = np.concatenate(owners)
        reference = np.concatenate(found).astype(np.int64)
        if not len(reference):
            return nothing
        distance = _hamming(self.descriptors, reference, query, asked)
        close = distance <= match_bits
        frames = np.searchsorted(self.frame_starts, reference[close], side="right") - 1
        # One vote per (query descriptor, frame), however many tables or neighbours found it; only
        # the frames that got a vote are counted and ranked (not every frame of the index).
        pairs = np.unique(frames * len(query) + asked[close])
        voted, votes = np.unique(pairs // len(query), return_counts=True)
        keep = votes >= min_votes
        if excluded is not None:
            keep &= ~excluded[voted]
        voted, votes = voted[keep], votes[keep]
        best = np.lexsort((voted, -votes))[:top]  # most votes first, then the lower frame number
        return voted[best].astype(np.int64), votes[best].astype(np.int64)

    def nbytes(self) -> int:
        """Memory held by the index's arrays (descriptors and tables)."""
        self.build()
        return int(self.descriptors.nbytes + self.frame_starts.nbytes + self._order.nbytes + (self._keys if self._directory is None else self._directory).nbytes)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The index as plain arrays (for np.savez or a snapshot); from_arrays gives it back without rebuilding.

        The tables' lookup is saved as the index holds it: the sorted keys ("keys"), or from
        DIRECTORY_FROM descriptors on the directories ("directory"; 512 MB where the keys of 50 M
        descriptors would be 1.6 GB), so loading computes neither.
        """
        self.build()
        lookup = {"keys": self._keys} if self._directory is None else {"directory": self._directory}
        return {
            "positions": self.positions,
            "settings": np.array([self.bits, self.flips], np.int64),
            "descriptors": self.descriptors,
            "frame_starts": self.frame_starts,
            "order": self._order,
            **lookup,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "CandidateIndex":
        positions = np.asarray(arrays["positions"], np.uint16)
        bits, flips = (int(v) for v in arrays["settings"])
        index = cls(tables=len(positions), bits=bits, flips=flips)
        if positions.shape != (index.tables, bits):
            raise ValueError("bit positions do not fit the settings")
        index.positions = positions
        index.descriptors = np.ascontiguousarray(arrays["descriptors"], np.uint8)
        index.frame_starts = np.asarray(arrays["frame_starts"], np.int64)
        order = np.asarray(arrays["order"], np.uint32)
        if order.shape != (index.tables, len(index.descriptors)) or index.frame_starts[-1] != len(index.descriptors):
            raise ValueError("tables do not fit the descriptors")
        if "directory" in arrays:
            directory = np.asarray(arrays["directory"], np.uint32)
            if directory.shape != (index.tables, (1 << bits) + 1) or np.any(directory[:, -1] != order.shape[1]):
                raise ValueError("the directory does not fit the tables")
            index._order, index._directory, index._keys = order, directory, None
            return index
        keys = np.asarray(arrays["keys"], np.uint32)
        if keys.shape != order.shape:
            raise ValueError("tables do not fit the descriptors")
        index._set_tables(order, keys)
        return index
