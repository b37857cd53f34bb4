"""PdqIndex returns exactly what brute force returns, on the reference haystack and on clustered data."""

import numpy as np
import pytest

from hashmatch.hash_set.brute_force import HashIndex, pack
from hashmatch.hash_set.pdq_index import PdqIndex

RADIUS = 31


def random_packed(count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)


def flipped(rows: np.ndarray, counts, rng: np.random.Generator) -> np.ndarray:
    """Each row with counts[i] distinct bits flipped."""
    rows = rows.copy()
    for row, count in zip(rows, np.broadcast_to(counts, len(rows))):
        for bit in rng.choice(256, size=int(count), replace=False):
            row[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return rows


def brute_force(entries: np.ndarray, queries: np.ndarray, radius: int):
    """(query, entry, distance) arrays in query-then-entry order: every pair, no index."""
    found = []
    for position, query in enumerate(queries):
        distances = np.bitwise_count(entries ^ query).sum(axis=1, dtype=np.uint16)
        hits = np.flatnonzero(distances <= radius)
        found.append((np.full(len(hits), position), hits, distances[hits]))
    return tuple(np.concatenate(parts) for parts in zip(*found))


def assert_same(found, expected):
    assert [a.tolist() for a in found] == [a.tolist() for a in expected]


@pytest.fixture(scope="module")
def clustered():
    """50,000 entries: random, plus 30 % in scenes of frames within 0-6 bits of their scene's centre
    (one scene of 3,000 frames), plus 4 entries planted per query at distances spread over 0..31."""
    rng = np.random.default_rng(11)
    entries = random_packed(50_000, rng)
    scene_sizes = [3_000] + [300] * 40
    start = 0
    for size in scene_sizes:
        centre = random_packed(1, rng)
        entries[start : start + size] = flipped(np.repeat(centre, size, axis=0), rng.integers(0, 7, size=size), rng)
        start += size
    # Queries: 40 unrelated, 20 made from scene frames (so they hit whole scenes), each with planted matches.
    queries = np.concatenate([random_packed(40, rng), flipped(entries[rng.choice(start, 20)], rng.integers(0, 9, size=20), rng)])
    planted_at = rng.choice(np.arange(start, len(entries)), size=4 * len(queries), replace=False)
    distances = np.arange(len(planted_at)) % (RADIUS + 1)
    owners = np.repeat(np.arange(len(queries)), 4)
    entries[planted_at] = flipped(queries[owners], distances, rng)
    return entries, queries, set(zip(owners.tolist(), planted_at.tolist()))


@pytest.fixture(scope="module")
def clustered_index(clustered):
    return PdqIndex.build(clustered[0])


@pytest.fixture(scope="module")
def reference_lists(corpus):
    folder = corpus / "hash-lists" / "pdq-reg-test"
    haystack = folder.joinpath("haystack.txt").read_text().split()
    needles = folder.joinpath("needles.txt").read_text().split()
    return haystack, needles


@pytest.mark.parametrize("radius", [0, 10, 31])
def test_reference_needles_find_exactly_what_brute_force_finds(reference_lists, radius):
    haystack, needles = reference_lists
    found = PdqIndex.build(pack(haystack, 256)).search(pack(needles, 256), radius)
    expected = HashIndex(haystack).search(needles, radius)
    assert len(expected[0]) > 0
    assert_same(found, expected)
    assert [a.dtype for a in found] == [a.dtype for a in expected]


@pytest.mark.parametrize("radius", [0, 10, 20, 31])
def test_clustered_data_gives_exactly_the_brute_force_answer(clustered, clustered_index, radius):
    entries, queries, _planted = clustered
    assert_same(clustered_index.search(queries, radius), brute_force(entries, queries, radius))


def test_queries_near_a_scene_return_each_frame_once(clustered, clustered_index):
    entries, queries, _planted = clustered
    near_scene = queries[40:]
    q, e, _d = clustered_index.search(near_scene, RADIUS)
    pairs = set(zip(q.tolist(), e.tolist()))
    assert len(pairs) == len(q) > 3_000  # some query hits the 3,000-frame scene, with no repeats
    assert_same((q, e, _d), brute_force(entries, near_scene, RADIUS))


def test_every_planted_entry_up_to_distance_31_is_found(clustered, clustered_index):
    _entries, queries, planted = clustered
    q, e, _d = clustered_index.search(queries, RADIUS)
    assert planted <= set(zip(q.tolist(), e.tolist()))


def test_one_query_at_a_time_gives_the_batch_answer(clustered, clustered_index):
    _entries, queries, _planted = clustered
    q, e, d = clustered_index.search(queries, RADIUS)
    for position in (0, 7, 45):
        single = clustered_index.search(queries[position : position + 1], RADIUS)
        mine = q == position
        assert_same(single, (q[mine] - position, e[mine], d[mine]))


def test_hex_queries_give_the_packed_answer(clustered, clustered_index):
    _entries, queries, _planted = clustered
    hexes = [b"".join(int(w).to_bytes(8, "big") for w in row).hex() for row in queries[:10]]
    assert_same(clustered_index.search(hexes, RADIUS), clustered_index.search(queries[:10], RADIUS))


def test_index_built_for_a_smaller_radius_is_exact_up_to_it(clustered):
    entries, queries, _planted = clustered
    index = PdqIndex.build(entries, radius=12)
    assert_same(index.search(queries, 12), brute_force(entries, queries, 12))


def test_radius_above_the_built_radius_is_refused(clustered_index):
    with pytest.raises(ValueError, match="radius 32"):
        clustered_index.search(np.zeros((1, 4), dtype=np.uint64), 32)


def test_snapshot_bytes_round_trip_gives_the_same_answers(clustered, clustered_index):
    _entries, queries, _planted = clustered
    loaded = PdqIndex.from_bytes(clustered_index.to_bytes())
    assert len(loaded) == len(clustered_index) and loaded.radius == clustered_index.radius
    assert_same(loaded.search(queries, RADIUS), clustered_index.search(queries, RADIUS))


def test_snapshot_file_round_trip_gives_the_same_answers(clustered, clustered_index, tmp_path):
    _entries, queries, _planted = clustered
    clustered_index.write(tmp_path / "index.pdqindex")
    assert (tmp_path / "index.pdqindex").read_bytes() == clustered_index.to_bytes()
    loaded = PdqIndex.read(tmp_path / "index.pdqindex")
    assert_same(loaded.search(queries, RADIUS), clustered_index.search(queries, RADIUS))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: b"NOTANIDX" + data[8:], "magic"),
        (lambda data: data[:8] + (99).to_bytes(4, "little") + data[12:], "version 99"),
        (lambda data: data[:-100], "truncated"),
        (lambda data: data + b"\0" * 64, "trailing"),
    ],
)
def test_damaged_snapshot_is_refused(clustered_index, damage, message):
    with pytest.raises(ValueError, match=message):
        PdqIndex.from_bytes(damage(clustered_index.to_bytes()))


def test_empty_index_finds_nothing_and_round_trips():
    index = PdqIndex.build(np.zeros((0, 4), dtype=np.uint64))
    q, e, d = PdqIndex.from_bytes(index.to_bytes()).search(random_packed(3, np.random.default_rng(1)), RADIUS)
    assert len(index) == 0 and len(q) == len(e) == len(d) == 0


def test_empty_query_batch_finds_nothing(clustered_index):
    q, e, d = clustered_index.search(np.zeros((0, 4), dtype=np.uint64), RADIUS)
    assert len(q) == len(e) == len(d) == 0


def test_tiny_index_with_one_bucket_per_chunk_is_exact():
    rng = np.random.default_rng(3)
    entries = random_packed(5, rng)
    queries = np.concatenate([flipped(entries, [0, 5, 17, 31, 32], rng), random_packed(2, rng)])
    assert_same(PdqIndex.build(entries).search(queries, RADIUS), brute_force(entries, queries, RADIUS))


def test_memory_beyond_the_hash_is_under_64_bytes_per_entry(clustered_index):
    assert clustered_index.index_nbytes / len(clustered_index) <= 64
