"""Exchanges and flood protection through the whole local stack, on a stack of its own (FloodMatches 3).

The schedule fires SyncExchangesFunction (the runner fires it as EventBridge Scheduler would), which
fetches a local Tech Against Terrorism server; the hash it adds reaches the matcher through the table's
stream, the indexer and the snapshot, and matches an upload; the exchange's deletion takes it away again.
Then a burst: copies of one listed picture uploaded one after another until the entry matched more than
FloodMatches of them; the rest recommend review, the alarm topic gets one notice, and the operator's
`flood list` says which entry and why, until `flood confirm`.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest
from PIL import Image

from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.match_policy import MatchPolicyTable
from hashmatch.media.hashing import hash_media
from hashmatch_tools.cli import main
from hashmatch_tools.local.exchange_server import LocalExchangeServer, TatRecord
from hashmatch_tools.local.runner import local_pipeline
from hashmatch_tools.made_media import image_bytes, textured

HASH_PIPELINE = ["HashUploadFunction", "MatchHashesFunction", "IndexHashSetFunction"]


@pytest.fixture(scope="module")
def exchange_pipeline(handler_output):
    with local_pipeline(parameters={"HashSetRefreshSeconds": "0", "RetroMatchOnAdditions": "false", "FloodMatches": "3"}, log_stream=handler_output) as running:
        yield running


@pytest.fixture(scope="module")
def local(exchange_pipeline):
    return exchange_pipeline[0]


@pytest.fixture(scope="module")
def runs(exchange_pipeline):
    return exchange_pipeline[1]


@pytest.fixture(scope="module")
def server():
    with LocalExchangeServer() as running:
        yield running


@pytest.fixture(scope="module")
def observed(local):
    return local.subscribe_queue("MatchTopic", "exchange-observer")


@pytest.fixture(scope="module")
def alarms(local):
    return local.subscribe_queue("AlarmTopic", "alarm-observer")


def received(stack, queue_url: str) -> list[dict]:
    sqs, found = stack.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def admin(stack, command: str, *arguments: str) -> int:
    options = ["--exchange-table", stack.ref("ExchangeTable"), "--table", stack.ref("HashSetTable"), "--policy-table", stack.ref("MatchPolicyTable"), "--secret-prefix", stack.output("ExchangeSecretPrefix")]
    return main(["admin", command, "--endpoint-url", stack.endpoint_url, "--region", stack.region, "--added-by", "tests", *(options if command == "exchange" else options[4:6]), *arguments])


def copy_of(picture, quality: int) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(image_bytes(picture))).convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def upload(stack, runner, observed, data: bytes) -> list[dict]:
    stack.client("s3").put_object(Bucket=stack.ref("UploadsBucket"), Key=f"uploads/{uuid.uuid4().hex}.jpg", Body=data)
    runner.run_until_idle(functions=HASH_PIPELINE)
    return [json.loads(envelope["Message"]) for envelope in received(stack, observed)]


def test_a_scheduled_sync_adds_a_hash_that_matches_an_upload_and_its_deletion_reaches_the_matcher(local, runs, server, observed, tmp_path):
    picture = textured(71, 640, 480)
    listed = hash_media(image_bytes(picture), role="reference").frames[0].pdq
    server.tat_records = [TatRecord(listed, 1, 1_700_000_000.0)]
    credentials = tmp_path / "tat"
    credentials.write_text("partner:secret")
    assert admin(local, "exchange", "add", "tat-demo", "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials)) == 0

    [fired] = runs.fire_schedules(["SyncExchangesFunction"])
    runs.run_until_idle(functions=["IndexHashSetFunction"])
    matched = upload(local, runs, observed, copy_of(picture, 80))
    server.tat_records.append(TatRecord(listed, 1, 1_700_000_100.0, deleted=True))
    runs.fire_schedules(["SyncExchangesFunction"])
    runs.run_until_idle(functions=["IndexHashSetFunction"])
    after = upload(local, runs, observed, copy_of(picture, 75))

    assert fired.error is None
    assert [(m["matches"][0]["reference_id"], m["matches"][0]["source"], m["action"]) for m in matched] == [(f"pdq:{listed}", "tat-demo", "review")]
    assert after == []


def test_a_burst_of_matches_switches_the_entry_to_review_raises_the_alarm_and_waits_for_an_operator(local, runs, observed, alarms, capsys, output):
    picture = textured(72, 640, 480)
    listed = hash_media(image_bytes(picture), role="reference").frames[0].pdq
    HashSetTable(local.table("HashSetTable")).entries.import_entries([_entry(listed)], action="quarantine")
    runs.run_until_idle(functions=["IndexHashSetFunction"])

    actions = [m["action"] for quality in (90, 85, 80, 75, 70) for m in upload(local, runs, observed, copy_of(picture, quality))]
    notices = [json.loads(n["Message"]) for n in received(local, alarms)]
    capsys.readouterr()
    admin(local, "flood", "list")
    listed_floods = [json.loads(line) for line in capsys.readouterr().out.splitlines() if listed in line]
    admin(local, "flood", "confirm", f"pdq:{listed}", "--reason", "a real wave of re-uploads")
    after_confirm = [m["action"] for m in upload(local, runs, observed, copy_of(picture, 65))]

    assert actions == ["quarantine", "quarantine", "quarantine", "review", "review"]
    assert [(n["key"], n["matches"], n["limit"]) for n in notices] == [(f"pdq:{listed}", 4, 3)]
    assert [(f["state"], f["matches"], f["source"]) for f in listed_floods] == [("in review", 4, "burst-list")]
    assert after_confirm == ["quarantine"] and '"FloodSwitches":[1.0]' in output()
    assert MatchPolicyTable(local.table("MatchPolicyTable")).uploads_matched(f"pdq:{listed}") == 6


def _entry(pdq: str):
    from hashmatch.hash_set.lists import HashListEntry

    return HashListEntry(signal_type="pdq", hash=pdq, labels=("burst",), source="burst-list")
