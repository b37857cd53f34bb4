import json
from itertools import count

import pytest

from hashmatch.hash_set.formats.tmk import TmkEntry
from hashmatch.hash_set.lists import BadLine, EntryStatus, HashListEntry, HashListFormat, SkippedLine, detect_format, read_hash_list, write_hash_list
from hashmatch.vocabulary import ListedSignal

A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
B = "acecf3355e3125c8e24e2f30e0d4ec4f8482b878b3c34cdbdf063278db275992"
MD5 = "cab08b36195edb1a1231d2d09fa450e0"
HMA_LINE = f"{B},2880742865368386,2020-07-31T18:47:52+0000,media_priority_pdq_samples disputed"
HMA_5_COLUMNS = f"{B},2880742865368386,00000000000000,2020-07-31T18:47:52+0000,media_priority_pdq_samples disputed"
VPDQ_LINE = f"2,100,{A},0.067"
TMK_LINE = "TMK1FVECPDQF|DwAAAAQAAAAgAAAAAAEAAPciAACr==,3197774930304089,2020-07-31T21:13:10+0000,media_type_long_hash_video"
HMA_DIR = "hash-lists/hma-sample-data"


def read(lines, format=None, source="partner-list", **kwargs):
    return list(read_hash_list(lines, source, format, **kwargs))


def entries(items):
    return [item for item in items if isinstance(item, HashListEntry)]


def bad_lines(items):
    return [item for item in items if isinstance(item, BadLine)]


def skipped(items):
    return [item for item in items if isinstance(item, SkippedLine)]


def read_file(path, **kwargs):
    with open(path, encoding="utf-8") as lines:
        return read(lines, name=path.name, **kwargs)


def every_field_entry(**changes):
    fields = dict(
        signal_type=ListedSignal.PDQ,
        hash=A,
        labels=("christchurch", "livestream copy"),
        source="gifct",
        source_id="frame 7, copy 2",
        quality=92,
        timestamp=12.5,
        added_at="2026-01-02T03:04:05.250000+00:00",
        added_by="analyst@example.org",
        status=EntryStatus.ALLOWED,
    )
    fields.update(changes)
    return HashListEntry(**fields)


# Plain PDQ lines


def test_plain_pdq_line_is_a_pdq_entry_without_source_id():
    assert read([A]) == [HashListEntry(signal_type=ListedSignal.PDQ, hash=A, source="partner-list")]


def test_uppercase_hash_is_stored_as_lowercase_hex():
    assert entries(read([A.upper()]))[0].hash == A


def test_blank_lines_and_comments_are_skipped_but_counted_in_line_numbers():
    items = read(["# exported 2026-01-02\n", "\n", f"{A}\n", "   \n", "not a hash\n"], format="pdq")
    assert [(item.line_number, item.reason) for item in bad_lines(items)] == [(5, "not 64 hex digits")]


def test_plain_md5_line_is_reported_not_read_as_pdq():
    [item] = read([A, MD5], format="pdq")[1:]
    assert isinstance(item, BadLine) and "MD5" in item.reason


# HMA / ThreatExchange CSV


def test_hma_csv_line_gives_labels_source_id_and_added_at():
    [entry] = read([HMA_LINE])
    assert (entry.signal_type, entry.hash, entry.labels, entry.source_id, entry.added_at) == (
        ListedSignal.PDQ,
        B,
        ("media_priority_pdq_samples", "disputed"),
        "2880742865368386",
        "2020-07-31T18:47:52+00:00",
    )


def test_hma_csv_five_column_variant_reads_like_the_four_column_one():
    assert read([HMA_5_COLUMNS]) == read([HMA_LINE])


def test_hma_csv_32_hex_hash_is_md5():
    [entry] = read([f"{MD5},4162911387113748,2020-07-31T19:42:09+0000,media_type_video"])
    assert entry.key == (ListedSignal.MD5, MD5)


def test_hma_csv_header_line_is_skipped():
    assert read(["hash,indicator_id,timestamp,tags", HMA_LINE]) == read([HMA_LINE])


def test_damaged_tmk_line_is_a_bad_line_saying_what_is_wrong():
    assert read([HMA_LINE, TMK_LINE])[1] == BadLine(2, "TMK hash: 33 bytes where its header says 263344", TMK_LINE)


# vPDQ per-frame files


def test_vpdq_line_gives_a_frame_with_quality_timestamp_and_file_and_frame_in_source_id():
    [entry] = read([VPDQ_LINE], name="chair.txt")
    assert (entry.quality, entry.timestamp, entry.source_id) == (100, 0.067, "chair.txt#2")


