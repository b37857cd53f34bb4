"""What exchanges and TMK lists change in the hash-set table, and the exchanges' own table (moto, tables as template.yaml makes them)."""

from __future__ import annotations

import hashlib
import random
import struct

import pytest

from hashmatch.aws.exchanges import ExchangeTable
from hashmatch.aws.hash_set.entries import HashListEntries
from hashmatch.aws.hash_set.exchange_entries import ExchangeEntries
from hashmatch.exchanges.model import ExchangeConfig, Feedback, Fetched, Withdrawn
from hashmatch.hash_set.formats.tmk import TmkEntry, tmk_text
from hashmatch.hash_set.lists import HashListEntry, SkippedLine
from hashmatch.vocabulary import Action
from tests.aws_moto import all_items, template_table


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def tmk(seed: int) -> str:
    numbers = random.Random(seed).random
    count = 32 + 256 + 2 * 4 * 32 * 256
    body = struct.pack("<5i", 15, 4, 32, 256, 300) + struct.pack("<4i", 2731, 4391, 9767, 14653) + struct.pack(f"<{count}f", *(numbers() for _ in range(count)))
    return tmk_text(b"TMK1FVECPDQF" + body)


def fetched(seed: str, source: str = "tat", source_id: str = "1", labels=("far-right",)) -> Fetched:
    return Fetched(HashListEntry(signal_type="pdq", hash=pdq(seed), labels=labels, source=source, source_id=source_id), {"exchange": "tat", "id": source_id})


@pytest.fixture
def hash_set(aws):
    return template_table("HashSetTable", "hash-set")


@pytest.fixture
def bumps():
    return []


@pytest.fixture
def held(hash_set, bumps):
    return ExchangeEntries(hash_set, lambda: bumps.append(1))


# ---------------------------------------------------------------- TMK entries an import holds


def test_an_import_keeps_tmk_entries_and_counts_the_skipped_lines(hash_set):
    entries = HashListEntries(hash_set, lambda: None)
    listing = [TmkEntry(hash=tmk(1), source="partner", source_id="7"), SkippedLine(2, "vPDQ frame of quality 40"), HashListEntry(signal_type="pdq", hash=pdq("a"), source="partner")]

    report = entries.import_entries(listing)

    assert (report.entries, report.written, report.tmk, report.skipped) == (2, 2, 1, 1)
    assert entries.stats()["tmk"] == 1 and entries.stats()["entries"] == 1


def test_a_tmk_entry_imported_twice_is_held_once_and_exported_as_it_came(hash_set):
    entries = HashListEntries(hash_set, lambda: None)
    entry = TmkEntry(hash=tmk(2), labels=("media_type_long_hash_video",), source="partner", source_id="3197774930304089", added_at="2020-07-31T21:13:10+00:00")

    entries.import_entries([entry])
    again = entries.import_entries([entry])

    assert again.already_there == 1 and list(entries.export()) == [entry]


def test_tmk_partitions_are_no_entry_the_indexer_reads(hash_set):
    from hashmatch.aws.hash_set.table import HashSetTable

    HashListEntries(hash_set, lambda: None).import_entries([TmkEntry(hash=tmk(3), source="partner")])

    assert len(HashSetTable(hash_set).snapshot().frames) == 0 and HashSetTable(hash_set).entries.all() == {}


# ---------------------------------------------------------------- an exchange's entries


def test_entries_held_again_unchanged_write_nothing_and_change_no_version(held, bumps):
    held.hold([fetched("a"), fetched("b", source_id="2")], Action.REVIEW)
    bumps.clear()

    again = held.hold([fetched("a"), fetched("b", source_id="2")], Action.REVIEW)

    assert (again.added, again.updated, again.unchanged, bumps) == (0, 0, 2, [])


def test_an_entry_the_exchange_changed_is_updated_in_place(held, hash_set):
    held.hold([fetched("a")], Action.REVIEW)

    changed = held.hold([fetched("a", labels=("islamist",))], Action.REVIEW)

    [item] = [item for item in all_items(hash_set) if item["item"].startswith("source#")]
    assert (changed.updated, item["labels"]) == (1, ["islamist"])


def test_a_withdrawal_removes_this_exchanges_provenance_only(held, hash_set):
    held.hold([fetched("a")], Action.REVIEW)
    held.hold([fetched("a", source="gifct", source_id="42")], Action.REVIEW)

    removed = held.withdraw("tat", [Withdrawn("pdq", pdq("a"))])

    assert removed == 1 and [item["source"] for item in all_items(hash_set) if item["item"].startswith("source#")] == ["gifct"]


def test_a_withdrawal_naming_the_exchanges_id_leaves_its_other_ids(held, hash_set):
    held.hold([fetched("a", source_id="1"), fetched("a", source_id="2")], Action.REVIEW)

    held.withdraw("tat", [Withdrawn("pdq", pdq("a"), "1")])

    assert [item["source_id"] for item in all_items(hash_set) if item["item"].startswith("source#")] == ["2"]


def test_a_tmk_entry_is_held_and_withdrawn_by_its_hash(held, hash_set):
    text = tmk(4)
    held.hold([Fetched(TmkEntry(hash=text, source="gifct", source_id="9"), {"exchange": "threatexchange"})], Action.REVIEW)

    removed = held.withdraw("gifct", [Withdrawn("tmk", text)])

    assert removed == 1 and all_items(hash_set) == []


# ---------------------------------------------------------------- the exchanges' table


@pytest.fixture
def exchanges(aws):
    return ExchangeTable(template_table("ExchangeTable", "exchanges"))


def test_exchanges_are_listed_with_their_configuration(exchanges):
    config = ExchangeConfig("tat", "tat", "all", endpoint="https://tat.example/", secret="stack/exchanges/tat", action=Action.QUARANTINE)
    exchanges.add(config, "operator")
    assert exchanges.exchanges() == [config] and exchanges.exchange("tat") == config


def test_a_list_exchanges_members_keep_source_ids_with_hashes_in_them(exchanges):
    members = {("pdq", pdq("a"), "shared.txt:4#0"), ("md5", "cab08b36195edb1a1231d2d09fa450e0", "")}
    exchanges.save_members("partner", members, [])
    assert exchanges.members("partner") == members


def test_feedback_is_pending_until_done_and_then_says_how_it_ended(exchanges):
    exchanges.give_feedback("tat", f"pdq:{pdq('a')}", Feedback.DISPUTE, reason="a logo", given_by="operator", provenance={"id": "1"}, matches=12)
    [pending] = exchanges.pending_feedback("tat")

    exchanges.feedback_done("tat", pending, "recorded here only: no feedback API", sent=False)

    assert (pending.feedback, pending.matches) == (Feedback.DISPUTE, 12) and exchanges.pending_feedback("tat") == []
    assert exchanges.feedback("tat")[0]["state"] == "recorded"


def test_removing_an_exchange_keeps_the_feedback_operators_gave(exchanges):
    exchanges.add(ExchangeConfig("partner", "list", "https://partner.example/list.txt"), "operator")
    exchanges.save_checkpoint("partner", '{"etag":"x"}')
    exchanges.give_feedback("partner", f"pdq:{pdq('a')}", Feedback.CONFIRM, reason="seen", given_by="operator", provenance={}, matches=0)

    assert exchanges.remove("partner")
    assert (exchanges.exchanges(), exchanges.checkpoint("partner"), len(exchanges.feedback("partner"))) == ([], None, 1)
