"""Syncing the configured exchanges: each fetched from its checkpoint, its entries held with their provenance, its deletions applied.

Nothing lost, nothing twice. A page's entries and withdrawals are written before its checkpoint,
and both writes are idempotent (an entry's provenance is keyed by the exchange's name and the
exchange's own id for the hash, and written only when it changed): a run stopped anywhere (a
server error mid-fetch, the deadline) resumes from the last page it kept, and the page it had not
kept comes again and lands once.

Faults, each exchange on its own (one failing leaves the others to sync):
- rate limited (HTTP 429): wait what Retry-After asks (DEFAULT_WAIT_SECONDS without one, at most
  MAX_WAIT_SECONDS, never past the run's deadline) and resume from the checkpoint, at most
  RATE_LIMIT_ATTEMPTS times a run;
- unavailable (a server error after the client's own retries, no answer, an answer of another
  shape): stop this exchange for this run; its status says why, the next run resumes;
- a malformed record: counted, its reason kept (the first few), skipped.

A list exchange's page is the whole list (`complete`): the entries it held before and does not now
are withdrawn. Feedback an operator gave on its hashes is sent after the fetch (where the
exchange takes it), and stays pending when sending fails.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.exchanges.model import (
    ExchangeClient,
    ExchangeConfig,
    ExchangeError,
    ExchangeRateLimited,
    Feedback,
    FeedbackNotSupported,
    Fetched,
    Ignored,
    Malformed,
    Page,
    Withdrawn,
)
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.vocabulary import Action

RATE_LIMIT_ATTEMPTS = 5
DEFAULT_WAIT_SECONDS = 5.0
MAX_WAIT_SECONDS = 120.0
MALFORMED_EXAMPLES = 5  # reasons of malformed records kept in the status


@dataclass(frozen=True)
class HoldReport:
    added: int = 0  # provenances new to the hash set
    updated: int = 0  # provenances the exchange changed (labels, opinion, ...)
    unchanged: int = 0  # fetched again as they were (a resumed page, a re-run)


@dataclass(frozen=True)
class PendingFeedback:
    """An operator's verdict on one listed hash of an exchange, waiting to be sent."""

    key: str  # where the store keeps it
    entry_id: str
    feedback: Feedback
    provenance: dict  # the exchange's provenance of the hash (its id, descriptors)
    matches: int  # uploads the hash matched, as the matcher counted them


class ExchangeStore(Protocol):
    """The exchanges' configuration and state (hashmatch.aws.exchanges.ExchangeTable)."""

    def exchanges(self) -> list[ExchangeConfig]: ...

    def checkpoint(self, name: str) -> str | None: ...

    def save_checkpoint(self, name: str, checkpoint: str | None) -> None: ...

    def members(self, name: str) -> set[tuple[str, str, str]]:
        """What a list exchange held after its last fetch: (signal type, hash, source id) of each provenance."""

    def save_members(self, name: str, added: Iterable[tuple[str, str, str]], removed: Iterable[tuple[str, str, str]]) -> None: ...

    def record_run(self, name: str, outcome: "SyncOutcome") -> None: ...

    def pending_feedback(self, name: str) -> list[PendingFeedback]: ...

    def feedback_done(self, name: str, pending: PendingFeedback, result: str, sent: bool) -> None: ...


class HeldEntries(Protocol):
    """The hash set's entries, as an exchange changes them (hashmatch.aws.hash_set.exchange_entries.ExchangeEntries)."""

    def hold(self, fetched: Sequence[Fetched], action: Action) -> HoldReport: ...

    def withdraw(self, source: str, withdrawn: Sequence[Withdrawn]) -> int:
        """Remove these hashes' provenances from `source` (only the one of the given exchange id, when given); how many went."""


@dataclass(frozen=True)
class Syncer:
    """What syncing needs: the exchanges' store, the hash set, a client per exchange (with its credentials), and how long it may run."""

    store: ExchangeStore
    entries: HeldEntries
    client_for: Callable[[ExchangeConfig], ExchangeClient]
    log: Log
    metrics: Metrics
    clock: Clock = SYSTEM_CLOCK
    sleep: Callable[[float], None] = time.sleep


@dataclass
class SyncOutcome:
    """What one exchange's sync did, kept as its status (`hashmatch admin exchange status`)."""

    exchange: str
    status: str = "running"  # ok, unchanged, failed, stopped (the deadline)
    pages: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    ignored: int = 0
    malformed: int = 0
    malformed_examples: list[str] = field(default_factory=list)
    rate_limited: int = 0  # waits for the exchange's rate limit
    feedback_sent: int = 0
    error: str | None = None
    started_at: str = ""
    finished_at: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class _Deadline(Exception):
    pass


def sync_exchanges(syncer: Syncer, names: Sequence[str] | None = None, deadline: float | None = None) -> list[SyncOutcome]:
    """Sync every enabled exchange (or the ones named), in turn, until `deadline` (the clock's monotonic seconds)."""
    configs = [config for config in syncer.store.exchanges() if (names is None and config.enabled) or (names is not None and config.name in names)]
    unknown = sorted(set(names or ()) - {config.name for config in configs})
    if unknown:
        raise KeyError(f"no exchange named {', '.join(unknown)}")
    return [sync_exchange(config, syncer, deadline) for config in configs]