def test_vpdq_source_id_names_the_source_when_no_file_name_is_given():
    assert entries(read([VPDQ_LINE], source="chair-list"))[0].source_id == "chair-list#2"


def test_vpdq_frame_below_quality_50_is_skipped_saying_so():
    [item] = read([f"35,47,{A},1.167"], format="vpdq")
    assert item == SkippedLine(1, "vPDQ frame of quality 47, below 50: vPDQ does not match on such frames", f"35,47,{A},1.167")


def test_vpdq_line_in_the_vpdq_package_order_reads_like_the_reference_order():
    assert read([f"2,{A},100,0.067"], name="chair.txt") == read([VPDQ_LINE], name="chair.txt")


# JSON lines


def test_json_line_without_source_takes_the_callers():
    [entry] = read([json.dumps({"signal_type": "md5", "hash": MD5, "labels": ["x"]})], source="mine")
    assert (entry.source, entry.labels, entry.status) == ("mine", ("x",), EntryStatus.ACTIVE)


def test_64_hex_hash_is_sha256_only_where_json_lines_say_so():
    [entry] = read([json.dumps({"signal_type": "sha256", "hash": A})])
    assert entry.key == (ListedSignal.SHA256, A) and entries(read([A]))[0].key == (ListedSignal.PDQ, A)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"signal_type": "x", "hash": "00"}', "unknown signal type 'x'; known: pdq, md5, sha256"),
        ('{"signal_type": "video_tmk_pdqf", "hash": "00"}', "a TMK hash starts with TMK1FVECPDQF|"),
        (f'{{"signal_type": "pdq", "hash": "{A}", "lables": []}}', "unknown field 'lables'"),
        ('{"signal_type": "pdq"}', "missing field 'hash'"),
        (f'{{"signal_type": "md5", "hash": "{A}"}}', "not 32 hex digits"),
        (f'{{"signal_type": "pdq", "hash": "{A}", "labels": "x"}}', "labels must be a list of strings"),
        (f'{{"signal_type": "pdq", "hash": "{A}", "labels": [1]}}', "every label must be a non-empty string"),
        (f'{{"signal_type": "pdq", "hash": "{A}", "status": "blocked"}}', "unknown status 'blocked'; known: active, allowed"),
        ("[1, 2]", "not a JSON object"),
        ('{"signal_type": "pdq",', "not valid JSON (Expecting property name enclosed in double quotes at column 23)"),
    ],
)
def test_bad_json_line_is_reported_with_its_reason(line, reason):
    assert read([line], format="jsonl") == [BadLine(1, reason, line)]


# Bad lines


def test_bad_lines_in_the_middle_are_reported_by_number_and_the_good_lines_still_read():
    items = read([A, "zz", B, f"{A}0", A], format="pdq")
    assert [type(item).__name__ for item in items] == ["HashListEntry", "BadLine", "HashListEntry", "BadLine", "HashListEntry"]
    assert [item.line_number for item in bad_lines(items)] == [2, 4]


def test_bad_line_text_is_cut_to_200_characters():
    assert len(read(["x" * 5000], format="pdq")[0].text) == 200


# Format detection


@pytest.mark.parametrize(
    ("line", "format"),
    [
        (A, HashListFormat.PDQ_LINES),
        (HMA_LINE, HashListFormat.HMA_CSV),
        (HMA_5_COLUMNS, HashListFormat.HMA_CSV),
        (f"{MD5},1,2020-07-31T19:42:09+0000,", HashListFormat.HMA_CSV),
        (TMK_LINE, HashListFormat.HMA_CSV),
        (VPDQ_LINE, HashListFormat.VPDQ),
        ('{"signal_type": "pdq"}', HashListFormat.JSON_LINES),
    ],
)
def test_format_is_detected_from_content(line, format):
    assert detect_format(["\ufeff# a comment", "", line]) is format


def test_detection_ignores_a_header_and_a_bad_line():
    assert detect_format(["hash,indicator_id,timestamp,tags", "garbage", HMA_LINE]) is HashListFormat.HMA_CSV


def test_undetectable_content_raises_a_value_error_naming_the_format_option():
    with pytest.raises(ValueError, match=r"cannot tell the format.*--format pdq\|hma-csv\|vpdq\|jsonl"):
        detect_format([MD5, "hello"])


def test_first_lines_of_two_formats_raise_a_value_error():
    with pytest.raises(ValueError, match="mix hma-csv, pdq"):
        detect_format([A, HMA_LINE])


