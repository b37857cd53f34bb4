import numpy as np

from hashmatch.hashes import Hash
from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.hash_set.brute_force import HashIndex


def random_hashes(count, seed, bits=256):
    rng = np.random.default_rng(seed)
    return [Hash(int.from_bytes(rng.bytes(bits // 8), "big"), bits) for _ in range(count)]


def flip(value: Hash, positions) -> Hash:
    for bit in positions:
        value = Hash(value.value ^ (1 << bit), value.bits)
    return value


def test_search_returns_every_entry_within_the_threshold_with_its_distance():
    entries = random_hashes(50, 1)
    query = flip(entries[7], range(10))
    near = flip(entries[7], range(40, 70))  # 30 bits from entries[7]; 40 from the query
    index = HashIndex([*entries, near])
    q, e, d = index.search([query], threshold=31)
    assert list(zip(q.tolist(), e.tolist(), d.tolist())) == [(0, 7, 10)]


def test_search_agrees_with_brute_force_on_a_batch():
    entries = random_hashes(300, 2)
    queries = [flip(entries[i], range(i % 40)) for i in range(0, 300, 7)] + random_hashes(20, 3)
    index = HashIndex(entries)
    q, e, d = index.search(queries, threshold=31)
    found = set(zip(q.tolist(), e.tolist(), d.tolist()))
    expected = {(qi, ei, query - entry) for qi, query in enumerate(queries) for ei, entry in enumerate(entries) if query - entry <= 31}
    assert found == expected and found


def test_distances_matrix_matches_the_value_type():
    entries = random_hashes(5, 4)
    matrix = HashIndex(entries).distances(entries[:2])
    assert matrix.shape == (2, 5)
    assert matrix[1, 3] == entries[1] - entries[3]


def test_sixty_four_bit_hashes_are_indexed_too():
    entries = random_hashes(10, 5, bits=64)
    q, e, d = HashIndex(entries, bits=64).search([flip(entries[2], [0, 1])], threshold=5)
    assert (e.tolist(), d.tolist()) == ([2], [2])


def test_empty_index_finds_nothing():
    q, e, d = HashIndex([]).search(random_hashes(3, 6), threshold=31)
    assert len(q) == len(e) == len(d) == 0


def test_frame_index_groups_hits_by_reference_with_timestamps_and_spans():
    a, b = random_hashes(3, 7), random_hashes(2, 8)
    index = FrameIndex()
    index.add("a", [(0.0, str(a[0])), (1.0, str(a[1])), (4.0, str(a[2]))], duration=5.0)
    index.add("b", [(0.0, str(b[0])), (0.5, str(b[1]))], duration=1.0)
    found = index.search([(10.0, [str(flip(a[1], [3]))]), (11.0, [str(random_hashes(1, 9)[0]), str(b[1])])], threshold=31)
    assert set(found) == {"a", "b"}
    (hit,) = found["a"]
    assert (hit.query_timestamp, hit.reference_timestamp, hit.reference_span, hit.distance) == (10.0, 1.0, 3.0, 1)
    assert [(m.query_timestamp, m.reference_timestamp, m.distance) for m in found["b"]] == [(11.0, 0.5, 0)]


def test_frame_index_keeps_the_best_variant_distance_per_frame_pair():
    (a,) = random_hashes(1, 10)
    index = FrameIndex()
    index.add("a", [(0.0, str(a))], duration=0.0)
    found = index.search([(0.0, [str(flip(a, range(20))), str(flip(a, [5]))])], threshold=31)
    assert [m.distance for m in found["a"]] == [1]


def frame_index_of(seed: int) -> tuple[FrameIndex, list[Hash], list[Hash]]:
    a, b = random_hashes(40, seed), random_hashes(25, seed + 1)
    index = FrameIndex()
    index.add("a", [(float(n), str(h)) for n, h in enumerate(a)], duration=40.0)
    index.add("b", [(0.5 * n, str(h)) for n, h in enumerate(b)], duration=12.5)
    return index, a, b


def test_a_frame_index_snapshot_answers_as_the_index_it_was_made_from():
    index, a, b = frame_index_of(11)
    queries = [(0.0, [str(flip(a[3], range(12)))]), (1.0, [str(flip(b[7], range(30)))]), (2.0, [str(random_hashes(1, 99)[0])])]

    again = FrameIndex.from_bytes(index.to_bytes())

    assert again.search(queries, 31) == index.search(queries, 31) and len(again) == len(index) == 65


def test_a_search_above_the_built_radius_falls_back_to_brute_force():
    index, a, _ = frame_index_of(13)

    found = index.search([(0.0, [str(flip(a[5], range(40)))])], threshold=40)

    assert [(m.reference_timestamp, m.distance) for m in found["a"]] == [(5.0, 40)]


def test_a_frame_match_names_the_reference_frame_it_met():
    index, a, _ = frame_index_of(15)

    [match] = index.search([(0.0, [str(flip(a[9], range(3)))])], threshold=31)["a"]

    assert index.hash_of(match.entry) == str(a[9]) and index.key_of(match.entry) == "a"


def test_still_entries_are_keyed_by_their_own_hash():
    entries, (other,) = random_hashes(3, 17), random_hashes(1, 18)
    index = FrameIndex()
    index.add("media", [(0.0, str(other))], duration=0.0)
    index.add_still([str(h) for h in entries])

    found = index.search([(0.0, [str(flip(entries[1], range(4)))])], threshold=31)

    assert list(found) == [f"pdq:{entries[1]}"] and found[f"pdq:{entries[1]}"][0].distance == 4 and len(index) == 4


def test_still_entries_survive_a_snapshot_without_a_key_list():
    entries = random_hashes(5, 19)
    index = FrameIndex()
    index.add_still([str(h) for h in entries])

    again = FrameIndex.from_bytes(index.to_bytes())

    assert again.references == [] and list(again.search([(0.0, [str(entries[2])])], 0)) == [f"pdq:{entries[2]}"]
