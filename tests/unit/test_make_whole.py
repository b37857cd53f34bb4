"""Evaluation media is made under a partial name and renamed when whole, so a stopped run leaves nothing a cache takes as made."""

from __future__ import annotations

import pytest

from hashmatch_tools.evaluation.suite import make_whole


def test_a_file_is_made_once_and_then_found(tmp_path):
    path = tmp_path / "copies" / "a.jpg"

    assert make_whole(path, lambda partial: partial.write_bytes(b"whole")) is True
    assert make_whole(path, lambda partial: partial.write_bytes(b"again")) is False
    assert path.read_bytes() == b"whole"


def test_a_make_that_fails_halfway_leaves_neither_the_file_nor_its_partial(tmp_path):
    path = tmp_path / "b.mp4"

    def half_then_fail(partial):
        partial.write_bytes(b"half")
        raise RuntimeError("encoder stopped")

    with pytest.raises(RuntimeError):
        make_whole(path, half_then_fail)
    assert list(tmp_path.iterdir()) == []
