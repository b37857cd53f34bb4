"""Which sampled frames give a detail picture, and how many feature frames a reference keeps."""

from __future__ import annotations

from hashmatch.media.sampling import DENSE, SPARSE, FeatureCells


def test_two_keyed_instants_a_fraction_of_a_step_apart_each_give_a_detail_picture_in_their_own_cells():
    cells = FeatureCells(0.5)
    assert [cells.due(t) for t in (0.4, 0.63, 1.3, 1.73)] == [True, True, True, True]


def test_a_second_frame_in_the_same_cell_gives_no_detail_picture():
    cells = FeatureCells(0.5)
    assert [cells.due(t) for t in (3.6, 3.97)] == [True, False]


def test_without_a_feature_step_no_frame_gives_a_detail_picture():
    assert FeatureCells(None).due(0.0) is False


def test_a_short_reference_spreads_sixteen_feature_frames_over_its_length():
    assert DENSE.feature_step(4.0) == 0.25


def test_a_long_reference_keeps_a_feature_frame_a_second():
    assert DENSE.feature_step(600.0) == 1.0


def test_a_short_upload_takes_a_detail_picture_at_each_sampled_step():
    assert SPARSE.feature_step(4.0) == SPARSE.step(4.0) == 0.5
