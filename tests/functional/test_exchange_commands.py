"""`hashmatch admin exchange|policy|flood ...` against the local stack and a local exchange server."""

from __future__ import annotations

import json
import uuid

import pytest
from tests.aws_fixtures import forget_source

from hashmatch.aws.match_policy import MatchPolicyTable
from hashmatch.usecases.match_policy import FloodLimit, FloodSwitch
from hashmatch.hash_set.snapshot import ENTRY_KIND, KnownItem
from hashmatch_tools.cli import main
from hashmatch_tools.local.exchange_server import LocalExchangeServer, TatRecord


@pytest.fixture
def server():
    with LocalExchangeServer() as running:
        yield running


@pytest.fixture
def admin(stack, capsys):
    """`hashmatch admin COMMAND` with the stack's endpoint and resources given as its options; (exit status, stdout, stderr)."""

    def call(command: str, *arguments: str) -> tuple[int, str, str]:
        options = {
            "exchange": ["--exchange-table", stack.ref("ExchangeTable"), "--table", stack.ref("HashSetTable"), "--policy-table", stack.ref("MatchPolicyTable"), "--secret-prefix", stack.output("ExchangeSecretPrefix")],
            "policy": ["--policy-table", stack.ref("MatchPolicyTable")],
            "flood": ["--policy-table", stack.ref("MatchPolicyTable")],
        }[command]
        status = main(["admin", command, "--endpoint-url", stack.endpoint_url, "--region", stack.region, "--added-by", "tests", *options, *arguments])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return call


@pytest.fixture
def name(hash_set):
    made = f"tat-{uuid.uuid4().hex[:8]}"
    yield made
    forget_source(hash_set, made)


def hash_value() -> str:
    return (uuid.uuid4().hex * 2)[:64]