def test_format_argument_overrides_detection():
    assert read([A], format="jsonl")[0].reason.startswith("not valid JSON")


def test_empty_list_yields_nothing_without_detection():
    assert read(["", "# nothing yet"]) == []


# Writing and round trips

ROUND_TRIPS = {
    HashListFormat.PDQ_LINES: [HashListEntry(signal_type="pdq", hash=h, source="partner-list") for h in (A, B)],
    # Whole-number source ids (HMA's ids are whole numbers) and one signal type (HMA's files hold one each).
    HashListFormat.HMA_CSV: [
        HashListEntry(signal_type="pdq", hash=A, labels=("a", "b"), source="partner-list", source_id="1", added_at="2020-07-31T18:47:52+00:00"),
        HashListEntry(signal_type="pdq", hash=B, labels=("x,y",), source="partner-list", source_id="2880742865368386", added_at="2020-07-31T18:47:52.5+02:00"),
    ],
    HashListFormat.VPDQ: [
        HashListEntry(signal_type="pdq", hash=h, source="partner-list", source_id=f"v.txt#{i}", quality=90 + i, timestamp=t)
        for i, (h, t) in enumerate([(A, 0.0), (B, 1 / 30), (A, 2.5)])
    ],
    HashListFormat.JSON_LINES: [
        every_field_entry(),
        every_field_entry(signal_type="sha256", quality=None, timestamp=None, source="other"),
        HashListEntry(signal_type="md5", hash=MD5, source="third"),
    ],
    # What the file exchange carries: the type and the signal (a listed video's frames as one vPDQ signal, numbered by position).
    HashListFormat.PYTX_FILE: [
        HashListEntry(signal_type="pdq", hash=A, source="partner-list"),
        HashListEntry(signal_type="md5", hash=MD5, source="partner-list"),
        HashListEntry(signal_type="sha256", hash=B, source="partner-list"),
        *[HashListEntry(signal_type="pdq", hash=h, source="partner-list", source_id=f"v.txt:4#{i}", quality=90 + i, timestamp=t) for i, (h, t) in enumerate([(A, 0.0), (B, 1.5)])],
    ],
    # The dataset CSV: its collaboration is the source, the labels its tags.
    HashListFormat.PYTX_CSV: [
        HashListEntry(signal_type="pdq", hash=A, labels=("christchurch", "true_positive"), source="gifct"),
        HashListEntry(signal_type="md5", hash=MD5, source="tat"),
    ],
    HashListFormat.VPDQ_JSON: [
        HashListEntry(signal_type="pdq", hash=h, source="partner-list", source_id=f"v.txt#{i}", quality=90 + i, timestamp=t)
        for i, (h, t) in enumerate([(A, 0.0), (B, 0.0333), (A, 12.3)])
    ],
}


@pytest.mark.parametrize("format", list(HashListFormat))
def test_written_entries_read_back_equal(format):
    written = list(write_hash_list(ROUND_TRIPS[format], format))
    assert read(written, name="v.txt") == ROUND_TRIPS[format]


def test_written_lines_end_with_a_newline():
    assert list(write_hash_list(ROUND_TRIPS[HashListFormat.PDQ_LINES], "pdq")) == [f"{A}\n", f"{B}\n"]


@pytest.mark.parametrize(
    ("format", "entry", "message"),
    [
        ("pdq", HashListEntry(signal_type="md5", hash=MD5, source="s"), "cannot carry md5"),
        ("pdq", HashListEntry(signal_type="sha256", hash=A, source="s"), "read them back as PDQ"),
        ("pdq", HashListEntry(signal_type="pdq", hash=A, source="s", status="allowed"), "cannot carry allowed entries"),
        ("hma-csv", HashListEntry(signal_type="pdq", hash=A, source="s", labels=("two words",)), "separates labels by spaces"),
        ("vpdq", HashListEntry(signal_type="pdq", hash=A, source="s"), "quality, timestamp"),
    ],
)
def test_writing_what_would_read_back_differently_raises(format, entry, message):
    with pytest.raises(ValueError, match=message):
        list(write_hash_list([entry], format))


def test_vpdq_file_refuses_frames_of_two_videos():
    frames = [every_field_entry(status="active", source_id=f"{video}#0") for video in ("a.txt", "b.txt")]
    with pytest.raises(ValueError, match="frames of one video"):
        list(write_hash_list(frames, "vpdq"))


# The entry


