"""Hash-list entries in the hash-set table (local stack): imported once, merged by hash, allowed, removed, loaded for matching."""

from __future__ import annotations

import hashlib
import io
import uuid

import pytest
from tests.aws_fixtures import forget_source

from hashmatch.hash_set.lists import BadLine, HashListEntry, HashListFormat, read_hash_list, write_hash_list
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Stage
from hashmatch.aws.hash_set.live import version_from_table
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@pytest.fixture
def source(hash_set):
    """A list name of this test's own; its entries (and their allow-list marks) are removed afterwards."""
    name = f"list-{uuid.uuid4().hex[:8]}"
    yield name
    forget_source(hash_set, name)


@pytest.fixture
def entries(hash_set):
    return hash_set.entries


def lines(*hashes: str) -> list[str]:
    return [f"{value}\n" for value in hashes]


def test_an_import_writes_every_good_line_and_reports_each_bad_one(entries, source):
    text = lines(pdq(f"{source}1"), "not a hash", pdq(f"{source}2"), "abc")

    report = entries.import_entries(read_hash_list(text, source, HashListFormat.PDQ_LINES))

    assert (report.entries, report.written) == (2, 2)
    assert [bad.line_number for bad in report.bad_lines] == [2, 4] and all(bad.reason for bad in report.bad_lines)
    assert entries.get(ListedSignal.PDQ, pdq(f"{source}1")).sources == (source,)


def test_importing_the_same_list_again_writes_nothing(entries, source):
    text = lines(pdq(f"{source}a"), pdq(f"{source}b"))
    entries.import_entries(read_hash_list(text, source, HashListFormat.PDQ_LINES))

    again = entries.import_entries(read_hash_list(text, source, HashListFormat.PDQ_LINES))

    assert (again.written, again.already_there) == (0, 2)


def test_an_interrupted_import_lands_the_rest_exactly_once_when_run_again(entries, source):
    text = lines(*(pdq(f"{source}-{n}") for n in range(250)))

    def interrupted():
        for number, item in enumerate(read_hash_list(text, source, HashListFormat.PDQ_LINES)):
            if number == 120:
                raise KeyboardInterrupt
            yield item

    with pytest.raises(KeyboardInterrupt):
        entries.import_entries(interrupted())
    rerun = entries.import_entries(read_hash_list(text, source, HashListFormat.PDQ_LINES))

    assert rerun.written + rerun.already_there == 250 and rerun.already_there == 100  # one full batch had landed
    assert sum(1 for e in entries.all().values() if source in e.sources) == 250


def test_the_same_hash_from_two_sources_is_one_entry_with_both(entries, source):
    value = pdq(source)
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, labels=("a",), source=f"{source}-x"))
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, labels=("b",), source=f"{source}-y"), action="quarantine")

    stored = entries.get(ListedSignal.PDQ, value)

    assert stored.sources == (f"{source}-x", f"{source}-y") and stored.labels == ("a", "b") and stored.action == "quarantine"


def test_an_allowed_entry_is_not_loaded_for_matching(hash_set, entries, source):
    value = pdq(source)
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, source=source))
    entries.allow(ListedSignal.PDQ, value, allowed_by="tests", reason="false positive")

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert f"pdq:{value}" not in loaded


def test_an_allowed_hash_stays_allowed_when_its_list_is_imported_again(hash_set, entries, source):
    value = pdq(source)
    entries.allow(ListedSignal.PDQ, value, allowed_by="tests", reason="false positive")

    entries.import_entries(read_hash_list(lines(value), source, HashListFormat.PDQ_LINES))

    assert entries.get(ListedSignal.PDQ, value).allowed and f"pdq:{value}" not in version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)


def test_an_active_pdq_entry_is_matched_as_a_still_reference(hash_set, entries, source):
    value = pdq(source)
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, labels=("terror",), source=source))

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)

    reference = loaded.describe(f"pdq:{value}")
    assert (reference.label, reference.source, reference.duration, reference.kind) == ("terror", source, 0.0, "hash")
    assert len(loaded.matcher.stage(Stage.PDQ)) >= 1


def test_removing_an_entry_deletes_its_provenances_and_bumps_the_version(hash_set, entries, source):
    value = pdq(source)
    entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=value, source=source))
    before = hash_set.version()

    removed = entries.remove(ListedSignal.PDQ, value)

    assert removed == 1 and entries.get(ListedSignal.PDQ, value) is None and hash_set.version() > before


def test_export_writes_what_import_reads(entries, source):
    entries.import_entries(read_hash_list(lines(pdq(f"{source}e1"), pdq(f"{source}e2")), source, HashListFormat.PDQ_LINES), added_by="tests")
    exported = [entry for entry in entries.export() if entry.source == source]

    text = io.StringIO("".join(write_hash_list(exported, HashListFormat.JSON_LINES)))
    read_back = [entry for entry in read_hash_list(text, "ignored", HashListFormat.JSON_LINES)]

    assert not any(isinstance(entry, BadLine) for entry in read_back)
    assert sorted(read_back, key=lambda e: e.hash) == sorted(exported, key=lambda e: e.hash)


def vpdq_file(name: str, frames: int, seed: str) -> list[str]:
    """A vPDQ file of `frames` frames at 25 per second, each with a hash of its own."""
    return [f"{n},100,{pdq(f'{seed}-{n}')},{n / 25:.3f}\n" for n in range(frames)]


def test_an_imported_vpdq_file_is_one_listed_video_matched_as_a_video(hash_set, entries, source):
    name = f"{source}.txt"
    found = read_hash_list(vpdq_file(name, 100, source), source, name=name)

    report = entries.import_entries(found, action="quarantine")

    loaded = version_from_table(hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD)
    video = loaded.describe(f"vpdq:{name}")
    assert report.written == 100 and report.listed_videos == 1
    assert (video.kind, video.duration, video.source, str(video.action)) == ("video", 4.0, source, "quarantine")
    # Its frames are matched as the video, not one by one as pictures.
    assert f"pdq:{pdq(f'{source}-0')}" not in loaded and entries.get(ListedSignal.PDQ, pdq(f"{source}-0")).provenances[0].source_id == f"{name}#0"


def test_importing_a_vpdq_file_again_leaves_one_whole_listed_video(hash_set, entries, source):
    name = f"{source}.txt"
    entries.import_entries(read_hash_list(vpdq_file(name, 60, source), source, name=name))

    again = entries.import_entries(read_hash_list(vpdq_file(name, 60, source), source, name=name))

    assert again.written == 0 and again.listed_videos == 1
    assert [r.frames for r in hash_set.references() if r.reference_id == f"vpdq:{name}"] == [60]