def test_an_exchange_added_with_credentials_syncs_from_this_shell(admin, server, name, tmp_path, hash_set):
    credentials = tmp_path / "tat-credentials"
    credentials.write_text("partner:secret")
    listed = hash_value()
    server.tat_records = [TatRecord(listed, 1, 1_700_000_000.0)]

    added = admin("exchange", "add", name, "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials))
    synced = admin("exchange", "sync", name)

    assert added[0] == 0 and json.loads(added[1])["secret"].endswith(f"/exchanges/{name}") and "secret" not in added[1].split('"secret"')[0]
    assert synced[0] == 0 and json.loads(synced[1])["added"] == 1 and hash_set.entries.get("pdq", listed).sources == (name,)


def test_the_credentials_are_in_secrets_manager_not_in_the_table(admin, server, name, tmp_path, stack):
    credentials = tmp_path / "tat.json"
    credentials.write_text(json.dumps({"username": "partner", "password": "secret"}))
    admin("exchange", "add", name, "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials))

    status, out, _ = admin("exchange", "list")

    assert status == 0 and "partner" not in out and "secret\"" not in out.replace('"secret":', "")
    assert json.loads(stack.client("secretsmanager").get_secret_value(SecretId=f"{stack.output('ExchangeSecretPrefix')}{name}")["SecretString"]) == {"username": "partner", "password": "secret"}


def test_status_says_what_the_last_sync_did(admin, server, name, tmp_path):
    credentials = tmp_path / "c"
    credentials.write_text("partner:secret")
    server.tat_records = [TatRecord(hash_value(), 1, 1_700_000_000.0), {"id": 2, "updated_on": 1_700_000_001.0}]
    admin("exchange", "add", name, "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials))
    admin("exchange", "sync", name)

    status, out, _ = admin("exchange", "status", name)

    report = json.loads(out)
    assert status == 0 and (report["last_sync"]["status"], report["last_sync"]["added"], report["last_sync"]["malformed"]) == ("ok", 1, 1)
    assert report["checkpoint"] == '{"after":"1700000001.0,2"}'


def test_a_failed_sync_exits_1_and_says_why(admin, name, tmp_path):
    admin("exchange", "add", name, "--kind", "list", "--collaboration", str(tmp_path / "missing.txt"))

    status, out, _ = admin("exchange", "sync", name)

    assert status == 1 and json.loads(out)["status"] == "failed" and "missing.txt" in json.loads(out)["error"]


def test_syncing_an_exchange_nobody_added_is_bad_input(admin):
    status, _, err = admin("exchange", "sync", "no-such-exchange")
    assert status == 2 and "no exchange named no-such-exchange" in err


def test_feedback_on_a_hash_no_exchange_lists_is_refused_naming_its_sources(admin, hash_set, name):
    status, _, err = admin("exchange", "feedback", "pdq:" + hash_value(), "--dispute", "--reason", "a logo")
    assert status == 2 and "no exchange lists this entry" in err


def test_feedback_is_recorded_with_the_exchange_that_lists_the_hash(admin, server, name, tmp_path):
    credentials = tmp_path / "c"
    credentials.write_text("partner:secret")
    listed = hash_value()
    server.tat_records = [TatRecord(listed, 1, 1_700_000_000.0)]
    admin("exchange", "add", name, "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials))
    admin("exchange", "sync", name)

    given = admin("exchange", "feedback", f"pdq:{listed}", "--dispute", "--reason", "a logo, not the video")
    admin("exchange", "sync", name)
    _, out, _ = admin("exchange", "status", name)

    assert given[0] == 0 and json.loads(given[1])["state"] == "pending"
    [feedback] = json.loads(out)["feedback"]
    assert (feedback["feedback"], feedback["state"], feedback["provenance"]["id"]) == ("dispute", "recorded", "1")


def test_an_exchange_added_with_its_own_pdq_distance_gets_it_as_its_sources_policy(admin, server, name, tmp_path):
    admin("exchange", "add", name, "--kind", "list", "--collaboration", str(tmp_path / "l.txt"), "--pdq-distance", "12")

    _, out, _ = admin("policy", "list")

    assert {"source": name, "action": None, "pdq_distance": 12} in [json.loads(line) for line in out.splitlines()]


def test_a_pdq_distance_above_31_is_refused(admin):
    status, _, err = admin("policy", "set", "gifct", "--pdq-distance", "40")
    assert status == 2 and "0..31" in err


def test_a_source_policy_is_set_listed_and_removed(admin):
    source = f"list-{uuid.uuid4().hex[:8]}"
    admin("policy", "set", source, "--action", "quarantine", "--pdq-distance", "8")
    listed = [json.loads(line) for line in admin("policy", "list")[1].splitlines()]
    removed = admin("policy", "remove", source)
    after = [json.loads(line) for line in admin("policy", "list")[1].splitlines()]

    assert {"source": source, "action": "quarantine", "pdq_distance": 8} in listed and removed[0] == 0 and all(p["source"] != source for p in after)


def test_flood_list_shows_the_switched_item_and_why_and_confirm_ends_its_review(admin, stack):
    key = f"pdq:{hash_value()}"
    table = MatchPolicyTable(stack.table("MatchPolicyTable"))
    table.switch(FloodSwitch(key, "gifct", 101, FloodLimit(100, 60), "s3://uploads/u.png?versionId=1"), KnownItem(key, ("christchurch",), "gifct", ENTRY_KIND))

    listed = [json.loads(line) for line in admin("flood", "list")[1].splitlines() if key in line]
    confirmed = admin("flood", "confirm", key, "--reason", "a real wave of re-uploads")
    after = [json.loads(line) for line in admin("flood", "list")[1].splitlines() if key in line]

    assert [(f["state"], f["matches"], f["reason"].split(",")[0]) for f in listed] == [("in review", 101, "matched 101 uploads within 60 minutes")]
    assert confirmed[0] == 0 and [(f["state"], f["confirmed_by"]) for f in after] == [("confirmed", "tests")]


def test_confirming_an_item_never_switched_is_bad_input(admin):
    status, _, err = admin("flood", "confirm", f"pdq:{hash_value()}", "--reason", "x")
    assert status == 2 and "not switched by flood protection" in err
