"""The exchange sync (usecases/sync_exchanges.py) against a local exchange server, writing the local stack's tables.

The server (hashmatch_tools.local.exchange_server) answers the parts of Tech Against Terrorism's
hash-list API and ThreatExchange's Graph API that python-threatexchange's clients call, with
records made here after each API's public shape, and serves lists; faults are queued on it. The
sync runs as the function runs it (aws.exchanges.exchange_syncer), with the stack's exchange and
hash-set tables and its Secrets Manager; only its sleep is recorded instead of slept.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from hashmatch.aws.exchanges import ExchangeSecrets, ExchangeTable, exchange_syncer
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.exchanges.model import ExchangeConfig, Feedback
from hashmatch.usecases.ports import NoMetrics
from hashmatch.usecases.sync_exchanges import sync_exchanges
from hashmatch_tools.local.exchange_server import TE_TOKEN, LocalExchangeServer, TatRecord, ThreatUpdate, descriptor

GROUP = "303636684709969"


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, **fields):
        self.lines.append((message, fields))

    warning = error = info


def pdq() -> str:
    return (uuid.uuid4().hex * 2)[:64]


@pytest.fixture
def server():
    with LocalExchangeServer(tat_page_size=2) as running:
        yield running


@pytest.fixture
def name():
    return f"x{uuid.uuid4().hex[:10]}"


@pytest.fixture
def exchanges(stack):
    return ExchangeTable(stack.table("ExchangeTable"))


@pytest.fixture
def waits():
    return []


@pytest.fixture
def syncer(stack, waits):
    made = exchange_syncer(
        boto3.resource("dynamodb", endpoint_url=stack.endpoint_url, region_name=stack.region), stack.client("secretsmanager"), exchange_table=stack.ref("ExchangeTable"), hash_set_table=stack.ref("HashSetTable"),
        secret_prefix=stack.output("ExchangeSecretPrefix"), log=Log(), metrics=NoMetrics(),
    )
    return dataclasses.replace(made, sleep=waits.append)


@pytest.fixture
def configure(stack, exchanges):
    def add(name: str, kind: str, collaboration: str, endpoint: str | None = None, credentials: dict | None = None, **options) -> ExchangeConfig:
        secret = ExchangeSecrets(stack.client("secretsmanager"), stack.output("ExchangeSecretPrefix")).store(name, credentials) if credentials else None
        config = ExchangeConfig(name, kind, collaboration, endpoint=endpoint, secret=secret, **options)
        exchanges.add(config, "test")
        return config

    return add


@pytest.fixture
def tat(server, configure, name):
    return configure(name, "tat", "all", server.tat_url, {"username": "partner", "password": "secret"})


@pytest.fixture
def threatexchange(server, configure, name):
    return configure(name, "threatexchange", GROUP, server.te_url, {"api_token": TE_TOKEN})


@pytest.fixture
def entries(stack):
    table = HashSetTable(stack.table("HashSetTable"))
    return lambda source: {key: stored for key, stored in table.entries.all().items() if source in stored.sources}


def provenance_items(stack, key: str) -> list[dict]:
    return stack.table("HashSetTable").query(KeyConditionExpression=Key("reference_id").eq(key), ConsistentRead=True)["Items"]


def sync(syncer, name):
    [outcome] = sync_exchanges(syncer, [name])
    return outcome


# ---------------------------------------------------------------- Tech Against Terrorism


def test_tat_list_lands_page_by_page_with_each_records_provenance(syncer, server, tat, entries, stack):
    records = [TatRecord(pdq(), n, 1_700_000_000.0 + n, ideology="islamist" if n % 2 else "far-right") for n in range(1, 6)]
    server.tat_records = list(records)

    outcome = sync(syncer, tat.name)

    held = entries(tat.name)
    assert (outcome.status, outcome.pages, outcome.added) == ("ok", 3, 5) and sorted(held) == sorted(f"pdq:{r.hash_digest}" for r in records)
    [item] = [i for i in provenance_items(stack, f"pdq:{records[0].hash_digest}") if i["item"].startswith("source#")]
    assert (item["source_id"], item["labels"], item["exchange"]["ideology"], item["exchange"]["file_type"]) == ("1", ["islamist"], "islamist", "png")


def test_tat_sync_again_adds_and_writes_nothing(syncer, server, tat, stack):
    server.tat_records = [TatRecord(pdq(), n, 1_700_000_000.0 + n) for n in range(1, 4)]
    sync(syncer, tat.name)
    server.tat_records.append(TatRecord(pdq(), 9, 1_700_000_009.0))

    again = sync(syncer, tat.name)

    assert (again.added, again.updated, again.pages) == (1, 0, 1)
    assert [r["query"] for r in server.requested("/tat/api")][-1].endswith("after=1700000003.0%2C3")  # resumed after the last record kept


def test_tat_deleted_record_withdraws_the_hash(syncer, server, tat, entries):
    hash_value = pdq()
    server.tat_records = [TatRecord(hash_value, 1, 1_700_000_000.0)]
    sync(syncer, tat.name)
    server.tat_records.append(TatRecord(hash_value, 1, 1_700_000_100.0, deleted=True))

    outcome = sync(syncer, tat.name)

    assert outcome.withdrawn == 1 and f"pdq:{hash_value}" not in entries(tat.name)


def test_tat_malformed_record_is_counted_and_skipped(syncer, server, tat, entries):
    good = [TatRecord(pdq(), 1, 1_700_000_001.0), TatRecord(pdq(), 3, 1_700_000_003.0)]
    server.tat_records = [good[0], {"hash_digest": pdq(), "id": 2, "updated_on": 1_700_000_002.0, "algorithm": "PDQ"}, good[1], TatRecord("not-hex", 4, 1_700_000_004.0)]

    outcome = sync(syncer, tat.name)

    assert (outcome.status, outcome.malformed, sorted(entries(tat.name))) == ("ok", 2, sorted(f"pdq:{r.hash_digest}" for r in good))
    assert "created_on, deleted, file_type, ideology missing" in outcome.malformed_examples[0]


def test_tat_429_with_retry_after_is_waited_out_by_the_client(syncer, server, tat, entries):
    server.tat_records = [TatRecord(pdq(), n, 1_700_000_000.0 + n) for n in range(1, 4)]
    server.fail_next("/tat/api", 429, headers={"Retry-After": "1"}, query="page=2")

    outcome = sync(syncer, tat.name)

    assert (outcome.status, outcome.added, len(entries(tat.name))) == ("ok", 3, 3)
    assert sum("page=2" in r["query"] for r in server.requested("/tat/api")) == 2  # refused once, asked again


def test_tat_server_error_mid_fetch_resumes_from_the_checkpoint_with_nothing_lost_or_twice(syncer, server, tat, entries, stack):
    records = [TatRecord(pdq(), n, 1_700_000_000.0 + n) for n in range(1, 6)]
    server.tat_records = list(records)
    # Page 2 fails however often the client and the sync retry it, until the server is well again.
    server.fail_next("/tat/api", 500, count=1000, query="page=2")

    first = sync(syncer, tat.name)
    server.clear_faults()
    second = sync(syncer, tat.name)

    assert (first.status, first.added, second.status, second.added, second.unchanged) == ("failed", 2, "ok", 3, 0)
    assert sorted(entries(tat.name)) == sorted(f"pdq:{r.hash_digest}" for r in records)
    assert all(len([i for i in provenance_items(stack, f"pdq:{r.hash_digest}") if i["item"].startswith("source#")]) == 1 for r in records)


def test_tat_bad_credentials_fail_the_exchange_saying_why(syncer, server, configure, name):
    config = configure(name, "tat", "all", server.tat_url, {"username": "partner", "password": "wrong"})

    outcome = sync(syncer, config.name)

    assert outcome.status == "failed" and "HTTP 400" in outcome.error


# ---------------------------------------------------------------- ThreatExchange


def update(n: int, hash_value: str, *, status: str = "MALICIOUS", tags=("violent_extremism",), **fields) -> ThreatUpdate:
    return ThreatUpdate(str(100 + n), hash_value, "HASH_PDQ", 1_700_000_000 + n, descriptors=[descriptor(9000 + n, 555, status, tags)], **fields)


def test_threatexchange_updates_land_across_pages_with_their_opinions(syncer, server, threatexchange, entries, stack):
    server.te_page_size = 2
    updates = [update(n, pdq()) for n in range(5)]
    server.te_updates[GROUP] = list(updates)

    outcome = sync(syncer, threatexchange.name)

    assert (outcome.status, outcome.pages, outcome.added) == ("ok", 3, 5)
    [item] = [i for i in provenance_items(stack, f"pdq:{updates[0].indicator}") if i["item"].startswith("source#")]
    assert (item["labels"], item["exchange"]["opinion"], item["exchange"]["descriptors"][0]["id"]) == (["violent_extremism", "true_positive"], "POSITIVE_CLASS", 9000)


def test_threatexchange_deletion_and_negative_opinion_withdraw_the_hash(syncer, server, threatexchange, entries):
    deleted, disowned = pdq(), pdq()
    server.te_updates[GROUP] = [update(1, deleted), update(2, disowned)]
    sync(syncer, threatexchange.name)
    server.te_updates[GROUP] += [update(3, deleted, should_delete=True), update(4, disowned, status="NON_MALICIOUS")]

    outcome = sync(syncer, threatexchange.name)

    assert outcome.withdrawn == 2 and not entries(threatexchange.name)


def test_threatexchange_429_is_waited_as_retry_after_asks_then_resumed(syncer, server, threatexchange, entries, waits):
    server.te_page_size = 1
    server.te_updates[GROUP] = [update(n, pdq()) for n in range(3)]
    server.fail_next("/te/", 429, headers={"Retry-After": "7"}, query="cursor=1")

    outcome = sync(syncer, threatexchange.name)

    assert (outcome.status, outcome.rate_limited, waits, outcome.added, len(entries(threatexchange.name))) == ("ok", 1, [7.0], 3, 3)


def test_threatexchange_server_error_mid_fetch_resumes_with_nothing_lost(syncer, server, threatexchange, entries):
    server.te_page_size = 2
    updates = [update(n, pdq()) for n in range(5)]
    server.te_updates[GROUP] = list(updates)
    server.fail_next("/te/", 503, query="cursor=2")

    first = sync(syncer, threatexchange.name)
    second = sync(syncer, threatexchange.name)

    assert (first.status, first.added, second.status) == ("failed", 2, "ok")
    assert first.added + second.added == 5 and sorted(entries(threatexchange.name)) == sorted(f"pdq:{u.indicator}" for u in updates)


def test_threatexchange_malformed_update_is_counted_and_skipped(syncer, server, threatexchange, entries):
    good = update(1, pdq())
    server.te_updates[GROUP] = [good, {"id": "5", "indicator": pdq(), "type": "HASH_PDQ"}]

    outcome = sync(syncer, threatexchange.name)

    assert (outcome.status, outcome.malformed, list(entries(threatexchange.name))) == ("ok", 1, [f"pdq:{good.indicator}"])


def test_threatexchange_confirmation_is_sent_as_reactions_and_recorded(syncer, server, threatexchange, exchanges, stack):
    listed = update(1, pdq())
    server.te_updates[GROUP] = [listed]
    sync(syncer, threatexchange.name)
    [item] = [i for i in provenance_items(stack, f"pdq:{listed.indicator}") if i["item"].startswith("source#")]
    exchanges.give_feedback(threatexchange.name, f"pdq:{listed.indicator}", Feedback.CONFIRM, reason="reviewed", given_by="test", provenance=json.loads(json.dumps(item["exchange"], default=int)), matches=2)

    outcome = sync(syncer, threatexchange.name)

    assert outcome.feedback_sent == 1 and server.te_reactions == [("9001", "HELPFUL"), ("9001", "SAW_THIS_TOO")]
    assert [(f["state"], f["result"]) for f in exchanges.feedback(threatexchange.name)] == [("sent", "sent: HELPFUL, SAW_THIS_TOO on descriptor 9001")]


# ---------------------------------------------------------------- a list at a URL


def test_list_at_a_url_lands_and_an_unchanged_list_costs_one_request(syncer, server, configure, name, entries):
    listed = [pdq(), pdq()]
    server.lists["shared.txt"] = "".join(f"pdq {h}\n" for h in listed).encode() + b"url https://example.org/x\n"
    config = configure(name, "list", server.list_url("shared.txt"))

    first = sync(syncer, config.name)
    second = sync(syncer, config.name)

    assert (first.added, first.ignored, second.status, second.added) == (2, 1, "unchanged", 0) and len(entries(config.name)) == 2


def test_list_entry_removed_from_the_list_is_withdrawn(syncer, server, configure, name, entries):
    kept, dropped = pdq(), pdq()
    server.lists["shared.txt"] = f"{kept}\n{dropped}\n".encode()
    config = configure(name, "list", server.list_url("shared.txt"))
    sync(syncer, config.name)
    server.lists["shared.txt"] = f"{kept}\n".encode()

    outcome = sync(syncer, config.name)

    assert outcome.withdrawn == 1 and list(entries(config.name)) == [f"pdq:{kept}"]


def test_vpdq_frames_of_a_list_at_a_url_are_counted_as_ignored_not_stored(syncer, server, configure, name, entries):
    # A vPDQ file is one listed video, written by an import once it is read whole; frames stored one by one would match nothing.
    server.lists["clip.txt"] = "".join(f"{n},90,{pdq()},{n / 10:.3f}\n" for n in range(3)).encode()
    config = configure(name, "list", server.list_url("clip.txt"))

    outcome = sync(syncer, config.name)

    assert (outcome.status, outcome.added, outcome.ignored) == ("ok", 0, 3) and list(entries(config.name)) == []


def test_feedback_to_a_list_is_recorded_here_only(syncer, server, configure, name, exchanges):
    server.lists["shared.txt"] = f"{pdq()}\n".encode()
    config = configure(name, "list", server.list_url("shared.txt"))
    exchanges.give_feedback(config.name, "pdq:" + "0" * 64, Feedback.DISPUTE, reason="a logo", given_by="test", provenance={}, matches=0)

    sync(syncer, config.name)

    assert [(f["state"], f["result"]) for f in exchanges.feedback(config.name)] == [("recorded", "recorded here only: a published list takes no feedback")]


def test_one_exchange_failing_leaves_the_others_to_sync(syncer, server, configure, name):
    broken = configure(f"{name}-a", "list", f"{server.url}/lists/missing.txt")
    server.lists["ok.txt"] = f"{pdq()}\n".encode()
    working = configure(f"{name}-b", "list", server.list_url("ok.txt"))

    outcomes = sync_exchanges(syncer, [broken.name, working.name])

    assert [(o.exchange, o.status) for o in outcomes] == [(broken.name, "failed"), (working.name, "ok")]
