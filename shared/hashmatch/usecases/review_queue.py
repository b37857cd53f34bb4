"""The review queue's items, as the moderators' desk lists them: held uploads and review matches, one item per upload.

The review queue (SQS, ReviewQueue) receives the match messages whose references ask for review
(the upload stays online) and the hold messages of uploads that could not be checked (the
takedown quarantines them). The desk (`hashmatch review`) keeps them as review items, one per
upload: a hold and a review match of one upload are one item, and a message delivered twice is
kept once (by its match or hold id). The queue lists the open items oldest first, each with the time
left against a one-hour target. Deciding on an item is usecases/review.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Iterable

from pydantic import ValidationError

from hashmatch.messages.models import HOLD_MESSAGE_TYPE, MATCH_MESSAGE_TYPE, HoldMessage, MatchMessage
from hashmatch.vocabulary import ListedSignal

# The time a person has to decide, from when the matcher published the match or hold: Regulation (EU) 2021/784
# asks for removal within an hour of an order, and a review queue is held to the same.
REVIEW_TARGET = timedelta(hours=1)

ReviewMessage = MatchMessage | HoldMessage


class ItemKind(StrEnum):
    """What brought an upload to the review queue."""

    REVIEW_MATCH = "review-match"  # a match whose references ask for review: the upload is online
    HELD = "held"  # it could not be checked: the takedown quarantines it for a person to decide


class ItemStatus(StrEnum):
    OPEN = "open"
    ESCALATED = "escalated"  # open, for someone else (a senior reviewer, legal) to decide
    DECIDED = "decided"


def review_message_of(body: str | dict) -> ReviewMessage:
    """A review queue message's match or hold message: the SNS notification SQS delivers (its Message), or the message itself.
    ValueError for anything else (left on the queue, it goes to the dead-letter queue after five receives)."""
    try:
        data = json.loads(body) if isinstance(body, str) else body
        if isinstance(data, dict) and data.get("Type") == "Notification":
            data = json.loads(data["Message"])
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"not an SNS notification or a message: {error}") from None
    kind = data.get("message_type") if isinstance(data, dict) else None
    model = {MATCH_MESSAGE_TYPE: MatchMessage, HOLD_MESSAGE_TYPE: HoldMessage}.get(kind)
    if model is None:
        raise ValueError(f"not a match or hold message (message_type {kind!r})")
    try:
        # As JSON: the contract's types as the topic carries them (a whole number is a valid duration).
        return model.model_validate_json(json.dumps(data))
    except ValidationError as error:
        raise ValueError(f"a {kind} message that breaks its contract: {error.errors()[0]['msg']}") from None


def message_id(message: ReviewMessage) -> str:
    """The id a message is kept under in its item (a redelivery has the same)."""
    return message.hold_id if isinstance(message, HoldMessage) else message.match_id


def arrived_at(message: ReviewMessage) -> str:
    """When the matcher published it (the one-hour target runs from here)."""
    return message.times.held_at if isinstance(message, HoldMessage) else message.times.matched_at


def is_listed_entry(reference_id: str) -> bool:
    """A matched item that is a hash-list entry ("pdq:<hex>", "md5:", "sha256:"), not known media."""
    kind, _, value = reference_id.partition(":")
    return bool(value) and kind in set(ListedSignal)


@dataclass(frozen=True)
class ReviewItem:
    """One upload in the review queue: its messages (each once, oldest first), and where its review stands."""

    upload_id: str
    messages: tuple[ReviewMessage, ...]
    status: ItemStatus = ItemStatus.OPEN
    last_decision: dict | None = None  # the latest decision taken on it (decision, reviewer, outcome, detail, ...)

    @classmethod
    def of(cls, messages: Iterable[ReviewMessage], status: ItemStatus | str = ItemStatus.OPEN, last_decision: dict | None = None) -> "ReviewItem":
        unique = {message_id(message): message for message in messages}
        if not unique:
            raise ValueError("a review item has at least one message")
        ordered = tuple(sorted(unique.values(), key=arrived_at))
        upload_ids = {message.upload.upload_id for message in ordered}
        if len(upload_ids) != 1:
            raise ValueError(f"the messages of one item name one upload, not {sorted(upload_ids)}")
        return cls(upload_ids.pop(), ordered, ItemStatus(status), last_decision)

    def with_message(self, message: ReviewMessage) -> "ReviewItem":
        return ReviewItem.of((*self.messages, message), self.status, self.last_decision)

    @property
    def match(self) -> MatchMessage | None:
        """The latest review match of the upload (a retroactive one may follow a live one)."""
        return next((m for m in reversed(self.messages) if isinstance(m, MatchMessage)), None)

    @property
    def hold(self) -> HoldMessage | None:
        return next((m for m in self.messages if isinstance(m, HoldMessage)), None)

    @property
    def kinds(self) -> tuple[ItemKind, ...]:
        return tuple(kind for kind, there in ((ItemKind.HELD, self.hold), (ItemKind.REVIEW_MATCH, self.match)) if there is not None)

    @property
    def upload(self):
        """The upload as the messages name it (bucket, key, version, size, SHA-256, uploader)."""
        return self.messages[0].upload

    @property
    def sha256(self) -> str:
        return next((m.upload.sha256 for m in self.messages if m.upload.sha256), "")

    @property
    def media_kind(self) -> str | None:
        if self.match is not None:
            return self.match.media.kind
        return self.hold.media_kind

    @property
    def arrived_at(self) -> str:
        return arrived_at(self.messages[0])

    @property
    def due_at(self) -> datetime:
        return datetime.fromisoformat(self.arrived_at) + REVIEW_TARGET

    def seconds_left(self, now: datetime) -> float:
        """Seconds until the one-hour target (negative: overdue)."""
        return (self.due_at - now).total_seconds()

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why a person must look: the hold's reason (oversized, corrupt, ...) and "review match"."""
        found = [f"held: {self.hold.reason}"] if self.hold is not None else []
        return tuple(found + (["review match"] if self.match is not None else []))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({entry.source for entry in self.match.matches})) if self.match else ()

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({entry.label for entry in self.match.matches if entry.label})) if self.match else ()

    @property
    def is_open(self) -> bool:
        return self.status != ItemStatus.DECIDED


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: each field empty shows all (the desk's filters: reason, source, label, kind, status)."""

    reason: str = ""
    source: str = ""
    label: str = ""
    kind: str = ""
    status: str = ""  # "" shows the open items (open and escalated)

    def admits(self, item: ReviewItem) -> bool:
        if self.status:
            if item.status != self.status:
                return False
        elif not item.is_open:
            return False
        return (
            (not self.reason or self.reason in item.reasons)
            and (not self.source or self.source in item.sources)
            and (not self.label or self.label in item.labels)
            and (not self.kind or self.kind in item.kinds)
        )


@dataclass(frozen=True)
class QueueView:
    """The queue as the desk lists it: the items a filter admits, oldest first, and counts over the open queue."""

    items: tuple[ReviewItem, ...]
    open: int
    overdue: int
    by_kind: dict[str, int]
    by_reason: dict[str, int]
    by_status: dict[str, int]
    sources: tuple[str, ...]
    labels: tuple[str, ...]


def queue_view(items: Iterable[ReviewItem], chosen: QueueFilter, now: datetime) -> QueueView:
    items = list(items)
    waiting = [item for item in items if item.is_open]

    def count(values: Iterable[str]) -> dict[str, int]:
        counted: dict[str, int] = {}
        for value in values:
            counted[value] = counted.get(value, 0) + 1
        return dict(sorted(counted.items()))

    return QueueView(
        items=tuple(sorted((item for item in items if chosen.admits(item)), key=lambda item: item.arrived_at)),
        open=len(waiting),
        overdue=sum(1 for item in waiting if item.seconds_left(now) < 0),
        by_kind=count(kind for item in waiting for kind in item.kinds),
        by_reason=count(reason for item in waiting for reason in item.reasons),
        by_status=count(str(item.status) for item in items),
        sources=tuple(sorted({source for item in waiting for source in item.sources})),
        labels=tuple(sorted({label for item in waiting for label in item.labels})),
    )