def test_same_hash_from_two_sources_has_one_key_and_two_provenances():
    first, second = read([HMA_LINE], source="gifct")[0], read([B], source="partner")[0]
    assert first.key == second.key and first.provenance != second.provenance


def test_entry_refuses_a_hash_of_the_wrong_width():
    with pytest.raises(ValueError, match="not 64 hex digits"):
        HashListEntry(signal_type="sha256", hash=MD5, source="s")


def test_entry_refuses_a_quality_on_a_digest():
    with pytest.raises(ValueError, match="only PDQ hashes have a quality"):
        HashListEntry(signal_type="md5", hash=MD5, source="s", quality=100)


def test_entry_refuses_added_at_without_a_time_zone():
    with pytest.raises(ValueError, match="has no time zone"):
        HashListEntry(signal_type="pdq", hash=A, source="s", added_at="2026-01-02T03:04:05")


def test_equal_times_in_other_notations_make_equal_entries():
    assert every_field_entry(added_at="2020-07-31T18:47:52Z") == every_field_entry(added_at="2020-07-31T18:47:52+0000")


# Streaming


def test_reading_yields_the_first_entry_before_the_input_is_exhausted():
    consumed = count()

    def lines():
        for _ in range(200_000):
            next(consumed)
            yield A

    items = read_hash_list(lines(), "big")
    assert isinstance(next(items), HashListEntry)
    assert next(consumed) <= 21  # the detection window, then one line at a time


# The corpus samples


def test_hma_pdq_sample_gives_139_pdq_entries_with_labels_and_source_ids(corpus):
    items = read_file(corpus / HMA_DIR / "pdq.csv")
    assert len(items) == 139
    assert all(item.signal_type is ListedSignal.PDQ and item.labels and item.source_id.isdigit() for item in items)


def test_hma_video_md5_sample_gives_2_md5_entries(corpus):
    items = read_file(corpus / HMA_DIR / "video_md5.csv")
    assert [item.signal_type for item in items] == [ListedSignal.MD5, ListedSignal.MD5]


def test_hma_tmk_sample_gives_one_tmk_entry_with_its_provenance(corpus):
    [item] = read_file(corpus / HMA_DIR / "video_tmk_pdqf.csv")
    assert isinstance(item, TmkEntry) and (item.source_id, item.added_at, len(item.data)) == ("3197774930304089", "2020-07-31T21:13:10+00:00", 263344)


@pytest.mark.parametrize(("name", "expected"), [("holidays-jpg1-pdq-hashes.csv", 813), ("holidays-jpg2-pdq-hashes.csv", 679)])
def test_hma_holidays_samples_are_all_good(corpus, name, expected):
    items = read_file(corpus / HMA_DIR / name)
    assert len(entries(items)) == expected and not bad_lines(items)


def test_pdq_haystack_gives_1350_entries(corpus):
    items = read_file(corpus / "hash-lists/pdq-reg-test/haystack.txt")
    assert len(entries(items)) == 1350 and not bad_lines(items)


def test_vpdq_sample_gives_its_frames_in_order(corpus):
    items = read_file(corpus / "expected-hashes/vpdq/chair-19-sd-bar.txt")
    assert len(entries(items)) == 564
    assert [item.source_id for item in items[:2]] == ["chair-19-sd-bar.txt#0", "chair-19-sd-bar.txt#1"]


def test_vpdq_sample_skips_and_counts_its_low_quality_frames(corpus):
    items = read_file(corpus / "expected-hashes/vpdq/doorknob-hd-no-bar.txt")
    assert (len(entries(items)), len(skipped(items)), len(bad_lines(items))) == (60, 60, 0)


@pytest.mark.parametrize(
    ("path", "format"),
    [("expected-hashes/vpdq/chair-19-sd-bar.txt", "vpdq"), ("hash-lists/pdq-reg-test/haystack.txt", "pdq")],
)
def test_export_of_a_corpus_sample_reproduces_the_file(corpus, path, format):
    original = (corpus / path).read_text(encoding="utf-8")
    assert "".join(write_hash_list(read_file(corpus / path), format)) == original


def test_export_of_the_four_column_hma_sample_keeps_hash_id_time_and_labels_in_five_columns(corpus):
    original = [line.split(",") for line in (corpus / HMA_DIR / "pdq.csv").read_text(encoding="utf-8").splitlines()]
    written = [line.rstrip("\n").split(",") for line in write_hash_list(read_file(corpus / HMA_DIR / "pdq.csv"), "hma-csv")]
    assert [[row[0], row[1], row[3], row[4]] for row in written] == original
