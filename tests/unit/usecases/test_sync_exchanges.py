"""The exchange sync's rules that need no server: which exchanges run, the deadline, and how often a rate limit is waited out.

The store and the hash set are the real DynamoDB adapters on moto's in-process mock (tables as
template.yaml makes them); the exchange is a client that yields the pages a test gives it.
"""

from __future__ import annotations

import hashlib

import pytest
from moto import mock_aws

from hashmatch.aws.exchanges import ExchangeTable
from hashmatch.aws.hash_set.exchange_entries import ExchangeEntries
from hashmatch.clock import Clock
from hashmatch.exchanges.model import ExchangeConfig, ExchangeRateLimited, Fetched, Page
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.usecases.ports import NoMetrics
from hashmatch.usecases.sync_exchanges import RATE_LIMIT_ATTEMPTS, Syncer, sync_exchanges
from tests.aws_moto import template_table


class Log:
    def info(self, message, **fields):
        return None

    warning = error = info


class Ticking(Clock):
    """Monotonic time that moves a second each time it is read."""

    def __init__(self):
        self.seconds = 0.0

    def monotonic(self) -> float:
        self.seconds += 1.0
        return self.seconds


def page(n: int) -> Page:
    entry = HashListEntry(signal_type="pdq", hash=hashlib.sha256(str(n).encode()).hexdigest(), source="tat", source_id=str(n))
    return Page([Fetched(entry, {"id": str(n)})], f'{{"after":"{n}"}}')


class Scripted:
    """An exchange client: from a checkpoint, the pages after it; `refuse` rate limits so many fetches first."""

    def __init__(self, count: int, refuse: int = 0):
        self.count, self.refuse, self.asked = count, refuse, []

    def pages(self, checkpoint):
        self.asked.append(checkpoint)
        if self.refuse:
            self.refuse -= 1
            raise ExchangeRateLimited("rate limited (HTTP 429)", 2.0)
        start = int(checkpoint.split('"')[3]) + 1 if checkpoint else 0
        for n in range(start, self.count):
            yield page(n)

    def send_feedback(self, provenance, feedback, matches):
        raise NotImplementedError


@pytest.fixture
def tables():
    with mock_aws():
        yield ExchangeTable(template_table("ExchangeTable", "exchanges")), ExchangeEntries(template_table("HashSetTable", "hash-set"), lambda: None)


@pytest.fixture
def store(tables):
    return tables[0]


@pytest.fixture
def waits():
    return []


@pytest.fixture
def syncer(tables, waits):
    store, entries = tables
    return lambda client: Syncer(store, entries, lambda config: client, Log(), NoMetrics(), Ticking(), waits.append)


def test_the_schedule_syncs_the_enabled_exchanges_only(store, syncer):
    store.add(ExchangeConfig("on", "list", "https://a.example/l.txt"), "test")
    store.add(ExchangeConfig("off", "list", "https://b.example/l.txt", enabled=False), "test")

    outcomes = sync_exchanges(syncer(Scripted(1)))

    assert [outcome.exchange for outcome in outcomes] == ["on"]


def test_a_disabled_exchange_named_by_an_operator_is_synced(store, syncer):
    store.add(ExchangeConfig("off", "list", "https://b.example/l.txt", enabled=False), "test")

    [outcome] = sync_exchanges(syncer(Scripted(1)), ["off"])

    assert (outcome.exchange, outcome.added) == ("off", 1)


def test_naming_an_exchange_nobody_added_is_refused(store, syncer):
    with pytest.raises(KeyError, match="no exchange named ghost"):
        sync_exchanges(syncer(Scripted(1)), ["ghost"])


def test_the_deadline_stops_the_fetch_after_a_page_kept_and_the_next_run_resumes_there(store, syncer):
    store.add(ExchangeConfig("tat", "list", "https://a.example/l.txt"), "test")
    client = Scripted(5)

    [stopped] = sync_exchanges(syncer(client), deadline=0.5)
    kept = store.checkpoint("tat")
    [resumed] = sync_exchanges(syncer(client))

    assert (stopped.status, stopped.pages, kept) == ("stopped", 1, '{"after":"0"}')
    assert (resumed.status, resumed.pages, client.asked[-1], store.checkpoint("tat")) == ("ok", 4, '{"after":"0"}', '{"after":"4"}')


def test_a_rate_limit_is_waited_out_and_the_fetch_resumed(store, syncer, waits):
    store.add(ExchangeConfig("tat", "list", "https://a.example/l.txt"), "test")

    [outcome] = sync_exchanges(syncer(Scripted(2, refuse=2)))

    assert (outcome.status, outcome.rate_limited, outcome.added, waits) == ("ok", 2, 2, [2.0, 2.0])


def test_a_rate_limit_that_does_not_lift_fails_the_exchange_after_its_attempts(store, syncer, waits):
    store.add(ExchangeConfig("tat", "list", "https://a.example/l.txt"), "test")

    [outcome] = sync_exchanges(syncer(Scripted(2, refuse=RATE_LIMIT_ATTEMPTS + 1)))

    assert (outcome.status, len(waits)) == ("failed", RATE_LIMIT_ATTEMPTS) and "times in this run" in outcome.error


def test_a_wait_that_would_pass_the_deadline_stops_instead(store, syncer, waits):
    store.add(ExchangeConfig("tat", "list", "https://a.example/l.txt"), "test")

    [outcome] = sync_exchanges(syncer(Scripted(2, refuse=1)), deadline=2.5)

    assert (outcome.status, waits) == ("stopped", [])
