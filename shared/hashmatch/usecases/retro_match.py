"""Retro-match as a use case: when references or hash-list entries are added, find the logged uploads they match
and publish each match once, by the rule the live matcher follows (check_upload.match_publication: the sources' policies, the rule, flood protection).

Publishing once: a retro-match's match_id comes from the upload and the matched items
(upload_log.retro_match.retro_match_id), and an audit record `retro:<match_id>` / retro-matched is
written after the message is published. A run that finds that record publishes nothing; a crash
between the publish and the record publishes again on the next run (at least once), which the
takedown absorbs (one takedown record per upload).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Iterable, Protocol

from hashmatch.audit import AuditEvent, AuditTrail
from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.hash_set.snapshot import HashSetChanges
from hashmatch.matching.assembly import KnownItemMatch
from hashmatch.messages.building import match_message
from hashmatch.messages.hashes import HashesMessage
from hashmatch.messages.models import MatchMessage
from hashmatch.uploads import Upload
from hashmatch.upload_log.retro_match import QueryEngine, RetroMatch, RetroMatchRun, retro_match, retro_match_id
from hashmatch.usecases.check_upload import Publication, floods_reported, match_publication, retro_record_id
from hashmatch.usecases.match_policy import NO_POLICY, MatchPolicy
from hashmatch.usecases.ports import Log, Metrics


class HashSetReader(Protocol):
    """The hash-set table, read for the state now of some keys (hashmatch.aws.hash_set.table.HashSetTable)."""

    def current(self, keys: Iterable[str]) -> HashSetChanges: ...


class MatchPublisher(Protocol):
    def publish(self, message: MatchMessage) -> str:
        """Publish one match message; returns its message id."""


@dataclass(frozen=True)
class RetroMatcher:
    """What a retro-match run needs: the table, the log's query engine (by the first day it must hold), the trail and the topic."""

    hash_set: HashSetReader
    engine_for: Callable[[str], QueryEngine]
    audit: AuditTrail
    topic: MatchPublisher
    pdq_threshold: int
    window_days: int
    log: Log
    metrics: Metrics
    clock: Clock = SYSTEM_CLOCK
    policy: MatchPolicy = NO_POLICY  # the sources' policies and flood protection, as the live matcher's


@dataclass
class RetroOutcome:
    """What one run found and did; every logged candidate the rule left alone is counted by why."""

    references: list[str] = field(default_factory=list)  # the keys searched for
    run_id: str | None = None
    candidates: int = 0
    matched: int = 0
    published: list[str] = field(default_factory=list)  # match ids
    left: dict[str, int] = field(default_factory=dict)  # Publication value -> uploads

    def to_dict(self) -> dict:
        """The function's answer (an operator's `aws lambda invoke` prints it)."""
        answer = {"references": len(self.references), "published": self.published}
        if self.run_id is None:
            return answer
        return {
            **answer,
            "run_id": self.run_id,
            "candidates": self.candidates,
            "matched": self.matched,
            "already_published": self.left.get(Publication.ALREADY_PUBLISHED, 0),
            "skipped_matched_live": self.left.get(Publication.MATCHED_LIVE, 0),
            "skipped_taken_down": self.left.get(Publication.TAKEN_DOWN, 0),
            "skipped_exempted": self.left.get(Publication.EXEMPTED, 0),
        }


def first_day(window_days: int, today: date) -> str:
    """The first log day (dt) a retro-match searches: `window_days` days back, today included."""
    return (today - timedelta(days=max(window_days - 1, 0))).isoformat()


def run_retro_match(keys: Iterable[str], retro: RetroMatcher) -> RetroOutcome:
    """Search the log for uploads the items under these keys match now, and publish each match the rule lets through.
    Any exception fails the run; a retry runs the same query and publishes only what was not yet published."""
    keys = list(keys)
    states = [state for state in retro.hash_set.current(keys).changed.values() if state is not None] if keys else []
    if not states:
        retro.log.info("retro-match: nothing to search for", references=keys)
        return RetroOutcome()
    since_day = first_day(retro.window_days, retro.clock.utc().date())
    started = time.perf_counter()
    run = retro_match(retro.engine_for(since_day), states, since_day, retro.pdq_threshold)
    outcome = RetroOutcome([state.key for state in states], run.run_id, run.candidates, len(run.matches))
    for found in run.matches:
        _publish_one(run, found, retro, outcome)
    seconds = round(time.perf_counter() - started, 3)
    retro.metrics.count("RetroMatchRuns")
    retro.metrics.count("RetroMatchesPublished", len(outcome.published))
    retro.metrics.seconds("RetroMatchSeconds", seconds)
    retro.log.info("retro-match done", since_day=since_day, seconds=seconds, **outcome.to_dict(), searched=outcome.references)
    return outcome


def _publish_one(run: RetroMatchRun, found: RetroMatch, retro: RetroMatcher, outcome: RetroOutcome) -> None:
    logged = found.logged
    upload = Upload.from_dict(logged.upload)
    keys = [key for key, _ in found.matches]
    match_id = retro_match_id(upload.upload_id, keys)
    if not upload.is_object:
        outcome.left[Publication.NOT_AN_OBJECT] = outcome.left.get(Publication.NOT_AN_OBJECT, 0) + 1
        return
    matches = [KnownItemMatch(run.snapshot.describe(key), verdict) for key, verdict in found.matches]
    decided = match_publication(retro.audit, upload, logged.hashes.sha256, matches, retro.policy, retro_match_id=match_id)
    if decided.publication != Publication.PUBLISH:
        outcome.left[decided.publication] = outcome.left.get(decided.publication, 0) + 1
        return
    floods_reported(decided.switched, retro.log, retro.metrics)
    request = HashesMessage(upload, logged.hashes, logged.hashed_at or logged.checked_at)
    message = match_message(request, list(decided.matches), match_id, retroactive=True)
    message_id = retro.topic.publish(message)
    retro.audit.record(retro_record_id(match_id), AuditEvent.RETRO_MATCHED, upload=upload.upload_id, references=keys, sns_message_id=message_id, run_id=run.run_id, published_at=retro.clock.now())
    # On the upload's own record too (the first match of it only): a later run weighs an escalation against it, and a
    # restore of the upload's hold is refused while it stands (restore_upload.AlsoMatched).
    retro.audit.record(upload.upload_id, AuditEvent.MATCHED, match_id=match_id, action=message.action, sns_message_id=message_id, references=keys, retroactive=True)
    outcome.published.append(match_id)


class ItemChange(Protocol):
    """One change of a hash-set item, as the table's stream tells it (hashmatch.aws.hash_set.table.StreamChange)."""

    event: str  # "INSERT", "MODIFY" or "REMOVE"
    key: str  # the reference's or hash-list entry's key
    allow_mark: bool  # the item is an allow-list mark (not the entry itself)
    bookkeeping: bool  # the hash set's own (its version counter), never a reference


def retro_match_keys(changes: Iterable[ItemChange]) -> list[str]:
    """The keys a batch of hash-set changes asks retro-match to search for: items added or changed (a new entry, a
    reference re-added, an entry's action raised to quarantine by another source) and allow-list marks lifted (the
    entry matches again). A removed reference or entry matches nothing, so its removal starts no search; an allow
    mark added only suppresses matches."""
    keys = set()
    for change in changes:
        if change.bookkeeping:
            continue
        if change.allow_mark and change.event != "REMOVE":
            continue
        if change.event in ("INSERT", "MODIFY") or change.allow_mark:
            keys.add(change.key)
    return sorted(keys)
