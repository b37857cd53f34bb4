"""The lookup handler fed function-URL events (events/look_up_hashes.json) against the local stack: answers, refusals and the per-caller budget."""

from __future__ import annotations

import copy
import json
import time

import pytest
from boto3.dynamodb.conditions import Key

from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.callers import Caller
from hashmatch.vocabulary import Action
from tests.aws_fixtures import forget_source

FUNCTION = "LookUpHashesFunction"
LISTED = "3c3c3c3cc3c3c3c3a5a5a5a55a5a5a5a0ff00ff0f00ff00f6969696996969696"
SOURCE = "lookup-functional"


@pytest.fixture
def event(load_event):
    """The sample event, with a body of our own."""

    def make(body, arn: str | None = None) -> dict:
        found = copy.deepcopy(load_event("look_up_hashes"))
        found["body"] = body if isinstance(body, str) else json.dumps(body)
        if arn is not None:
            found["requestContext"]["authorizer"]["iam"]["userArn"] = arn
        return found

    return make


@pytest.fixture
def listed(hash_set, index):
    """A PDQ list entry that asks for quarantine, indexed."""
    hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=LISTED, labels=("functional",), source=SOURCE), action=Action.QUARANTINE)
    index()
    yield LISTED
    forget_source(hash_set, SOURCE)
    index()


@pytest.fixture
def throttle_table(stack):
    table = stack.table("LookupThrottleTable")
    yield table
    for item in table.scan()["Items"]:
        table.delete_item(Key={"caller": item["caller"], "window": item["window"]})


def invoke(runner, event: dict) -> tuple[int, dict, dict]:
    result = runner.invoke(FUNCTION, event)
    return result["statusCode"], json.loads(result["body"]), result["headers"]


def test_the_sample_event_is_answered_per_hash(runner, event, load_event):
    status, answer, headers = invoke(runner, load_event("look_up_hashes"))

    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [item["match"] for item in answer["pdq"]] == [False, False] and answer["pdq"][1]["low_quality"]
    assert answer["md5"] == [{"hash": "69b0834fac1477a4397a0be6b6e55c1a", "match": False}]
    assert answer["labels_shown"] is False


def test_a_listed_hash_matches_with_the_action_its_list_asks_for(runner, event, listed):
    status, answer, _ = invoke(runner, event({"pdq": [listed]}))

    assert status == 200
    assert answer["pdq"] == [{"hash": listed, "match": True, "action": "quarantine"}]


def test_a_session_of_the_labels_role_sees_labels(runner, event, stack, listed):
    status, answer, _ = invoke(runner, event({"pdq": [listed]}, stack.identity("labels-reader").arn))

    assert status == 200 and answer["labels_shown"] is True
    assert answer["pdq"][0]["labels"] == ["functional"] and answer["pdq"][0]["sources"] == [SOURCE] and answer["pdq"][0]["distance"] == 0


def test_an_event_without_an_iam_identity_is_forbidden(runner, event):
    unsigned = event({"pdq": [LISTED]})
    del unsigned["requestContext"]["authorizer"]

    status, answer, _ = invoke(runner, unsigned)

    assert status == 403 and "IAM identity" in answer["reason"]


def test_a_bad_request_is_refused_with_each_problem(runner, event):
    status, answer, _ = invoke(runner, event({"pdq": ["xyz"], "md5": "not a list"}))

    assert status == 400
    assert answer["problems"] == ["pdq[0]: expected 64 hex digits, got \"xyz\"", "md5: expected a list of hashes"]


def test_a_caller_over_its_minute_is_throttled_while_another_is_answered(runner, event, stack, throttle_table):
    limit = int(stack.parameters["LookupHashesPerMinute"])
    spender = Caller.from_arn(stack.identity("partner").arn)
    window = int(time.time() // 60)
    for minute in (window, window + 1):  # the minute may turn during the test
        throttle_table.put_item(Item={"caller": f"{spender.principal}#60", "window": minute, "hashes": limit - 1})

    last_one = invoke(runner, event({"pdq": [LISTED]}, spender.arn))
    over = invoke(runner, event({"pdq": [LISTED]}, spender.arn))
    other = invoke(runner, event({"pdq": [LISTED]}, stack.identity("operator").arn))

    assert last_one[0] == 200
    # A sliding minute: room comes back as the spent minute slides out, by the end of the next one at the latest.
    assert over[0] == 429 and 1 <= int(over[2]["Retry-After"]) <= 120 and over[1]["retry_after"] == int(over[2]["Retry-After"])
    assert other[0] == 200


def test_the_budget_counts_hashes_not_requests(runner, event, stack, throttle_table):
    caller = Caller.from_arn(stack.identity("impostor").arn)

    invoke(runner, event({"pdq": [LISTED] * 7, "md5": ["0" * 32]}, caller.arn))

    [spent] = throttle_table.query(KeyConditionExpression=Key("caller").eq(f"{caller.principal}#60"))["Items"]
    assert spent["hashes"] == 8 and spent["expires_at"] > time.time()