def sync_exchange(config: ExchangeConfig, syncer: Syncer, deadline: float | None = None) -> SyncOutcome:
    """Fetch one exchange from its checkpoint, hold and withdraw what it says, page by page; then send its pending feedback."""
    outcome = SyncOutcome(config.name, started_at=syncer.clock.now())
    try:
        client = syncer.client_for(config)
        _fetch(config, client, syncer, outcome, deadline)
        if outcome.status == "running":
            outcome.status = "ok" if outcome.pages else "unchanged"
            _send_feedback(config, client, syncer, outcome)
    except _Deadline:
        outcome.status = "stopped"
        outcome.error = "the run's time ran out: the next run resumes from the checkpoint"
    except (ExchangeError, ValueError) as error:  # ValueError: credentials or configuration it cannot use
        outcome.status, outcome.error = "failed", str(error)
    outcome.finished_at = syncer.clock.now()
    syncer.store.record_run(config.name, outcome)
    _observe(outcome, syncer)
    return outcome


def _fetch(config: ExchangeConfig, client: ExchangeClient, syncer: Syncer, outcome: SyncOutcome, deadline: float | None) -> None:
    while True:
        try:
            for page in client.pages(syncer.store.checkpoint(config.name)):
                _apply(config, page, syncer, outcome)
                if deadline is not None and syncer.clock.monotonic() > deadline:
                    raise _Deadline()
            return
        except ExchangeRateLimited as limited:
            outcome.rate_limited += 1
            wait = min(limited.retry_after if limited.retry_after is not None else DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS)
            if outcome.rate_limited > RATE_LIMIT_ATTEMPTS:
                raise ExchangeRateLimited(f"{limited} {outcome.rate_limited} times in this run: the next run resumes") from None
            if deadline is not None and syncer.clock.monotonic() + wait > deadline:
                raise _Deadline() from None
            syncer.log.info("exchange rate limited: waiting, then resuming from the checkpoint", exchange=config.name, seconds=wait)
            syncer.sleep(wait)


def _apply(config: ExchangeConfig, page: Page, syncer: Syncer, outcome: SyncOutcome) -> None:
    """One page into the hash set, then its checkpoint (so a page is kept whole or fetched again)."""
    if page.unchanged:
        return
    fetched = [record for record in page.records if isinstance(record, Fetched)]
    withdrawn = [record for record in page.records if isinstance(record, Withdrawn)]
    for record in page.records:
        if isinstance(record, Malformed):
            outcome.malformed += 1
            if len(outcome.malformed_examples) < MALFORMED_EXAMPLES:
                outcome.malformed_examples.append(f"{record.reason}: {record.record}")
        elif isinstance(record, Ignored):
            outcome.ignored += 1
    held = syncer.entries.hold(fetched, config.action)
    removed = syncer.entries.withdraw(config.name, withdrawn)
    if page.complete:
        present = {_member(record) for record in fetched}
        before = syncer.store.members(config.name)
        gone = before - present
        removed += syncer.entries.withdraw(config.name, [Withdrawn(kind, hash_value, source_id or None) for kind, hash_value, source_id in sorted(gone)])
        syncer.store.save_members(config.name, present - before, gone)
    syncer.store.save_checkpoint(config.name, page.checkpoint)
    outcome.pages += 1
    outcome.added += held.added
    outcome.updated += held.updated
    outcome.unchanged += held.unchanged
    outcome.withdrawn += removed


def _member(record: Fetched) -> tuple[str, str, str]:
    entry = record.entry
    return (str(entry.signal_type), getattr(entry, "digest", None) or entry.hash, entry.source_id or "")


def _send_feedback(config: ExchangeConfig, client: ExchangeClient, syncer: Syncer, outcome: SyncOutcome) -> None:
    for pending in syncer.store.pending_feedback(config.name):
        try:
            sent = client.send_feedback(pending.provenance, pending.feedback, pending.matches)
        except FeedbackNotSupported as error:
            syncer.store.feedback_done(config.name, pending, f"recorded here only: {error}", sent=False)
        except ExchangeError as error:
            syncer.log.warning("feedback not sent: left pending for the next run", exchange=config.name, entry_id=pending.entry_id, error=str(error))
        else:
            syncer.store.feedback_done(config.name, pending, f"sent: {sent}", sent=True)
            outcome.feedback_sent += 1


def _observe(outcome: SyncOutcome, syncer: Syncer) -> None:
    metrics, name = syncer.metrics, outcome.exchange
    metrics.count("ExchangeSyncs")
    metrics.count("ExchangeEntriesAdded", outcome.added, dimension=("exchange", name))
    metrics.count("ExchangeEntriesWithdrawn", outcome.withdrawn, dimension=("exchange", name))
    metrics.count("ExchangeRecordsMalformed", outcome.malformed, dimension=("exchange", name))
    if outcome.status == "failed":
        metrics.count("ExchangeSyncsFailed", dimension=("exchange", name))
        syncer.log.error("exchange sync failed", **outcome.to_dict())
    else:
        syncer.log.info("exchange synced", **outcome.to_dict())
