"""The lookup API's budgets: sliding windows of hashes per caller, per day and per account, all spent in one transaction or none."""

from __future__ import annotations

import pytest
from botocore.stub import Stubber

from hashmatch.aws.lookup_throttle import LookupThrottle, retry_after
from hashmatch.callers import Caller
from hashmatch.usecases.look_up_hashes import Budget, Limits, Throttled, budgets_of
from tests.aws_moto import all_items, template_table

CALLER = Caller.from_arn("arn:aws:sts::210987654321:assumed-role/partner/session-1")
START = 1_764_064_800.0  # the start of a minute (and of no day)
LIMITS = Limits(per_minute=300, per_day=20_000, account_per_minute=1_000)


class Clock:
    def __init__(self, at: float):
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def table(aws):
    return template_table("LookupThrottleTable", "lookup-throttle")


def spent(table) -> dict[str, int]:
    """Hashes spent per budget item (holder#window seconds, window number)."""
    return {f"{item['caller']}@{item['window']}": int(item["hashes"]) for item in all_items(table)}


def test_a_request_is_charged_to_its_callers_minute_and_day_and_to_its_account(table):
    throttle = LookupThrottle(table, clock=Clock(START + 15))

    throttle.take(budgets_of(CALLER, LIMITS), 30)

    minute, day = int(START // 60), int(START // 86400)
    assert spent(table) == {
        f"{CALLER.principal}#60@{minute}": 30,
        f"{CALLER.principal}#86400@{day}": 30,
        f"account:210987654321#60@{minute}": 30,
    }


def test_a_request_over_the_callers_minute_spends_nothing_anywhere(table):
    throttle = LookupThrottle(table, clock=Clock(START + 15))
    throttle.take(budgets_of(CALLER, LIMITS), 295)
    before = spent(table)

    with pytest.raises(Throttled) as throttled:
        throttle.take(budgets_of(CALLER, LIMITS), 10)

    assert throttled.value.budget == "caller per minute"
    assert spent(table) == before


def test_the_minute_slides_spending_at_the_turn_of_a_minute_leaves_little_room_just_after(table):
    clock = Clock(START + 59)
    throttle = LookupThrottle(table, clock=clock)
    throttle.take(budgets_of(CALLER, LIMITS), 300)
    clock.at = START + 61  # a fixed window would allow 300 more here

    with pytest.raises(Throttled):
        throttle.take(budgets_of(CALLER, LIMITS), 10)
    fresh = LookupThrottle(table, clock=clock)  # another container, without this one's memory of the refusal
    with pytest.raises(Throttled):
        fresh.take(budgets_of(CALLER, LIMITS), 10)


def test_the_minute_frees_what_slid_out_of_it(table):
    clock = Clock(START + 59)
    LookupThrottle(table, clock=clock).take(budgets_of(CALLER, LIMITS), 300)
    clock.at = START + 60 + 30  # half of the spent minute is still inside the window: about 150 hashes of room

    throttle = LookupThrottle(table, clock=clock)
    throttle.take(budgets_of(CALLER, LIMITS), 140)
    with pytest.raises(Throttled):
        throttle.take(budgets_of(CALLER, LIMITS), 20)


def test_the_day_caps_what_the_minutes_allow(table):
    clock = Clock(START)
    throttle = LookupThrottle(table, clock=clock)
    limits = Limits(per_minute=300, per_day=500, account_per_minute=1_000)
    throttle.take(budgets_of(CALLER, limits), 300)
    clock.at += 120  # two minutes on: the minute is free again, the day is not
    throttle.take(budgets_of(CALLER, limits), 200)

    with pytest.raises(Throttled) as throttled:
        throttle.take(budgets_of(CALLER, limits), 1)

    assert throttled.value.budget == "caller per day"


def test_every_session_and_federated_name_of_one_principal_shares_its_budget():
    sessions = [Caller.from_arn(f"arn:aws:sts::210987654321:assumed-role/partner/session-{n}") for n in range(3)]
    federated = [Caller.from_arn(f"arn:aws:sts::210987654321:federated-user/name-{n}") for n in range(3)]

    assert len({caller.principal for caller in sessions}) == 1
    assert {caller.principal for caller in federated} == {"arn:aws:sts::210987654321:federated-user/*"}


def test_the_accounts_budget_holds_back_its_roles_together(table):
    throttle = LookupThrottle(table, clock=Clock(START))
    limits = Limits(per_minute=300, per_day=20_000, account_per_minute=400)
    throttle.take(budgets_of(CALLER, limits), 300)
    another_role = Caller.from_arn("arn:aws:sts::210987654321:assumed-role/partner-batch/s")

    with pytest.raises(Throttled) as throttled:
        throttle.take(budgets_of(another_role, limits), 200)

    assert throttled.value.budget == "account per minute"


def test_a_refused_caller_is_refused_again_without_a_call_to_dynamodb(table):
    throttle = LookupThrottle(table, clock=Clock(START + 15))
    throttle.take(budgets_of(CALLER, LIMITS), 300)
    with pytest.raises(Throttled):
        throttle.take(budgets_of(CALLER, LIMITS), 1)

    with Stubber(table.meta.client):  # any call to DynamoDB now would fail: none is made
        with pytest.raises(Throttled):
            throttle.take(budgets_of(CALLER, LIMITS), 1)


def test_a_request_larger_than_a_whole_budget_is_refused_without_a_call(table):
    with Stubber(table.meta.client):
        with pytest.raises(Throttled):
            LookupThrottle(table, clock=Clock(START)).take([Budget(CALLER.principal, 60, 5)], 6)


def test_retry_after_is_when_the_sliding_estimate_leaves_room():
    budget = Budget("p", 60, 300)

    assert retry_after(budget, START + 30, previous=0, current=300, hashes=1) == pytest.approx(30 + 60 * (1 - 299 / 300))
    assert retry_after(budget, START + 30, previous=300, current=0, hashes=150) == pytest.approx(0.0)
    assert retry_after(budget, START + 15, previous=300, current=0, hashes=150) == pytest.approx(15.0)


def test_other_dynamodb_errors_are_not_throttling(table):
    # moto never throttles: botocore's Stubber answers in its place.
    with Stubber(table.meta.client) as stub:
        stub.add_response("batch_get_item", {"Responses": {"lookup-throttle": []}})
        stub.add_client_error("transact_write_items", "ProvisionedThroughputExceededException")

        with pytest.raises(Exception) as raised:
            LookupThrottle(table, clock=Clock(START)).take(budgets_of(CALLER, LIMITS), 1)

    assert not isinstance(raised.value, Throttled)
