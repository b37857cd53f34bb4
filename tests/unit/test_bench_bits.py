"""The benchmarks' planted hashes: at the distance asked for, and in the worst case reachable through one chunk only, at that chunk's own threshold."""

from __future__ import annotations

import numpy as np
import pytest

from hashmatch.hash_set.pdq_index import PdqIndex
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.bench.bits import (
    ChunkLayout,
    chunk_distances,
    chunks_within,
    distance,
    flip,
    flip_random,
    flip_rows,
    pdq_index_layout,
    random_spread,
    retro_layout,
    worst_case_spread,
)

RADIUS = PDQ_CONFIDENT_MATCH_THRESHOLD
LAYOUTS = {"retro-match chunk probes": retro_layout(), "PdqIndex": pdq_index_layout(RADIUS)}


def some_hash(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**64, 4, dtype=np.uint64)


@pytest.mark.parametrize("name", LAYOUTS)
def test_both_searches_are_exact_up_to_the_pdq_threshold(name):
    assert LAYOUTS[name].exact_radius == RADIUS


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("bits", [0, 1, 17, 28, 31, 32, 35, 200])
def test_a_worst_case_spread_flips_exactly_the_distance_asked_for(name, bits):
    rng = np.random.default_rng(bits)
    original = some_hash(rng)
    assert distance(original, flip(original, worst_case_spread(bits, LAYOUTS[name], rng))) == bits


@pytest.mark.parametrize("name", LAYOUTS)
def test_at_the_threshold_the_worst_case_is_reachable_through_one_chunk_only_at_its_own_threshold(name):
    layout = LAYOUTS[name]
    rng = np.random.default_rng(31)
    for _ in range(50):
        original = some_hash(rng)
        copy = flip(original, worst_case_spread(RADIUS, layout, rng))
        per_chunk = chunk_distances(original, copy, layout)
        reachable = [chunk for chunk, (d, t) in enumerate(zip(per_chunk, layout.thresholds)) if d <= t]
        assert len(reachable) == 1
        assert per_chunk[reachable[0]] == layout.thresholds[reachable[0]]


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("bits", [32, 33, 35])
def test_past_the_threshold_the_worst_case_is_reachable_through_no_chunk(name, bits):
    rng = np.random.default_rng(bits)
    original = some_hash(rng)
    assert chunks_within(original, flip(original, worst_case_spread(bits, LAYOUTS[name], rng)), LAYOUTS[name]) == 0


def test_below_the_threshold_the_worst_case_leaves_as_few_chunks_reachable_as_the_distance_allows():
    layout = retro_layout()  # sixteen chunks, each out of reach at 2 bits: 28 bits can put 14 out of reach, no more
    rng = np.random.default_rng(28)
    original = some_hash(rng)
    assert chunks_within(original, flip(original, worst_case_spread(28, layout, rng)), layout) == 2


def test_random_spreads_usually_leave_several_chunks_reachable_which_is_why_the_worst_case_is_planted():
    layout = retro_layout()
    rng = np.random.default_rng(5)
    reachable = [chunks_within(h, flip(h, random_spread(RADIUS, rng)), layout) for h in (some_hash(rng) for _ in range(200))]
    assert np.median(reachable) >= 3


def test_a_chunk_layout_names_the_chunk_of_a_bit_and_leaves_the_bits_past_its_last_chunk_in_none():
    layout = ChunkLayout(23, (2,) * 11)
    assert layout.chunk_of(0) == 0 and layout.chunk_of(22) == 0 and layout.chunk_of(23) == 1
    assert layout.chunk_of(252) == 10 and layout.chunk_of(253) is None


def test_flip_rows_flips_each_rows_own_bits_including_two_in_one_word():
    rows = np.zeros((2, 4), np.uint64)
    flipped = flip_rows(rows, [np.array([0, 1, 255]), np.array([64])])
    assert flipped[0].tolist() == [(1 << 63) | (1 << 62), 0, 0, 1]
    assert flipped[1].tolist() == [0, 1 << 63, 0, 0]


def test_pdq_index_finds_every_worst_case_copy_at_the_threshold_and_none_just_past_it():
    rng = np.random.default_rng(11)
    layout = pdq_index_layout(RADIUS)
    queries = rng.integers(0, 2**64, (40, 4), dtype=np.uint64)
    copies = np.stack([flip(q, worst_case_spread(RADIUS, layout, rng)) for q in queries])
    misses = np.stack([flip(q, worst_case_spread(RADIUS + 1, layout, rng)) for q in queries])
    filler = rng.integers(0, 2**64, (2000, 4), dtype=np.uint64)
    index = PdqIndex.build(np.concatenate([copies, misses, filler]), radius=RADIUS)
    owners, entries, _distances = index.search(queries, RADIUS)
    assert sorted(zip(owners.tolist(), entries.tolist())) == [(q, q) for q in range(len(queries))]


def test_flip_random_flips_each_row_by_its_own_count_of_distinct_bits():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 2**64, (500, 4), dtype=np.uint64)
    counts = rng.integers(0, 12, 500)
    flipped = flip_random(rows, counts, rng)
    assert [distance(a, b) for a, b in zip(rows, flipped)] == counts.tolist()
