"""The field's other hash-list formats (hash_set/formats/): read into entries and written back.

Through the other tools' own parsers: test_list_formats_pytx.py.
"""

from __future__ import annotations

import json

import pytest

from hashmatch.hash_set.formats import hma, pytx, vpdq
from hashmatch.hash_set.formats.tmk import TmkEntry, tmk_bytes, tmk_text
from hashmatch.hash_set.lists import BadLine, HashListEntry, HashListFormat, SkippedLine, detect_format, read_hash_list, write_hash_list
from hashmatch.vocabulary import ListedSignal

A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
B = "acecf3355e3125c8e24e2f30e0d4ec4f8482b878b3c34cdbdf063278db275992"
MD5 = "cab08b36195edb1a1231d2d09fa450e0"
HMA_DIR = "hash-lists/hma-sample-data"


@pytest.fixture(scope="session")
def tmk_hash() -> str:
    """A TMK+PDQF hash of the export's form, made: the header of TMK+PDQF (15 fps, 4 periods, 32 coefficients, 256 features) and numbers."""
    import random
    import struct

    periods, coefficients, features = 4, 32, 256
    numbers = random.Random(7).random
    body = struct.pack("<5i", 15, periods, coefficients, features, 337) + struct.pack("<4i", 2731, 4391, 9767, 14653)
    body += struct.pack(f"<{coefficients + features + 2 * periods * coefficients * features}f", *(numbers() for _ in range(coefficients + features + 2 * periods * coefficients * features)))
    return tmk_text(b"TMK1FVECPDQF" + body)


def read(lines, format=None, source="partner-list", name="list.txt"):
    return list(read_hash_list(lines, source, format, name=name))


def of_type(items, kind):
    return [item for item in items if isinstance(item, kind)]


def frames(*specs, video="clip", source="partner-list"):
    return [HashListEntry(signal_type="pdq", hash=h, source=source, source_id=f"{video}#{i}", quality=q, timestamp=t) for i, (h, q, t) in enumerate(specs)]


# python-threatexchange's file exchange


def test_file_exchange_line_names_its_signal_type():
    assert read([f"video_md5 {MD5.upper()}", f"video_sha256 {B}"]) == [
        HashListEntry(signal_type="md5", hash=MD5, source="partner-list"),
        HashListEntry(signal_type="sha256", hash=B, source="partner-list"),
    ]


def test_file_exchange_signal_types_hashmatch_does_not_match_are_skipped_and_counted():
    items = read([f"pdq {A}", "url https://example.org/x", "raw_text some words"])
    assert [type(item) for item in items] == [HashListEntry, SkippedLine, SkippedLine]


def test_file_exchange_unknown_signal_type_is_a_bad_line():
    assert of_type(read([f"pdq {A}", f"pdqq {A}"], format="pytx-file"), BadLine)[0].reason.startswith("unknown signal type 'pdqq'")


def test_file_exchange_vpdq_signal_gives_the_frames_of_one_listed_video_skipping_low_quality_ones():
    signal = json.dumps([f"{A},100,0.0", f"{B},49,1.0", f"{B},90,2.0"])
    items = read([f"pdq {A}", f"vpdq {signal}"], name="shared.txt")
    assert [(i.source_id, i.quality) for i in of_type(items, HashListEntry)[1:]] == [("shared.txt:2#0", 100), ("shared.txt:2#2", 90)]
    assert [s.line_number for s in of_type(items, SkippedLine)] == [2]


def test_file_exchange_old_threatexchange_tmk_name_reads_a_tmk_entry(tmk_hash):
    [entry] = read([f"video_tmk_pdqf {tmk_hash}"])
    assert isinstance(entry, TmkEntry) and entry.hash == tmk_hash


# python-threatexchange's dataset CSV


def test_dataset_csv_takes_its_collaboration_as_source_and_its_opinion_as_a_label():
    rows = ["signal_type,signal_str,collab,category,tags", f"pdq,{A},GIFCT,POSITIVE_CLASS,christchurch livestream", f"video_md5,{MD5},TAT,DISPUTED,"]
    assert read(rows) == [
        HashListEntry(signal_type="pdq", hash=A, labels=("christchurch", "livestream", "true_positive"), source="GIFCT"),
        HashListEntry(signal_type="md5", hash=MD5, labels=("disputed",), source="TAT"),
    ]


def test_dataset_csv_row_the_collaboration_calls_negative_is_skipped():
    items = read(["signal_type,signal_str,collab,category,tags", f"pdq,{A},GIFCT,NEGATIVE_CLASS,"])
    assert [type(item) for item in items] == [SkippedLine]


def test_dataset_csv_is_detected_from_its_header():
    assert detect_format(["signal_type,signal_str,collab,category,tags"]) is HashListFormat.PYTX_CSV


