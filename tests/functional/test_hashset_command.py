"""`hashmatch admin hashset ...` against the local stack: shared hash lists imported, exported, allowed and removed."""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest
from tests.aws_fixtures import forget_source

from hashmatch.aws.hash_set.live import LiveHashSet
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.vocabulary import ListedSignal
from hashmatch_tools.cli import main
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

HMA = "hash-lists/hma-sample-data"


@pytest.fixture
def hashset(stack, capsys):
    """`hashmatch admin hashset` with the stack's endpoint and table; returns (exit status, stdout, stderr)."""

    def call(*arguments: str) -> tuple[int, str, str]:
        common = ["admin", "hashset", "--endpoint-url", stack.endpoint_url, "--region", stack.region, "--table", stack.ref("HashSetTable"), "--features-bucket", stack.ref("ReferenceFeaturesBucket"), "--snapshot-bucket", stack.ref("SnapshotBucket"), "--manifest-key", stack.attribute("ManifestSigningKey", "Arn"), "--added-by", "tests"]
        status = main([*common, *arguments])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return call


@pytest.fixture
def source(hash_set):
    """A list name of this test's own; its entries (and their allow-list marks) are removed afterwards."""
    name = f"list-{uuid.uuid4().hex[:8]}"
    yield name
    forget_source(hash_set, name)


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@pytest.mark.corpus
def test_the_threatexchange_pdq_export_imports_cleanly(hashset, corpus, source):
    status, out, err = hashset("import", str(corpus / HMA / "pdq.csv"), "--source", source)

    assert status == 0 and err == ""
    assert json.loads(out) | {"file": None} == {"file": None, "entries": 139, "written": 139, "already_there": 0, "allowed": 0, "listed_videos": 0, "skipped": 0, "tmk": 0, "bad_lines": 0}


@pytest.mark.corpus
def test_a_tmk_line_is_kept_and_counted_and_said_to_be_stored_not_matched(hashset, hash_set, corpus, source):
    status, out, err = hashset("import", str(corpus / HMA / "video_tmk_pdqf.csv"), "--source", source)

    assert status == 0 and (json.loads(out)["tmk"], json.loads(out)["written"]) == (1, 1)
    assert "1 TMK+PDQF entries stored but not matched by the stack" in err
    assert [held.source_id for held in hash_set.entries.tmk.export() if held.source == source] == ["3197774930304089"]


@pytest.mark.corpus
def test_a_vpdq_sample_with_low_quality_frames_imports_with_them_skipped_and_counted(hashset, corpus, source):
    status, out, err = hashset("import", str(corpus / "expected-hashes/vpdq/doorknob-hd-no-bar.txt"), "--source", source)

    assert status == 0 and (json.loads(out)["entries"], json.loads(out)["skipped"], json.loads(out)["bad_lines"]) == (60, 60, 0)
    assert "60 lines skipped, counted and not errors" in err


def test_a_python_threatexchange_file_exchange_list_imports_cleanly(hashset, tmp_path, source):
    listing = tmp_path / "signals.txt"
    frames = json.dumps([f"{pdq(source + 'f0')},100,0.0", f"{pdq(source + 'f1')},90,1.0"])
    listing.write_text(f"pdq {pdq(source)}\nvideo_md5 {hashlib.md5(source.encode()).hexdigest().upper()}\nvpdq {frames}\nurl https://example.org/x\n")

    status, out, _ = hashset("import", str(listing), "--source", source)

    assert status == 0 and (json.loads(out)["entries"], json.loads(out)["skipped"]) == (4, 1)


def test_an_imported_vpdq_file_exports_its_frames_once_also_with_the_references(hashset, tmp_path, source):
    # Its listed video (vpdq:<file>) is a reference in the table too; its frames are exported as the entries they are.
    listing = tmp_path / f"{source}.txt"
    listing.write_text("".join(f"{n},90,{pdq(source + str(n))},{n / 10:.3f}\n" for n in range(3)))
    imported = json.loads(hashset("import", str(listing), "--source", source)[1])

    status, out, _ = hashset("export", "--references", "--source", source, "--format", "jsonl")

    rows = [json.loads(line) for line in out.splitlines()]
    assert imported["listed_videos"] == 1 and status == 0 and sorted(row["source_id"] for row in rows) == [f"{listing.name}#{n}" for n in range(3)]


