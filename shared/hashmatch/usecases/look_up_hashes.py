"""Looking up hashes: the lookup API's use case. Who asks, what they ask, whether their budget holds it, and the answer.

The answer is the matcher's own (matching/lookup.py): the same snapshot, stages and threshold. Only
sessions of the labels roles of the stack's own account see labels, sources and distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from hashmatch.callers import Caller
from hashmatch.matching.lookup import MAX_HASHES_PER_REQUEST, LookupRequestError, look_up, parse_request
from hashmatch.usecases.check_upload import HashSetSource
from hashmatch.usecases.ports import Log, Metrics


@dataclass(frozen=True)
class Budget:
    """One budget a request is charged to: hashes `holder` may look up within any `window_seconds` (a sliding window)."""

    holder: str  # the caller's principal (budgets_of), or "account:<id>"
    window_seconds: int
    limit: int

    @property
    def name(self) -> str:
        per = {60: "minute", 86400: "day"}.get(self.window_seconds, f"{self.window_seconds} s")
        return f"{'account' if self.holder.startswith(ACCOUNT_HOLDER) else 'caller'} per {per}"


ACCOUNT_HOLDER = "account:"


class Throttled(RuntimeError):
    """A budget the request is charged to does not hold it (429): nothing was spent."""

    def __init__(self, retry_after: int, limit: int, budget: str = "caller per minute"):
        super().__init__(f"more than {limit} hashes ({budget}): retry in {retry_after} s")
        self.retry_after = retry_after
        self.limit = limit
        self.budget = budget


@dataclass(frozen=True)
class Spent:
    hashes: int  # in the caller's minute, this request included
    limit: int


class Throttle(Protocol):
    """Sliding-window budgets (hashmatch.aws.lookup_throttle.LookupThrottle)."""

    def take(self, budgets: list[Budget], hashes: int) -> Spent:
        """Spend `hashes` of every budget at once, or of none: Throttled when one does not hold them."""


@dataclass(frozen=True)
class Limits:
    """The lookup API's budgets: per caller (a role, an IAM user, or the federated users of an account together) per minute
    and per day, and per account per minute, so that no one account's callers take every execution meant for the others."""

    per_minute: int
    per_day: int
    account_per_minute: int


def budgets_of(caller: Caller, limits: Limits) -> list[Budget]:
    """What a caller's request is charged to: its principal's minute and day, and its account's minute."""
    return [
        Budget(caller.principal, 60, limits.per_minute),
        Budget(caller.principal, 86400, limits.per_day),
        Budget(f"{ACCOUNT_HOLDER}{caller.account}", 60, limits.account_per_minute),
    ]


class LookupOutcome(StrEnum):
    ANSWERED = "answered"
    FORBIDDEN = "forbidden"  # the request carries no IAM identity
    BAD_REQUEST = "bad-request"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class LookupReply:
    outcome: LookupOutcome
    body: dict
    headers: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Looker:
    """What a lookup needs: the matcher's hash set, the budgets, and who may see labels."""

    hash_set: HashSetSource
    throttle: Throttle
    limits: Limits
    labels_roles: frozenset[str]
    own_account: str
    log: Log
    metrics: Metrics

    @property
    def request_limit(self) -> int:
        """Hashes one request may hold: a request larger than a caller's whole minute could never pass, so it is refused as bad."""
        return min(MAX_HASHES_PER_REQUEST, self.limits.per_minute, self.limits.per_day, self.limits.account_per_minute)


def look_up_hashes(caller: Caller | None, body: str | None, looker: Looker) -> LookupReply:
    """A signed call's lookup request, answered per hash; or refused, naming why."""
    metrics, log = looker.metrics, looker.log
    if caller is None:
        metrics.count("LookupsForbidden")
        return LookupReply(LookupOutcome.FORBIDDEN, {"error": "forbidden", "reason": "the request carries no IAM identity (sign it with SigV4, service lambda)"})
    try:
        request = parse_request(body or "", looker.request_limit)
    except LookupRequestError as error:
        metrics.count("LookupsRefused")
        log.info("bad lookup request", caller=caller.arn, problems=error.problems[:10])
        return LookupReply(LookupOutcome.BAD_REQUEST, {"error": "bad request", "reason": str(error)[:2000], "problems": error.problems[:50]})
    try:
        # Charged before any work: a refused request costs no hash-set load and no search.
        spent = looker.throttle.take(budgets_of(caller, looker.limits), request.size)
    except Throttled as throttled:
        metrics.count("LookupsThrottled")
        log.info("lookup throttled", caller=caller.arn, principal=caller.principal, hashes=request.size, limit=throttled.limit, budget=throttled.budget)
        body = {"error": "too many hashes", "reason": str(throttled), "retry_after": throttled.retry_after}
        return LookupReply(LookupOutcome.THROTTLED, body, {"Retry-After": str(throttled.retry_after)})
    loaded = looker.hash_set.get()
    found = look_up(request, loaded.matcher, loaded.describe)
    with_labels = caller.is_role_session_of(looker.own_account, looker.labels_roles)
    matched = sum(answer.match for answers in found.answers.values() for answer in answers)
    metrics.count("HashesLookedUp", request.size)
    metrics.count("HashesMatched", matched)
    # Who asked about what is kept in the log: the hashes and the caller, never labels.
    log.info("lookup", caller=caller.arn, principal=caller.principal, labels_shown=with_labels, hashes=request.size, matched=matched, spent_this_minute=spent.hashes, hash_set_version=loaded.version, hash_set_source=looker.hash_set.source)
    return LookupReply(LookupOutcome.ANSWERED, found.to_dict(with_labels))
