import io

import numpy as np
import pytest
from PIL import Image

from hashmatch.matching.local_features import candidates
from hashmatch.matching.local_features.candidates import CandidateIndex, _keys
from hashmatch.matching.local_features.orb import extract
from hashmatch_tools.made_media import detailed


def features_of(seed, width=800, height=600):
    return extract(np.asarray(Image.fromarray(detailed(seed, width, height)).convert("L")))


@pytest.fixture(scope="module")
def frames():
    return [features_of(seed).descriptors for seed in range(6)]


@pytest.fixture(scope="module")
def index(frames):
    built = CandidateIndex()
    built.add(frames)
    return built


def test_a_frames_own_descriptors_rank_it_first(index, frames):
    for number, descriptors in enumerate(frames):
        found, votes = index.candidates(descriptors, top=3)
        assert found[0] == number
        assert votes[0] >= 0.9 * len(descriptors)


def test_a_cropped_copy_ranks_its_frame_first(index):
    picture = detailed(2, 800, 600)
    cropped = np.ascontiguousarray(picture[60:540, 80:720])
    found, _votes = index.candidates(extract(np.asarray(Image.fromarray(cropped).convert("L"))).descriptors, top=3)
    assert found[0] == 2


def photo_features(corpus, name, box=None):
    image = Image.open(corpus / "images" / "debian-mate-nature" / f"{name}.jpg").convert("L")
    if box is not None:
        image = image.crop(box)
    image.thumbnail((1024, 1024))
    return extract(np.asarray(image))


def test_an_unrelated_photograph_gets_no_candidate(corpus):
    index = CandidateIndex()
    index.add([photo_features(corpus, name).descriptors for name in ("Aqua", "Dune", "Garden", "LadyBird")])
    found, votes = index.candidates(photo_features(corpus, "Storm").descriptors, top=3)
    assert len(found) == 0 or votes.max() < 20
    # ... while a crop of one of them finds it, with votes to spare.
    found, votes = index.candidates(photo_features(corpus, "Garden", (300, 200, 1500, 1000)).descriptors, top=3)
    assert found[0] == 2 and votes[0] >= 100


def test_synthetic_unrelated_pictures_collect_far_fewer_votes_than_a_copy(index, frames):
    # Made-up pictures of squares share corner descriptors, so they do meet: a copy still stands out.
    _found, unrelated = index.candidates(features_of(99).descriptors, top=3)
    _found, own = index.candidates(frames[1], top=1)
    assert unrelated.max() < 0.5 * own[0]


def test_random_descriptors_find_nothing(index):
    noise = np.random.default_rng(5).integers(0, 256, (1000, 32), dtype=np.uint8)
    found, _votes = index.candidates(noise, top=3)
    assert len(found) == 0


def test_frames_added_later_are_found_and_numbered_after_the_first(frames):
    index = CandidateIndex()
    assert list(index.add(frames[:3])) == [0, 1, 2]
    assert index.candidates(frames[4], top=1)[0].tolist() != [4]
    assert list(index.add(frames[3:])) == [3, 4, 5]
    assert len(index) == 6
    assert index.candidates(frames[4], top=1)[0].tolist() == [4]


def test_frames_added_after_a_build_are_merged_into_the_same_tables_as_a_whole_build(frames):
    merged, whole = CandidateIndex(), CandidateIndex()
    merged.add(frames[:2])
    merged.build()
    merged.add(frames[2:4])
    merged.build()
    merged.add(frames[4:])
    whole.add(frames)
    whole.build()
    merged.build()
    assert np.array_equal(merged.sorted_keys(), whole.sorted_keys())
    for table in range(merged.tables):
        assert sorted(zip(merged.sorted_keys()[table], merged._order[table])) == sorted(zip(whole.sorted_keys()[table], whole._order[table]))
    for descriptors in frames:
        assert [a.tolist() for a in merged.candidates(descriptors, top=3)] == [a.tolist() for a in whole.candidates(descriptors, top=3)]


def test_stacked_frames_are_the_same_as_frames_added_one_by_one(frames):
    one_by_one, stacked = CandidateIndex(), CandidateIndex()
    one_by_one.add(frames)
    stacked.add_stacked(np.concatenate(frames), np.array([len(f) for f in frames]))
    for descriptors in frames:
        assert np.array_equal(one_by_one.candidates(descriptors, 3)[0], stacked.candidates(descriptors, 3)[0])


def test_a_frame_without_descriptors_keeps_the_numbering(frames):
    index = CandidateIndex()
    index.add([frames[0], np.zeros((0, 32), np.uint8), frames[1]])
    assert len(index) == 3
    assert index.candidates(frames[1], top=1)[0].tolist() == [2]


def test_an_empty_index_or_query_gives_no_candidates(frames):
    assert len(CandidateIndex().candidates(frames[0], 3)[0]) == 0
    index = CandidateIndex()
    index.add(frames)
    assert len(index.candidates(np.zeros((0, 32), np.uint8), 3)[0]) == 0


def test_saved_arrays_load_to_the_same_answers_without_rebuilding(index, frames):
    out = io.BytesIO()
    np.savez(out, **index.to_arrays())
    out.seek(0)
    with np.load(out) as data:
        loaded = CandidateIndex.from_arrays(dict(data))
    assert len(loaded) == len(index)
    for descriptors in frames:
        assert np.array_equal(loaded.candidates(descriptors, 3)[0], index.candidates(descriptors, 3)[0])
        assert np.array_equal(loaded.candidates(descriptors, 3)[1], index.candidates(descriptors, 3)[1])


