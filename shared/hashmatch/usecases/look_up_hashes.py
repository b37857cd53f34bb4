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


class Throttled(RuntimeError):
    """The caller's budget for this minute does not hold the request (429)."""

    def __init__(self, retry_after: int, limit: int):
        super().__init__(f"more than {limit} hashes this minute: retry in {retry_after} s")
        self.retry_after = retry_after
        self.limit = limit


@dataclass(frozen=True)
class Spent:
    hashes: int  # this minute, this request included
    limit: int


class Throttle(Protocol):
    """Per-caller budgets (hashmatch.aws.lookup_throttle.LookupThrottle)."""

    def take(self, caller: str, hashes: int) -> Spent:
        """Spend `hashes` of the caller's budget; Throttled (nothing spent) when they do not fit."""


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
    hashes_per_minute: int
    labels_roles: frozenset[str]
    own_account: str
    log: Log
    metrics: Metrics

    @property
    def request_limit(self) -> int:
        """Hashes one request may hold: a request larger than a caller's whole minute could never pass, so it is refused as bad."""
        return min(MAX_HASHES_PER_REQUEST, self.hashes_per_minute)


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
        spent = looker.throttle.take(caller.principal, request.size)
    except Throttled as throttled:
        metrics.count("LookupsThrottled")
        log.info("lookup throttled", caller=caller.arn, principal=caller.principal, hashes=request.size, limit=throttled.limit)
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
