"""Each caller's budget of hashes per minute: one conditional update per request, refusals cost nothing."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from tests.aws_fakes import real_table
from hashmatch.aws.lookup_throttle import KEEP_SECONDS, LookupThrottle, Throttled

CALLER = "arn:aws:sts::210987654321:assumed-role/partner"
NOW = 1_764_064_815.5  # 15.5 s into a minute


@pytest.fixture
def table():
    return real_table("lookup-throttle")


def expected_update(cost: int, limit: int) -> dict:
    window = int(NOW // 60)
    return {
        "TableName": "lookup-throttle",
        "Key": {"caller": CALLER, "window": window},
        "UpdateExpression": "ADD hashes :cost SET expires_at = if_not_exists(expires_at, :expires)",
        "ConditionExpression": "attribute_not_exists(hashes) OR hashes <= :room",
        "ExpressionAttributeValues": {":cost": cost, ":room": limit - cost, ":expires": (window + 1) * 60 + KEEP_SECONDS},
        "ReturnValues": "UPDATED_NEW",
    }


def test_a_request_spends_its_hash_count_only_if_it_fits_the_minute(table):
    with Stubber(table.meta.client) as stub:
        stub.add_response("update_item", {"Attributes": {"hashes": {"N": "40"}}}, expected_update(10, 300))

        spent = LookupThrottle(table, 300, clock=lambda: NOW).take(CALLER, 10)

    assert (spent.hashes, spent.limit) == (40, 300)


def test_a_request_over_the_callers_minute_is_throttled_until_the_next(table):
    with Stubber(table.meta.client) as stub:
        stub.add_client_error("update_item", "ConditionalCheckFailedException", expected_params=expected_update(10, 300))

        with pytest.raises(Throttled) as throttled:
            LookupThrottle(table, 300, clock=lambda: NOW).take(CALLER, 10)

    assert throttled.value.retry_after == 45


def test_a_request_larger_than_the_whole_minute_is_throttled_without_a_write(table):
    with Stubber(table.meta.client):
        with pytest.raises(Throttled):
            LookupThrottle(table, 5, clock=lambda: NOW).take(CALLER, 6)


def test_other_dynamodb_errors_are_not_throttling(table):
    with Stubber(table.meta.client) as stub:
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", expected_params=expected_update(1, 300))

        with pytest.raises(Exception) as raised:
            LookupThrottle(table, 300, clock=lambda: NOW).take(CALLER, 1)

    assert not isinstance(raised.value, Throttled)
