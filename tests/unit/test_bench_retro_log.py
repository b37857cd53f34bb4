"""make bench-retro's synthetic log: variant rows as real uploads log them, scenes that recur, and the planted uploads where they are said to be."""

from __future__ import annotations

import numpy as np
import pytest

from hashmatch_tools.bench.bits import chunks_within, retro_layout
from hashmatch_tools.bench.retro import COPY_BITS, FRAMES, NEAR_MISS_BITS, ROWS_PER_FRAME, LogModel

UPLOADS = 3000


@pytest.fixture(scope="module")
def log():
    model = LogModel(UPLOADS, seed=5)
    return model, model.batch(0, UPLOADS)


def rows_of(log, number: int):
    _model, (upload, frame, variant, _quality, hashes) = log
    mine = upload == number
    return frame[mine], variant[mine], hashes[mine]


def nearest(model: LogModel, row: np.ndarray) -> int:
    return int(np.bitwise_count(model.reference ^ row).sum(axis=1).min())


def test_every_logged_frame_has_seven_to_nine_rows_its_own_hash_first(log):
    model, (upload, frame, variant, _quality, _hashes) = log
    pictures = set(model.planted["picture copies"].tolist())
    videos = ~np.isin(upload, list(pictures))
    keys = upload[videos] * FRAMES + frame[videos]
    _, counts = np.unique(keys, return_counts=True)
    assert counts.min() >= ROWS_PER_FRAME[0] and counts.max() <= ROWS_PER_FRAME[1]
    assert (variant[videos][np.r_[True, np.diff(keys) != 0]] == 0).all()


def test_the_most_popular_scene_recurs_in_many_uploads_so_the_log_clusters(log):
    model, (upload, _frame, variant, _quality, hashes) = log
    own = variant == 0
    of_scene = np.bitwise_count(hashes[own] ^ model.centres[0, 0]).sum(axis=1) <= 6  # a frame is its scene's centre with at most 6 bits flipped
    assert len(set(upload[own][of_scene].tolist())) > UPLOADS // 50


def test_planted_copies_sit_28_to_31_bits_from_a_reference_frame(log):
    model, _rows = log
    for kind in ("video copies, bits at random", "video copies, worst-case spread"):
        for number in model.planted[kind]:
            frame, variant, hashes = rows_of(log, int(number))
            distances = [nearest(model, row) for row in hashes[variant == 0]]
            assert len(distances) == FRAMES and max(distances) <= COPY_BITS[1]


def test_worst_case_copies_reach_the_probes_through_a_single_chunk_in_half_their_frames(log):
    model, _rows = log
    for number in model.planted["video copies, worst-case spread"]:
        _frame, variant, hashes = rows_of(log, int(number))
        at_edge = 0
        for row in hashes[variant == 0]:
            near = [reference for reference in model.reference if int(np.bitwise_count(reference ^ row).sum()) <= COPY_BITS[1]]
            at_edge += nearest(model, row) == COPY_BITS[1] and all(chunks_within(reference, row, retro_layout()) == 1 for reference in near)
        assert at_edge >= FRAMES // 2


def test_mirrored_copies_match_through_a_variant_row_only(log):
    model, _rows = log
    for number in model.planted["mirrored video copies (a variant row matches)"]:
        _frame, variant, hashes = rows_of(log, int(number))
        assert all(nearest(model, row) <= COPY_BITS[1] for row in hashes[variant == 1])
        assert all(nearest(model, row) > COPY_BITS[1] for row in hashes[variant == 0])


def test_near_misses_are_at_least_32_bits_from_every_reference_frame(log):
    model, _rows = log
    for kind in ("near misses, bits at random", "near misses, worst-case spread"):
        for number in model.planted[kind]:
            _frame, _variant, hashes = rows_of(log, int(number))
            assert min(nearest(model, row) for row in hashes) >= NEAR_MISS_BITS[0]


def test_a_picture_copy_is_one_frame_near_the_listed_hash(log):
    model, _rows = log
    for number in model.planted["picture copies"]:
        frame, variant, hashes = rows_of(log, int(number))
        assert set(frame.tolist()) == {0}
        assert int(np.bitwise_count(hashes[variant == 0][0] ^ model.listed_pdq).sum()) <= COPY_BITS[1]
