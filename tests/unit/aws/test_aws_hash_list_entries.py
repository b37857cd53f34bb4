"""Hash-list entries over an in-memory table: each provenance written once, merged by hash, allowed, removed, exported."""

from __future__ import annotations

import hashlib

from tests.aws_fakes import FakeTable
from hashmatch.aws.hash_set.entries import HashListEntries, stored_entries
from hashmatch.hash_set.lists import EntryStatus, HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def entry(seed: str, source: str = "list a", **fields) -> HashListEntry:
    return HashListEntry(signal_type=ListedSignal.PDQ, hash=pdq(seed), source=source, **fields)


def fresh() -> tuple[HashListEntries, FakeTable, list[int]]:
    table, bumps = FakeTable("hash-set", "reference_id", "item", page_size=7), []
    return HashListEntries(table, lambda: bumps.append(1)), table, bumps


def test_each_provenance_is_written_once_however_often_it_is_imported():
    entries, table, _ = fresh()
    listing = [entry(str(n)) for n in range(150)]

    first = entries.import_entries(listing)
    second = entries.import_entries(listing)

    assert (first.written, second.written, second.already_there) == (150, 0, 150)
    assert len(table.all_items()) == 150


def test_a_hash_repeated_in_one_batch_is_written_once():
    entries, table, _ = fresh()

    report = entries.import_entries([entry("same"), entry("same")])

    assert report.written == 1 and len(table.all_items()) == 1


def test_keys_dynamodb_leaves_unprocessed_are_asked_for_again():
    entries, table, _ = fresh()
    entries.import_entries([entry("x"), entry("y")])
    table.meta.client.unprocessed_once = True

    report = entries.import_entries([entry("x"), entry("y")])

    assert report.already_there == 2 and report.written == 0 and table.meta.client.batch_gets >= 3


def test_an_import_bumps_the_version_once_at_its_end_when_it_wrote_anything():
    entries, _, bumps = fresh()

    entries.import_entries([entry("a"), entry("b")])
    entries.import_entries([entry("a"), entry("b")])

    assert bumps == [1]


def test_two_sources_of_one_hash_are_one_entry_and_quarantine_wins():
    entries, table, _ = fresh()
    entries.add(entry("h", "list a", labels=("x",)), action=Action.REVIEW)
    entries.add(entry("h", "list b", labels=("y",)), action=Action.QUARANTINE)

    [stored] = stored_entries(table.all_items()).values()

    assert (stored.sources, stored.labels, stored.action) == (("list a", "list b"), ("x", "y"), Action.QUARANTINE)


def test_removing_one_source_keeps_the_others():
    entries, _, _ = fresh()
    entries.add(entry("h", "list a"))
    entries.add(entry("h", "list b"))

    removed = entries.remove(ListedSignal.PDQ, pdq("h"), "list a")

    assert removed == 1 and entries.get(ListedSignal.PDQ, pdq("h")).sources == ("list b",)


def test_an_allowed_line_of_an_export_is_allowed_once_on_import():
    entries, _, bumps = fresh()
    line = entry("fp", status=EntryStatus.ALLOWED)

    first = entries.import_entries([line])
    bumps.clear()
    again = entries.import_entries([line])

    assert first.allowed == 1 and again.allowed == 0 and bumps == []
    assert entries.get(ListedSignal.PDQ, pdq("fp")).allowed is not None


def test_export_marks_allowed_entries_and_keeps_allow_only_hashes():
    entries, _, _ = fresh()
    entries.add(entry("kept"))
    entries.add(entry("fp"))
    entries.allow(ListedSignal.PDQ, pdq("fp"), allowed_by="tests", reason="false positive")
    entries.allow(ListedSignal.PDQ, pdq("never listed"), allowed_by="tests", reason="pre-emptive")

    exported = {(e.hash, e.source, e.status) for e in entries.export()}

    assert exported == {
        (pdq("kept"), "list a", EntryStatus.ACTIVE),
        (pdq("fp"), "list a", EntryStatus.ALLOWED),
        (pdq("never listed"), "allow-list", EntryStatus.ALLOWED),
    }


def test_disallowing_a_hash_that_is_not_allowed_says_so():
    entries, _, bumps = fresh()

    assert entries.disallow(ListedSignal.PDQ, pdq("nothing")) is False and bumps == []


def test_stats_count_entries_by_signal_type_and_source():
    entries, _, _ = fresh()
    entries.add(entry("p"))
    entries.add(HashListEntry(signal_type=ListedSignal.MD5, hash=hashlib.md5(b"f").hexdigest(), source="list b"))

    stats = entries.stats()

    assert (stats["entries"], stats["by_signal_type"], stats["by_source"]) == (2, {"pdq": 1, "md5": 1}, {"list a": 1, "list b": 1})
