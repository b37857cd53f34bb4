"""make bench's check of issue 27's bound: keyed sampling's per-minute cost on 2 s GOPs at most 1.3x the fixed grid's."""

from __future__ import annotations

from hashmatch_tools.bench.hashing import keyed_sampling_cost


def test_keyed_sampling_cost_is_within_the_bound_when_every_2s_gop_video_is_at_most_1_3x():
    _table, line = keyed_sampling_cost([("720p", 2.0, 1.2, 1.0, 1.0, 1.0), ("1080p", 2.0, 2.6, 2.0, 1.0, 1.0), ("720p long", 8.0, 5.0, 2.0, 1.0, 1.0)])
    assert "2 s GOPs 1.30x" in line and "within issue 27's 1.3x" in line


def test_keyed_sampling_cost_is_over_the_bound_when_one_2s_gop_video_is_above_1_3x():
    _table, line = keyed_sampling_cost([("720p", 2.0, 1.0, 1.0, 1.0, 1.0), ("1080p", 2.0, 2.7, 2.0, 1.0, 1.0)])
    assert "2 s GOPs 1.35x" in line and "OVER issue 27's 1.3x" in line


def test_keyed_sampling_cost_reports_8s_gops_beside_the_bound_without_judging_them():
    table, line = keyed_sampling_cost([("720p", 2.0, 1.0, 1.0, 0.5, 0.5), ("720p long", 8.0, 3.0, 1.5, 1.2, 1.0)])
    assert "8 s GOPs 2.00x" in line and "within" in line
    assert table[-1].endswith("| 2.00x | 1.20x |")


def test_keyed_sampling_cost_judges_the_bound_on_wall_time_not_cpu_time():
    _table, line = keyed_sampling_cost([("720p", 2.0, 1.4, 1.0, 1.0, 1.0)])
    assert "2 s GOPs 1.40x" in line and "OVER" in line
