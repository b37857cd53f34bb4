"""`hashmatch match --index` decides as `hashmatch compare` does: `index build` keeps the second stage's local features beside the snapshot.

The large-logo chair copy is the case: PDQ misses it (the overlay covers most of the picture) and local
features catch it. Before the snapshot kept them, `compare` matched it and `match --index` did not.
"""

from __future__ import annotations

import json

import pytest

from hashmatch_tools.cli import main

VIDEOS = "videos/tmk-sample-videos"


def run(capsys, *arguments) -> tuple[int, list[dict], str]:
    status = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")], captured.err


@pytest.fixture(scope="module")
def snapshot(corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("snapshot") / "chair.snap"
    assert main(["index", "build", str(corpus / VIDEOS / "chair-orig-22-sd-bar.mp4"), "-o", str(path), "--no-progress"]) == 0
    return path


def test_match_against_a_built_snapshot_catches_the_large_logo_copy_as_compare_does(corpus, snapshot, capsys):
    query = corpus / VIDEOS / "chair-22-with-large-logo-bar.mp4"
    _, [compared], _ = run(capsys, "compare", corpus / VIDEOS / "chair-orig-22-sd-bar.mp4", query, "--json", "--no-progress")

    status, [matched], _ = run(capsys, "match", "--index", snapshot, query, "--json", "--no-progress")

    [found] = matched["matches"]
    assert status == 0 and compared["match"] and (found["signal_type"], found["query_match_percent"], found["reference_match_percent"]) == (compared["signal"], compared["query_match_percent"], compared["reference_match_percent"])


def test_a_snapshot_without_its_local_features_says_it_has_no_second_stage(corpus, snapshot, capsys, tmp_path):
    bare = tmp_path / "bare.snap"
    bare.write_bytes(snapshot.read_bytes())

    status, [matched], err = run(capsys, "match", "--index", bare, corpus / VIDEOS / "chair-22-with-large-logo-bar.mp4", "--json", "--no-progress")

    assert status == 0 and matched["matches"] == [] and "the snapshot has no second stage" in err
