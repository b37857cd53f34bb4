"""Deciding on what a person must look at: the decisions a reviewer takes on a review item (usecases/review_queue.py).

A decision (confirm, release, false positive, escalate) is taken on the upload's audit trail as
the reviewer saw it: its version is the trail's number of records (the trail is append-only, so
any record written since, by the pipeline or another reviewer, makes it another). The decision is
written first, once per version (audit.review_event, a conditional write), and only then carried
out; so of two reviewers who saw the same trail only the first decides, and the second is told who
did. The same decision sent twice by the same reviewer (a double click, a retry) is carried out
once: its effects (takedown, restore, allow-list, exemption) are each idempotent, and the second
answer says it was decided already.

What each decision does:
  confirm         the takedown proceeds (take_down, for a review match still online) or stays (a held upload)
  release         a quarantined upload restored, through the stack's restore URL signed as the reviewer (the audit's
                  requested_by is who signed), with the exemption's scope; an upload still online is left there
  false positive  the matched hash-list entries go on the allow-list; the bytes matched to a known media reference
                  are exempted everywhere (that reference stays); a quarantined upload is restored
  escalate        recorded; the item stays open, marked escalated, for someone else to decide
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol, Sequence

from hashmatch.audit import AuditEvent, AuditTrail, ExemptionScope, is_review_event
from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.uploads import Upload
from hashmatch.usecases.restore_upload import RestoreAnswer, RestoreOutcome
from hashmatch.usecases.review_queue import ItemStatus, ReviewItem, is_listed_entry, message_id
from hashmatch.usecases.take_down import Quarantine, TakedownOutcome, take_down
from hashmatch.vocabulary import ListedSignal, TakedownMode


class Decision(StrEnum):
    CONFIRM = "confirm"
    RELEASE = "release"
    FALSE_POSITIVE = "false-positive"
    ESCALATE = "escalate"


class DecisionOutcome(StrEnum):
    DECIDED = "decided"  # recorded and carried out
    ALREADY_DECIDED = "already-decided"  # the same decision by the same reviewer, sent again: carried out once
    STALE = "stale"  # the item changed since the reviewer looked (someone decided first, or the pipeline acted): refused
    NOT_APPLICABLE = "not-applicable"  # not a decision this item takes now (a false positive of a hold without a match, ...)
    FAILED = "failed"  # recorded, but carrying it out was refused (a restore refused): the item stays open, `detail` says why
    NOT_FOUND = "not-found"  # no such item in the queue


# ---------------------------------------------------------------- the trail an item is decided on


def trail_version(trail: Sequence[dict]) -> int:
    """The version of an upload's audit trail: its number of records (append-only, so it only grows)."""
    return len(trail)


@dataclass(frozen=True)
class TrailState:
    """What the upload's trail says about where it is now."""

    taken_down: dict | None  # the takedown record: quarantined (or held) into the evidence bucket
    restored: dict | None
    reviewed_by_takedown: dict | None  # TakedownMode review-only: recorded and left in place

    @classmethod
    def of(cls, trail: Sequence[dict]) -> "TrailState":
        events = {record["event"]: record for record in trail}
        return cls(events.get(AuditEvent.TAKEDOWN.value), events.get(AuditEvent.RESTORED.value), events.get(AuditEvent.REVIEW.value))

    @property
    def quarantined(self) -> bool:
        """Kept in the evidence bucket and not online: taken down and not restored since."""
        return self.taken_down is not None and self.restored is None


def applicable(item: ReviewItem, trail: Sequence[dict]) -> dict[Decision, str]:
    """The decisions this item does not take now, each with why (the desk greys them out); the others it takes."""
    state = TrailState.of(trail)
    refused: dict[Decision, str] = {}
    if item.match is None:
        refused[Decision.FALSE_POSITIVE] = "nothing matched: the upload was held because it could not be checked"
    if item.upload.bucket is None:
        refused[Decision.CONFIRM] = refused[Decision.RELEASE] = "a hash-only request: there is no object to take down or restore"
    if state.restored is not None:
        why = f"restored after a complaint ({state.restored.get('requested_by')}, {state.restored.get('recorded_at')}): revoke its exemption first"
        refused[Decision.CONFIRM] = why
    if item.hold is not None and state.taken_down is None and state.reviewed_by_takedown is None and item.match is None:
        # The takedown has not acted on the hold yet: released now, the upload would be quarantined a moment later.
        refused[Decision.RELEASE] = "the takedown has not acted on this hold yet: look again in a moment"
    return refused


# ---------------------------------------------------------------- deciding


