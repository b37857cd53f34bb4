"""Each caller's budget of hashes per minute: one conditional update per request, refusals cost nothing."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from tests.aws_moto import all_items, template_table
from hashmatch.aws.lookup_throttle import KEEP_SECONDS, LookupThrottle, Throttled

CALLER = "arn:aws:sts::210987654321:assumed-role/partner"
NOW = 1_764_064_815.5  # 15.5 s into a minute
WINDOW = int(NOW // 60)


@pytest.fixture
def table(aws):
    return template_table("LookupThrottleTable", "lookup-throttle")


def spent_this_minute(table) -> list[dict]:
    return [{name: item[name] for name in ("caller", "window", "hashes", "expires_at")} for item in all_items(table)]


def test_a_request_spends_its_hash_count_only_if_it_fits_the_minute(table):
    throttle = LookupThrottle(table, 300, clock=lambda: NOW)
    throttle.take(CALLER, 30)

    spent = throttle.take(CALLER, 10)

    assert (spent.hashes, spent.limit) == (40, 300)
    assert spent_this_minute(table) == [{"caller": CALLER, "window": WINDOW, "hashes": 40, "expires_at": (WINDOW + 1) * 60 + KEEP_SECONDS}]


def test_a_request_over_the_callers_minute_is_throttled_until_the_next(table):
    throttle = LookupThrottle(table, 300, clock=lambda: NOW)
    throttle.take(CALLER, 295)

    with pytest.raises(Throttled) as throttled:
        throttle.take(CALLER, 10)

    assert throttled.value.retry_after == 45
    assert [item["hashes"] for item in spent_this_minute(table)] == [295]


def test_a_request_larger_than_the_whole_minute_is_throttled_without_a_write(table):
    with pytest.raises(Throttled):
        LookupThrottle(table, 5, clock=lambda: NOW).take(CALLER, 6)

    assert all_items(table) == []


def expected_update(cost: int, limit: int) -> dict:
    return {
        "TableName": "lookup-throttle",
        "Key": {"caller": CALLER, "window": WINDOW},
        "UpdateExpression": "ADD hashes :cost SET expires_at = if_not_exists(expires_at, :expires)",
        "ConditionExpression": "attribute_not_exists(hashes) OR hashes <= :room",
        "ExpressionAttributeValues": {":cost": cost, ":room": limit - cost, ":expires": (WINDOW + 1) * 60 + KEEP_SECONDS},
        "ReturnValues": "UPDATED_NEW",
    }


def test_other_dynamodb_errors_are_not_throttling(table):
    # moto never throttles: botocore's Stubber answers in its place, after checking the request is the conditional update.
    with Stubber(table.meta.client) as stub:
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", expected_params=expected_update(1, 300))

        with pytest.raises(Exception) as raised:
            LookupThrottle(table, 300, clock=lambda: NOW).take(CALLER, 1)

    assert not isinstance(raised.value, Throttled)