# HMA 1.0's state files


def test_hma_state_row_of_five_columns_reads_hash_id_time_and_labels():
    [entry] = read([f"{B},2880742865368386,2880742865368387,2020-07-31T18:47:52+0000,media_priority_pdq_samples disputed"])
    assert (entry.source_id, entry.added_at, entry.labels) == ("2880742865368386", "2020-07-31T18:47:52+00:00", ("media_priority_pdq_samples", "disputed"))


def test_hma_state_file_named_for_sha256_holds_sha256_entries():
    [entry] = read([f"{B},1,2,2020-07-31T18:47:52+0000,"], name="simple.HASH_VIDEO_SHA256.te")
    assert entry.signal_type is ListedSignal.SHA256


def test_hma_mine_in_place_of_a_time_is_no_time():
    [entry] = read([f"{MD5},4162911387113748,4162911387113749,mine,"], name="simple.HASH_VIDEO_MD5.te")
    assert (entry.signal_type, entry.added_at) == (ListedSignal.MD5, None)


def test_hma_row_whose_hash_disagrees_with_the_file_name_is_a_bad_line():
    [item] = read([f"{MD5},1,2,,"], name="simple.HASH_PDQ.te")
    assert item == BadLine(1, "a md5 hash in a file whose name says pdq", f"{MD5},1,2,,")


def test_hma_export_gives_whole_number_ids_the_same_on_every_export():
    entry = frames((A, 90, 1.0), video="chair.txt")[0]
    first = next(write_hash_list([entry], "hma-csv")).split(",")
    again = next(write_hash_list([entry], "hma-csv")).split(",")
    assert first == again and first[1].isdigit() and first[2].isdigit() and int(first[1]) < 2**52


def test_hma_file_holds_one_signal_type():
    with pytest.raises(ValueError, match="one signal type"):
        list(write_hash_list([HashListEntry(signal_type="pdq", hash=A, source="s"), HashListEntry(signal_type="md5", hash=MD5, source="s")], "hma-csv"))


@pytest.mark.parametrize(("kind", "name"), [("pdq", "simple.HASH_PDQ.te"), ("md5", "simple.HASH_VIDEO_MD5.te"), ("sha256", "simple.HASH_VIDEO_SHA256.te"), ("tmk", "simple.HASH_TMK.te")])
def test_hma_state_file_names_name_the_signal_type(kind, name):
    assert hma.state_file_name(kind) == name and hma.signal_type_of_file(name) == kind


# vPDQ


def test_vpdq_signal_file_may_span_lines():
    lines = ["[", f'  "{A},100,0.0",', f'  "{B},40,0.5",', f'  "{B},95,1.23e+02"', "]"]
    items = read(lines, name="clip.json")
    assert [(i.source_id, i.timestamp) for i in of_type(items, HashListEntry)] == [("clip.json#0", 0.0), ("clip.json#2", 123.0)]
    assert len(of_type(items, SkippedLine)) == 1


def test_vpdq_signal_writes_three_significant_digits_as_python_threatexchange_does():
    written = json.loads(next(write_hash_list(frames((A, 90, 12.345), (B, 90, 123.4)), "vpdq-json")))
    assert written == [f"{A},90,12.3", f"{B},90,1.23e+02"]


def test_vpdq_signal_that_is_not_a_list_of_frames_is_one_bad_line():
    [item] = read(['["not,a frame"]'], format="vpdq-json")
    assert isinstance(item, BadLine) and "frame 0" in item.reason


def test_listed_video_of_a_frame_is_its_source_id_before_the_frame_number():
    assert frames((A, 90, 1.0), video="chair.txt")[0].listed_video == "chair.txt"
    assert HashListEntry(signal_type="pdq", hash=A, source="s", source_id="17").listed_video is None


# TMK


def test_tmk_hash_keeps_its_text_and_is_keyed_by_the_digest_of_its_vectors(tmk_hash):
    entry = TmkEntry(hash=tmk_hash, source="gifct")
    assert tmk_text(entry.data) == tmk_hash and entry.key == ("tmk", entry.digest) and len(entry.digest) == 64


def test_tmk_hash_with_a_wrong_length_is_refused(tmk_hash):
    with pytest.raises(ValueError, match="bytes where its header says"):
        tmk_bytes(tmk_hash[:-8])


def test_tmk_entries_round_trip_through_json_lines_and_hma(tmk_hash):
    entry = TmkEntry(hash=tmk_hash, labels=("media_type_long_hash_video",), source="partner-list", source_id="3197774930304089", added_at="2020-07-31T21:13:10+00:00")
    for format, name in (("jsonl", "list.jsonl"), ("hma-csv", "simple.HASH_TMK.te")):
        assert read(list(write_hash_list([entry], format)), name=name) == [entry]