def mixed_list(hashset, tmp_path, source) -> None:
    listing = tmp_path / "mixed.jsonl"
    listing.write_text("".join(json.dumps(line) + "\n" for line in [
        {"signal_type": "pdq", "hash": pdq(source), "labels": ["a"]},
        {"signal_type": "md5", "hash": hashlib.md5(source.encode()).hexdigest()},
        {"signal_type": "sha256", "hash": pdq(source + "sha")},
    ]))
    hashset("import", str(listing), "--source", source)


def test_an_hma_export_of_several_signal_types_writes_each_to_the_file_hma_names_for_it(hashset, tmp_path, source):
    mixed_list(hashset, tmp_path, source)

    status, out, _ = hashset("export", "--format", "hma-csv", "--source", source, "-o", f"{tmp_path / 'hma'}/")

    assert status == 0 and json.loads(out)["files"] == {"simple.HASH_PDQ.te": 1, "simple.HASH_VIDEO_MD5.te": 1, "simple.HASH_VIDEO_SHA256.te": 1}
    assert (tmp_path / "hma" / "simple.HASH_VIDEO_SHA256.te").read_text().startswith(pdq(source + "sha") + ",")


def test_an_hma_export_of_several_signal_types_to_one_file_says_to_give_a_folder(hashset, tmp_path, source):
    mixed_list(hashset, tmp_path, source)

    status, _, err = hashset("export", "--format", "hma-csv", "--source", source, "-o", str(tmp_path / "one.csv"))

    assert status == 2 and "one per signal type" in err and "give -o a folder" in err and not (tmp_path / "one.csv").exists()


def test_an_export_of_one_signal_type_of_one_source_is_one_file(hashset, tmp_path, source):
    mixed_list(hashset, tmp_path, source)

    status, _, _ = hashset("export", "--format", "hma-csv", "--source", source, "--signal-type", "md5", "-o", str(tmp_path / "md5.csv"))

    assert status == 0 and (tmp_path / "md5.csv").read_text().split(",")[0] == hashlib.md5(source.encode()).hexdigest()


@pytest.mark.corpus
def test_video_md5_lines_become_md5_entries(hashset, hash_set, corpus, source):
    hashset("import", str(corpus / HMA / "video_md5.csv"), "--source", source)

    assert hash_set.entries.get(ListedSignal.MD5, "cab08b36195edb1a1231d2d09fa450e0").sources == (source,)


def test_a_list_with_bad_lines_lands_its_good_lines_once_and_names_each_bad_one(hashset, tmp_path, source):
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([pdq(f"{source}1"), "zz-not-hex", pdq(f"{source}2"), pdq(f"{source}3")[:-1]]) + "\n")

    first = hashset("import", str(listing), "--format", "pdq", "--source", source)
    second = hashset("import", str(listing), "--format", "pdq", "--source", source)

    assert first[0] == 2 and re.findall(r"list\.txt:(\d+): ", first[2]) == ["2", "4"]
    assert json.loads(first[1])["written"] == 2 and json.loads(second[1])["written"] == 0 and json.loads(second[1])["already_there"] == 2


def test_export_writes_what_import_reads(hashset, hash_set, tmp_path, source):
    listing = tmp_path / "list.txt"
    listing.write_text(f"{pdq(source + 'x')}\n{pdq(source + 'y')}\n")
    hashset("import", str(listing), "--source", source)
    exported = tmp_path / "export.jsonl"

    status, _, _ = hashset("export", "-o", str(exported))
    mine = "".join(line for line in exported.read_text().splitlines(keepends=True) if source in line)
    (tmp_path / "mine.jsonl").write_text(mine)
    _, out, _ = hashset("import", str(tmp_path / "mine.jsonl"))

    assert status == 0 and mine.count("\n") == 2
    assert json.loads(out)["already_there"] == 2 and json.loads(out)["written"] == 0


def test_allow_then_undo_toggles_the_allow_list(hashset, hash_set, source):
    value = pdq(source)
    hashset("add", value, "--source", source, "--label", "x")

    allowed = hashset("allow", value, "--reason", "a false positive of this list")
    refused = hashset("allow", value)
    undone = hashset("allow", value, "--undo")

    assert allowed[0] == 0 and refused[0] == 2 and undone[0] == 0
    assert hash_set.entries.get(ListedSignal.PDQ, value).allowed is None


def test_remove_by_hash_deletes_the_entry(hashset, hash_set, source):
    value = pdq(source)
    hashset("add", value, "--source", source)

    status, out, _ = hashset("remove", value)

    assert status == 0 and json.loads(out)["provenances_removed"] == 1
    assert hash_set.entries.get(ListedSignal.PDQ, value) is None