class ReviewItems(Protocol):
    """The desk's review items (hashmatch.aws.review_table.ReviewTable)."""

    def get(self, upload_id: str) -> ReviewItem | None: ...

    def settle(self, upload_id: str, status: ItemStatus, decision: dict) -> None:
        """Record where the item's review stands after a decision (decided, escalated, or open after a failure)."""


class Releaser(Protocol):
    """The stack's restore URL, called as the reviewer (hashmatch_tools.review): the function checks who signed, and
    that identity is the restore record's requested_by."""

    def restore(self, upload_id: str, reason: str, scope: ExemptionScope) -> RestoreAnswer: ...


class AllowList(Protocol):
    """The hash set's allow-list (hashmatch.aws.hash_set.entries.HashListEntries)."""

    def allow(self, signal_type: ListedSignal | str, hash_hex: str, *, allowed_by: str, reason: str) -> None: ...


@dataclass(frozen=True)
class ReviewDesk:
    """What deciding needs: the items, the trail, the evidence bucket (a confirm's takedown), the restore URL and the allow-list."""

    items: ReviewItems
    audit: AuditTrail
    quarantine: Quarantine
    releaser: Releaser
    allow_list: AllowList
    clock: Clock = SYSTEM_CLOCK


@dataclass(frozen=True)
class DecisionRequest:
    """A reviewer's decision on an item, as they saw it (`seen_version`: the trail's version on their page)."""

    upload_id: str
    decision: Decision
    seen_version: int
    reviewer: str  # the reviewer's IAM identity (sts get-caller-identity's ARN), never a field of the page
    note: str = ""
    scope: ExemptionScope = ExemptionScope.UPLOAD  # a release's exemption: this upload's key, or these bytes anywhere


@dataclass(frozen=True)
class DecisionAnswer:
    outcome: DecisionOutcome
    detail: str = ""
    done: dict = field(default_factory=dict)  # what was carried out: the takedown's outcome, the restore record, the allowed entries


def decide(request: DecisionRequest, desk: ReviewDesk) -> DecisionAnswer:
    """Take a reviewer's decision on an item, once, unless the item changed under them (DecisionOutcome says how it ended)."""
    item = desk.items.get(request.upload_id)
    if item is None:
        return DecisionAnswer(DecisionOutcome.NOT_FOUND, f"{request.upload_id} is not in the review queue")
    trail = desk.audit.events(request.upload_id)
    earlier = desk.audit.review(request.upload_id, request.seen_version)
    if earlier is None:
        version = trail_version(trail)
        if version != request.seen_version:
            return DecisionAnswer(DecisionOutcome.STALE, f"the item changed since you looked: {_since(trail, request.seen_version)}; look again")
        refused = applicable(item, trail).get(request.decision)
        if refused:
            return DecisionAnswer(DecisionOutcome.NOT_APPLICABLE, refused)
        recorded = desk.audit.record_review(
            request.upload_id,
            request.seen_version,
            decision=request.decision.value,
            reviewer=request.reviewer,
            note=request.note or None,
            scope=request.scope.value if request.decision == Decision.RELEASE else None,
            kinds=[str(kind) for kind in item.kinds],
            messages=[message_id(message) for message in item.messages],
        )
        if recorded:
            return _carry_out(request, item, trail, desk, DecisionOutcome.DECIDED)
        # Another reviewer's decision on the same trail was written first.
        earlier = desk.audit.review(request.upload_id, request.seen_version)
    if earlier.get("decision") == request.decision and earlier.get("reviewer") == request.reviewer:
        # The same decision sent again: its effects are idempotent, so finishing it again is safe (a retry after a failure).
        return _carry_out(request, item, desk.audit.events(request.upload_id), desk, DecisionOutcome.ALREADY_DECIDED)
    return DecisionAnswer(DecisionOutcome.STALE, f"{earlier.get('reviewer')} decided {earlier.get('decision')} first ({earlier.get('recorded_at')})")


def _since(trail: Sequence[dict], seen_version: int) -> str:
    newer = sorted(trail, key=lambda record: record.get("recorded_at", ""))[seen_version:] if seen_version < len(trail) else []
    named = [f"{record.get('decision')} by {record.get('reviewer')}" if is_review_event(record["event"]) else record["event"] for record in newer]
    return ", ".join(named) or "its trail is shorter than the version you saw"


