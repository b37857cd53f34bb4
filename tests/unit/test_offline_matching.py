"""`hashmatch index build` and `hashmatch match`: snapshots of hash lists and media, matched exactly as brute force would."""

from __future__ import annotations

import hashlib
import json

import pytest

from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.hash_set.brute_force import HashIndex
from hashmatch.hash_set.snapshot import HashSetSnapshot
from hashmatch.vocabulary import Stage
from hashmatch_tools.cli import main
from hashmatch_tools.made_media import encode_video, image_bytes, panning, textured

REG_TEST = "hash-lists/pdq-reg-test"


def run(capsys, *arguments: str) -> tuple[int, list[dict], str]:
    status = main(list(arguments))
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")], captured.err


def brute_force(haystack: list[str], needles: list[str], threshold: int = 31) -> list[set[tuple[str, int]]]:
    query, entry, distance = HashIndex(haystack).search(needles, threshold)
    found: list[set[tuple[str, int]]] = [set() for _ in needles]
    for q, e, d in zip(query.tolist(), entry.tolist(), distance.tolist()):
        found[q].add((haystack[e], d))
    return found


def answers(printed: list[dict]) -> list[set[tuple[str, int]]]:
    return [{(m["hash"], m["distance"]) for m in line["matches"]} for line in printed]


def lines_of(path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.corpus
def test_match_against_hash_lists_returns_exactly_what_brute_force_returns(corpus, capsys):
    haystack, needles = corpus / REG_TEST / "haystack.txt", corpus / REG_TEST / "needles.txt"

    status, printed, _ = run(capsys, "match", "--hash-list", str(haystack), "--hashes", str(needles), "--json")

    assert status == 0 and [line["query"] for line in printed] == lines_of(needles)
    assert answers(printed) == brute_force(lines_of(haystack), lines_of(needles))
    assert sum(map(len, answers(printed))) > len(printed)  # the needles have near neighbours, not only themselves


@pytest.mark.corpus
def test_match_against_a_built_snapshot_returns_exactly_what_brute_force_returns(corpus, capsys, tmp_path):
    haystack, needles = corpus / REG_TEST / "haystack.txt", corpus / REG_TEST / "needles.txt"
    snapshot = tmp_path / "haystack.snapshot"
    built, _, _ = run(capsys, "index", "build", str(haystack), "-o", str(snapshot))

    status, printed, _ = run(capsys, "match", "--index", str(snapshot), "--hashes", str(needles), "--json", "--threshold", "20")

    assert built == 0 and status == 0
    assert answers(printed) == brute_force(lines_of(haystack), lines_of(needles), threshold=20)


@pytest.mark.corpus
def test_matches_carry_the_labels_and_source_of_the_threatexchange_export(corpus, capsys, tmp_path):
    export = corpus / "hash-lists/hma-sample-data/pdq.csv"
    first = export.read_text().splitlines()[0].split(",")[0]
    (tmp_path / "one.txt").write_text(first + "\n")

    _, [line], _ = run(capsys, "match", "--hash-list", str(export), "--hashes", str(tmp_path / "one.txt"), "--json")

    [match] = [m for m in line["matches"] if m["distance"] == 0]
    assert match["source"] == "pdq" and "media_type_photo" in match["labels"]


def test_a_bad_hash_line_is_reported_with_its_number_and_the_others_are_matched(capsys, tmp_path):
    listed = hashlib.sha256(b"listed").hexdigest()
    (tmp_path / "list.txt").write_text(listed + "\n")
    (tmp_path / "queries.txt").write_text(f"{listed}\nnot-a-hash\n")

    status, printed, err = run(capsys, "match", "--hash-list", str(tmp_path / "list.txt"), "--hashes", str(tmp_path / "queries.txt"), "--json")

    assert status == 2 and "queries.txt:2:" in err
    assert [(line["query"], [m["distance"] for m in line["matches"]]) for line in printed] == [(listed, [0])]


def test_a_video_query_is_matched_with_its_percentages_against_reference_media(capsys, tmp_path):
    frames = panning(21, 60, 320, 240)
    reference, upload = tmp_path / "reference.mp4", tmp_path / "upload.mp4"
    reference.write_bytes(encode_video(frames, fps=20))
    upload.write_bytes(encode_video(frames[10:50], fps=20))
    snapshot = tmp_path / "media.snapshot"
    run(capsys, "index", "build", str(reference), "-o", str(snapshot))

    status, [line], _ = run(capsys, "match", "--index", str(snapshot), str(upload), "--json")

    [match] = line["matches"]
    assert status == 0 and match["reference"] == "reference.mp4" and match["signal_type"] == "pdq"
    assert match["query_match_percent"] >= 50 and len(match["hash"]) == 64


def test_an_unrelated_picture_matches_nothing(capsys, tmp_path):
    (tmp_path / "list.txt").write_text(hashlib.sha256(b"something else").hexdigest() + "\n")
    (tmp_path / "picture.png").write_bytes(image_bytes(textured(22)))

    status, [line], _ = run(capsys, "match", "--hash-list", str(tmp_path / "list.txt"), str(tmp_path / "picture.png"), "--json")

    assert status == 0 and line["matches"] == []


def test_a_snapshot_keeps_entries_digests_and_frames():
    md5 = hashlib.md5(b"file").hexdigest()
    entries = [
        HashListEntry(signal_type=ListedSignal.PDQ, hash=hashlib.sha256(b"a").hexdigest(), labels=("x",), source="one"),
        HashListEntry(signal_type=ListedSignal.PDQ, hash=hashlib.sha256(b"a").hexdigest(), labels=("y",), source="two"),
        HashListEntry(signal_type=ListedSignal.MD5, hash=md5, source="one"),
    ]

    again = HashSetSnapshot.from_bytes(HashSetSnapshot.build(entries).to_bytes())

    _, [entry], [distance] = again.frames.search_entries([hashlib.sha256(b"a").hexdigest()], 0)
    pdq = again.describe(again.frames.key_of(entry), entry)
    assert (pdq.key, pdq.labels, pdq.source, distance) == (f"pdq:{hashlib.sha256(b'a').hexdigest()}", ("x", "y"), "one, two", 0) and len(again.frames) == 1
    assert again.digests[Stage.MD5] == {md5: f"md5:{md5}"} and again.describe(f"md5:{md5}").source == "one"


def test_a_file_that_is_not_a_snapshot_is_refused(capsys, tmp_path):
    (tmp_path / "not.snapshot").write_bytes(b"hello")
    (tmp_path / "q.txt").write_text("0" * 64 + "\n")

    status, _, err = run(capsys, "match", "--index", str(tmp_path / "not.snapshot"), "--hashes", str(tmp_path / "q.txt"))

    assert status == 2 and "snapshot" in err