def test_remove_of_an_unknown_id_says_so(hashset):
    status, _, err = hashset("remove", "no-such-reference")

    assert status == 1 and "no reference or entry" in err


def test_stats_count_entries_by_signal_type_and_source(hashset, source):
    hashset("add", pdq(source), "--source", source)
    hashset("add", hashlib.md5(source.encode()).hexdigest(), "--source", source)

    status, out, _ = hashset("stats")

    stats = json.loads(out)
    assert status == 0 and stats["by_source"][source] == 2 and stats["by_signal_type"]["md5"] >= 1


def test_a_file_whose_format_cannot_be_told_is_refused_with_the_format_flag_named(hashset, tmp_path, source):
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\nworld\n")

    status, _, err = hashset("import", str(odd), "--source", source)

    assert status == 2 and "--format" in err


def test_remove_by_a_references_default_id_removes_the_reference(hashset, hash_set, tmp_path):
    from hashmatch_tools.made_media import image_bytes, textured

    picture = tmp_path / "known.png"
    picture.write_bytes(image_bytes(textured(61, 320, 240)))
    _, out, _ = hashset("add", str(picture), "--source", "tests")
    reference_id = json.loads(out)["reference_id"]

    status, _, _ = hashset("remove", reference_id)

    assert len(reference_id) == 64 and status == 0 and hash_set.reference(reference_id) is None


def test_reindex_rebuilds_the_matchers_snapshot_from_the_whole_table(hashset, hash_set, stack, source):
    value = pdq(source)
    hashset("add", value, "--source", source, "--label", "rebuilt")

    status, out, _ = hashset("reindex")

    store = SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket"))
    assert status == 0 and json.loads(out)["sequence"] == store.read_manifest().manifest.sequence
    assert LiveHashSet(store, hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0).get().describe(f"pdq:{value}").labels == ("rebuilt",)


def test_reindex_without_a_snapshot_bucket_names_the_option(stack, capsys):
    status = main(["admin", "hashset", "--endpoint-url", stack.endpoint_url, "--region", stack.region, "--table", stack.ref("HashSetTable"), "--snapshot-bucket", "", "reindex"])

    [line] = capsys.readouterr().err.splitlines()
    assert status == 2 and "--snapshot-bucket" in line and "HASHMATCH_SNAPSHOT_BUCKET" in line


def test_adding_media_with_the_pictures_bucket_keeps_its_frames_small_for_reviewers(hashset, stack, tmp_path):
    from PIL import Image

    from hashmatch.aws.reference_pictures import ReferencePictures
    from hashmatch.media.sampling import DENSE
    from hashmatch_tools.made_media import encode_video, panning

    video = tmp_path / "known.mp4"
    video.write_bytes(encode_video(panning(62, 60, 320, 240), fps=20))  # 3 s
    _, out, _ = hashset("--pictures-bucket", stack.ref("ReferencePicturesBucket"), "add", str(video), "--source", "tests")
    reference_id = json.loads(out)["reference_id"]
    pictures = ReferencePictures(stack.client("s3"), stack.ref("ReferencePicturesBucket"))
    try:
        timestamps = pictures.timestamps(reference_id)
        first = Image.open(pictures.open(reference_id, timestamps[0]))
        # One a feature frame: a reference this short gets sixteen spread over it, at most four a second (sampling.DENSE).
        assert len(timestamps) == round(3.0 / DENSE.feature_step(3.0)) and (first.format, first.mode) == ("JPEG", "L") and max(first.size) <= 384
    finally:
        hashset("--pictures-bucket", stack.ref("ReferencePicturesBucket"), "remove", reference_id)
    assert pictures.timestamps(reference_id) == []


def test_a_media_reference_exports_as_a_vpdq_video_of_its_usable_frames(hashset, tmp_path, source):
    from hashmatch.hash_set.lists import HashListEntry, read_hash_list
    from hashmatch_tools.made_media import encode_video, panning

    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_video(panning(4, 20)))
    added = json.loads(hashset("add", str(video), "--source", source, "--label", "clip", "--reference-id", f"{source}-clip")[1])
    try:
        status, _, _ = hashset("export", "--references", "--format", "vpdq", "--video", f"{source}-clip", "-o", str(tmp_path / "clip.txt"))
        frames = list(read_hash_list((tmp_path / "clip.txt").read_text().splitlines(), source, name=f"{source}-clip"))
    finally:
        hashset("remove", f"{source}-clip")

    assert status == 0 and len(frames) == added["frames"] and all(isinstance(f, HashListEntry) and f.quality >= 50 for f in frames)