def _carry_out(request: DecisionRequest, item: ReviewItem, trail: Sequence[dict], desk: ReviewDesk, outcome: DecisionOutcome) -> DecisionAnswer:
    state = TrailState.of(trail)
    reason = f"review ({request.decision.value}) by {request.reviewer}" + (f": {request.note}" if request.note else "")
    if request.decision == Decision.CONFIRM:
        answer = _confirm(item, state, desk)
    elif request.decision == Decision.RELEASE:
        answer = _release(item, state, reason, request.scope, desk)
    elif request.decision == Decision.FALSE_POSITIVE:
        answer = _false_positive(item, state, reason, request.reviewer, desk)
    else:
        answer = DecisionAnswer(outcome, "escalated: the item stays open for someone else to decide")
    if answer.outcome == DecisionOutcome.FAILED:
        status = item.status
    else:
        status = ItemStatus.ESCALATED if request.decision == Decision.ESCALATE else ItemStatus.DECIDED
        answer = replace(answer, outcome=outcome)
    desk.items.settle(
        request.upload_id,
        status,
        {"decision": request.decision.value, "reviewer": request.reviewer, "decided_at": desk.clock.now(), "version": request.seen_version, "outcome": answer.outcome.value, "detail": answer.detail, "note": request.note or None},
    )
    return answer


def _confirm(item: ReviewItem, state: TrailState, desk: ReviewDesk) -> DecisionAnswer:
    if state.quarantined:
        return DecisionAnswer(DecisionOutcome.DECIDED, "it stays in the evidence bucket", {"takedown": state.taken_down.get("outcome")})
    # Still online (a review match, or a hold the takedown recorded review-only): the takedown proceeds now.
    done = take_down(item.match or item.hold, TakedownMode.QUARANTINE, desk.quarantine, desk.audit)
    if done in (TakedownOutcome.QUARANTINED, TakedownOutcome.HELD, TakedownOutcome.DUPLICATE):
        return DecisionAnswer(DecisionOutcome.DECIDED, "taken down: moved into the evidence bucket", {"takedown": done.value})
    if done == TakedownOutcome.GONE:
        return DecisionAnswer(DecisionOutcome.DECIDED, "the upload was already gone from its bucket (deleted or replaced)", {"takedown": done.value})
    return DecisionAnswer(DecisionOutcome.FAILED, f"the takedown refused: {done.value} (the object at the key is not the one matched)", {"takedown": done.value})


def _release(item: ReviewItem, state: TrailState, reason: str, scope: ExemptionScope, desk: ReviewDesk) -> DecisionAnswer:
    if state.restored is not None:
        return DecisionAnswer(DecisionOutcome.DECIDED, f"restored as {state.restored.get('restored_as')}", {"restore": state.restored})
    if not state.quarantined:
        return DecisionAnswer(DecisionOutcome.DECIDED, "left online: it was not taken down")
    return _restore(item, reason, scope, desk)


def _restore(item: ReviewItem, reason: str, scope: ExemptionScope, desk: ReviewDesk) -> DecisionAnswer:
    answer = desk.releaser.restore(item.upload_id, reason, scope)
    if answer.outcome == RestoreOutcome.RESTORED:
        return DecisionAnswer(DecisionOutcome.DECIDED, f"restored as {answer.body.get('restored_as')} ({scope.value} exemption)", {"restore": answer.body})
    return DecisionAnswer(DecisionOutcome.FAILED, f"the restore was refused ({answer.outcome.value}): {answer.body.get('reason') or answer.body.get('error') or ''}".rstrip(": "), {"restore": answer.body})


def _false_positive(item: ReviewItem, state: TrailState, reason: str, reviewer: str, desk: ReviewDesk) -> DecisionAnswer:
    allowed, exempted = [], False
    for entry in item.match.matches:
        if is_listed_entry(entry.reference_id):
            kind, _, value = entry.reference_id.partition(":")
            desk.allow_list.allow(kind, value, allowed_by=reviewer, reason=f"{reason} (source {entry.source})")
            allowed.append(entry.reference_id)
        else:
            exempted = True
    done: dict = {"allowed": allowed}
    if state.quarantined:
        restored = _restore(item, reason, ExemptionScope.BYTES if exempted else ExemptionScope.UPLOAD, desk)
        return replace(restored, detail=f"{', '.join(allowed) + ' allowed; ' if allowed else ''}{restored.detail}", done={**done, **restored.done})
    if exempted and item.sha256:
        # Known media stays in the hash set; these bytes are not it, wherever they are uploaded again.
        upload = Upload.from_dict(item.upload.model_dump())
        desk.audit.exempt(item.sha256, scope=ExemptionScope.BYTES, reinstated=item.upload_id, reason=reason, requested_by=reviewer, bucket=upload.bucket, key=upload.key)
        done["exempted"] = {"sha256": item.sha256, "scope": ExemptionScope.BYTES.value}
    parts = [f"{', '.join(allowed)} on the allow-list" if allowed else "", "these bytes exempted from matching everywhere" if "exempted" in done else ""]
    return DecisionAnswer(DecisionOutcome.DECIDED, "; ".join(part for part in parts if part) + "; the upload stays online", done)