def test_saved_arrays_are_compact(index):
    arrays = index.to_arrays()
    assert arrays["descriptors"].dtype == np.uint8 and arrays["order"].dtype == np.uint32
    # The descriptor (32 bytes) and two uint32 per table (key, descriptor number); a few bytes per frame besides.
    per_descriptor = sum(a.nbytes for a in arrays.values()) / len(arrays["descriptors"])
    assert per_descriptor <= 32 + 8 * index.tables + 1


def test_arrays_that_do_not_fit_are_refused(index):
    arrays = dict(index.to_arrays())
    arrays["order"] = arrays["order"][:, :-1]
    with pytest.raises(ValueError):
        CandidateIndex.from_arrays(arrays)


def test_a_key_is_the_descriptors_bits_at_the_positions():
    descriptor = np.zeros((1, 32), np.uint8)
    descriptor[0, 0] = 0b1000_0000  # bit 0 (OpenCV's byte order: the first test in the high bit)
    descriptor[0, 31] = 0b0000_0001  # bit 255
    assert _keys(descriptor, np.array([0, 255, 1], np.uint16)).tolist() == [0b011]


def test_too_many_bits_for_the_descriptor_are_refused():
    with pytest.raises(ValueError):
        CandidateIndex(tables=12, bits=24)


def test_large_tables_find_runs_through_a_directory_with_the_same_answers(frames, monkeypatch):
    searched = CandidateIndex()
    searched.add(frames)
    searched.build()
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", 1)
    directed = CandidateIndex()
    directed.add(frames[:4])
    directed.build()
    directed.add(frames[4:])  # merged into tables held as a directory
    assert directed._directory is not None and searched._directory is None
    assert np.array_equal(directed.sorted_keys(), searched.sorted_keys())
    queries = [*frames, features_of(99).descriptors, np.random.default_rng(3).integers(0, 256, (500, 32), dtype=np.uint8)]
    for descriptors in queries:
        for flips in (0, 1):
            assert [a.tolist() for a in directed.candidates(descriptors, 3, flips=flips)] == [a.tolist() for a in searched.candidates(descriptors, 3, flips=flips)]


def test_an_index_saved_with_a_directory_loads_to_the_same_answers(frames, monkeypatch):
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", 1)
    index = CandidateIndex()
    index.add(frames)
    loaded = CandidateIndex.from_arrays(index.to_arrays())
    assert loaded._directory is not None
    for descriptors in frames:
        assert [a.tolist() for a in loaded.candidates(descriptors, 3)] == [a.tolist() for a in index.candidates(descriptors, 3)]


def test_an_index_that_grows_past_the_directory_threshold_keeps_its_answers(frames, monkeypatch):
    whole = CandidateIndex()
    whole.add(frames)
    grown = CandidateIndex()
    grown.add(frames[:2])
    grown.build()
    assert grown._directory is None
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", sum(len(f) for f in frames[:3]))
    grown.add(frames[2:])  # merged from sorted keys, then held as a directory
    assert np.array_equal(grown.sorted_keys(), whole.sorted_keys())
    assert grown._directory is not None
    for descriptors in frames:
        assert [a.tolist() for a in grown.candidates(descriptors, 3)] == [a.tolist() for a in whole.candidates(descriptors, 3)]


def test_the_highest_key_is_found_through_a_directory(monkeypatch):
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", 1)
    ones = np.full((40, 32), 255, np.uint8)
    index = CandidateIndex(tables=2, bits=6)
    index.add([np.random.default_rng(1).integers(0, 256, (200, 32), dtype=np.uint8), ones])
    found, votes = index.candidates(ones, top=1, min_votes=1)
    assert found.tolist() == [1] and votes.tolist() == [40]


def test_excluded_frames_are_never_candidates(index, frames):
    excluded = np.zeros(len(frames), bool)
    excluded[2] = True

    found, _votes = index.candidates(frames[2], top=3, excluded=excluded)

    assert 2 not in found.tolist()
    assert index.candidates(frames[3], top=1, excluded=excluded)[0].tolist() == [3]


def test_an_excluded_frame_takes_no_place_among_the_top(index, frames):
    excluded = np.zeros(len(frames), bool)
    excluded[2] = True

    found, _votes = index.candidates(frames[2], top=1, excluded=excluded)

    assert found.tolist() != [2] and index.candidates(frames[2], top=1)[0].tolist() == [2]


def test_tables_held_as_directories_are_saved_as_directories_and_load_to_the_same_answers(frames, monkeypatch):
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", 0)
    built = CandidateIndex(bits=12)
    built.add(frames)

    arrays = built.to_arrays()
    loaded = CandidateIndex.from_arrays(arrays)

    assert "directory" in arrays and "keys" not in arrays
    for descriptors in frames:
        assert [a.tolist() for a in loaded.candidates(descriptors, 3)] == [b.tolist() for b in built.candidates(descriptors, 3)]


def test_a_directory_that_does_not_fit_its_tables_is_refused(frames, monkeypatch):
    monkeypatch.setattr(candidates, "DIRECTORY_FROM", 0)
    built = CandidateIndex(bits=12)
    built.add(frames)
    arrays = dict(built.to_arrays())
    arrays["directory"] = arrays["directory"][:, :-1]

    with pytest.raises(ValueError):
        CandidateIndex.from_arrays(arrays)
