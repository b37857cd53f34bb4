"""The lookup API's budgets in DynamoDB: sliding windows of hashes per holder, all of a request's budgets spent in one transaction.

Table layout (partition key caller, sort key window):
  caller=<holder>#<window seconds>, window=<windows since the epoch>   hashes: spent in that window
                                                                        expires_at: TTL, a window after it ends
A holder is a caller's principal (a role, an IAM user, or every federated user of an account) or an
account (hashmatch.usecases.look_up_hashes.budgets_of). A budget is a sliding window, estimated as
sliding-window counters are: the previous window's count weighted by the share of it still inside the
window ending now, plus the current window's. A request spends its hash count in every budget it is
charged to or in none (TransactWriteItems, each update conditional on the estimate staying within the
limit), so concurrent requests cannot overdraw one and a refused request spends nothing.

Hashes are counted, not requests: an oracle is tuned by trying many variants, and one request of 100
hashes tries as many as 100 requests of one. A refusal is remembered in the container until the
earliest moment a one-hash request could fit: a burst of refused requests costs no DynamoDB call and
almost no time, so it takes little of the function's reserved concurrency from good callers.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import error_code
from hashmatch.usecases.look_up_hashes import Budget, Spent, Throttled

# Items outlive their window by this much before DynamoDB's TTL removes them (the next window reads them).
KEEP_WINDOWS = 1


class LookupThrottle:
    """Sliding-window budgets in the throttle table (a boto3 DynamoDB Table resource)."""

    def __init__(self, table, clock: Callable[[], float] = time.time):
        self.table = table
        self.clock = clock
        self._refused: dict[tuple[str, int], tuple[float, int]] = {}  # (holder, window seconds) -> (until when, limit), per container

    def take(self, budgets: list[Budget], hashes: int) -> Spent:
        """Spend `hashes` of every budget, or Throttled (nothing spent) naming the first that does not hold them."""
        now = self.clock()
        for budget in budgets:
            if hashes > budget.limit:
                raise Throttled(_seconds(budget.window_seconds), budget.limit, budget.name)
            refused = self._refused.get((budget.holder, budget.window_seconds))
            if refused is not None and now < refused[0]:
                raise Throttled(_seconds(refused[0] - now), budget.limit, budget.name)
        counts = self._counts(budgets, now)
        updates = []
        for budget in budgets:
            window, share_left = divmod(now, budget.window_seconds)
            previous, current = counts[_item_key(budget, int(window) - 1)], counts[_item_key(budget, int(window))]
            carried = math.ceil(previous * (1 - share_left / budget.window_seconds))
            room = budget.limit - hashes - carried
            if room < 0 or current > room:
                raise self._refuse(budget, now, previous, current, hashes)
            updates.append((budget, room))
        try:
            self.table.meta.client.transact_write_items(TransactItems=[self._update(budget, room, hashes, now) for budget, room in updates])
        except ClientError as error:
            if error_code(error) != "TransactionCanceledException":
                raise
            # Another request spent in between: the budget whose condition failed refuses this one.
            reasons = error.response.get("CancellationReasons") or []
            failed = next((budget for (budget, _room), reason in zip(updates, reasons) if reason.get("Code") == "ConditionalCheckFailed"), updates[0][0])
            counts = self._counts([failed], now)
            window = int(now // failed.window_seconds)
            raise self._refuse(failed, now, counts[_item_key(failed, window - 1)], counts[_item_key(failed, window)], hashes) from None
        first = budgets[0]
        window, share_left = divmod(now, first.window_seconds)
        estimate = math.ceil(counts[_item_key(first, int(window) - 1)] * (1 - share_left / first.window_seconds)) + counts[_item_key(first, int(window))] + hashes
        return Spent(estimate, first.limit)

    def _counts(self, budgets: list[Budget], now: float) -> dict[tuple[str, int], int]:
        """The hashes spent in each budget's current and previous window (0 where there is no item), in one BatchGetItem."""
        keys = []
        for budget in budgets:
            window = int(now // budget.window_seconds)
            keys += [_item_key(budget, window - 1), _item_key(budget, window)]
        found = {key: 0 for key in keys}
        request = {self.table.name: {"Keys": [{"caller": caller, "window": window} for caller, window in keys], "ConsistentRead": True}}
        while request:
            answer = self.table.meta.client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self.table.name, []):
                found[(item["caller"], int(item["window"]))] = int(item.get("hashes", 0))
            request = answer.get("UnprocessedKeys") or None
        return found

    def _update(self, budget: Budget, room: int, hashes: int, now: float) -> dict:
        caller, window = _item_key(budget, int(now // budget.window_seconds))
        return {
            "Update": {
                "TableName": self.table.name,
                "Key": {"caller": caller, "window": window},
                "UpdateExpression": "ADD hashes :cost SET expires_at = if_not_exists(expires_at, :expires)",
                "ConditionExpression": "attribute_not_exists(hashes) OR hashes <= :room",
                "ExpressionAttributeValues": {":cost": hashes, ":room": room, ":expires": (window + 1 + KEEP_WINDOWS) * budget.window_seconds},
            }
        }

    def _refuse(self, budget: Budget, now: float, previous: int, current: int, hashes: int) -> Throttled:
        """The refusal of `hashes` by this budget, remembered until a one-hash request could fit (nothing else changes it but spending)."""
        earliest = now + retry_after(budget, now, previous, current, 1)
        self._refused[(budget.holder, budget.window_seconds)] = (earliest, budget.limit)
        return Throttled(_seconds(retry_after(budget, now, previous, current, hashes)), budget.limit, budget.name)


def retry_after(budget: Budget, now: float, previous: int, current: int, hashes: int) -> float:
    """Seconds until the sliding window's estimate leaves room for `hashes`, nothing more being spent meanwhile."""
    size = budget.window_seconds
    share_left = (now % size) / size
    room = budget.limit - hashes
    if (1 - share_left) * previous + current <= room:
        return 0.0
    # Later in this window the previous one weighs less: the estimate falls to `room` at share 1 - (room - current) / previous.
    if previous > 0 and current <= room:
        return (1 - (room - current) / previous - share_left) * size
    # In the next window this one is the previous: its weight falls from 1 to 1 - room / current.
    return (1 - share_left) * size + max(0.0, 1 - room / current) * size


def _item_key(budget: Budget, window: int) -> tuple[str, int]:
    return f"{budget.holder}#{budget.window_seconds}", window


def _seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
