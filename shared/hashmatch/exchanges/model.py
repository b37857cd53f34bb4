"""What an exchange is to hashmatch: its configuration, the pages it sends, what a page holds, and the faults a client raises."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterator, Protocol, Sequence

from hashmatch.vocabulary import Action

# An exchange's name is the source its entries carry, and part of its secret's and items' names.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# A malformed record is quoted this far in the status and the logs.
RECORD_TEXT_CHARS = 200


class ExchangeKind(StrEnum):
    """The exchanges hashmatch fetches from."""

    TAT = "tat"  # Tech Against Terrorism's hash list (python-threatexchange's TATHashListAPI)
    THREATEXCHANGE = "threatexchange"  # a ThreatExchange privacy group, as GIFCT members share through it (ThreatExchangeAPI)
    LIST = "list"  # a hash list at a URL (or a path, from an operator's shell), in any format hashmatch reads


class Feedback(StrEnum):
    """An operator's verdict on a listed hash, sent back where the exchange takes it."""

    CONFIRM = "confirm"  # the hash is what the list says
    DISPUTE = "dispute"  # it is not (a false positive)


@dataclass(frozen=True)
class ExchangeConfig:
    """One configured exchange (collaboration): where to fetch, with which credentials, and what its matches recommend.

    `name` is the source its entries carry (provenance, policies, the operator's commands);
    `collaboration` the exchange's own name for what is fetched (a ThreatExchange privacy group id,
    TAT's list, a list's URL); `endpoint` a base URL in place of the exchange's public one (a
    regional or test server); `secret` the Secrets Manager secret holding its credentials.
    """

    name: str
    kind: ExchangeKind
    collaboration: str
    endpoint: str | None = None
    secret: str | None = None
    action: Action = Action.REVIEW
    enabled: bool = True

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name or ""):
            raise ValueError(f"exchange name {self.name!r:.70}: letters, digits, '.', '_' and '-', up to 64, starting with a letter or digit")
        object.__setattr__(self, "kind", ExchangeKind(self.kind))
        object.__setattr__(self, "action", Action(self.action))
        if not str(self.collaboration or "").strip():
            raise ValueError("an exchange names what it fetches (--collaboration: a privacy group id, a list's URL)")
        if self.kind is ExchangeKind.THREATEXCHANGE and not str(self.collaboration).isdigit():
            raise ValueError(f"a ThreatExchange collaboration is a privacy group id (digits), not {self.collaboration!r:.40}")
        if self.kind is not ExchangeKind.LIST and not self.secret:
            raise ValueError(f"a {self.kind} exchange needs credentials (a secret)")

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": str(self.kind), "collaboration": self.collaboration, "endpoint": self.endpoint, "secret": self.secret, "action": str(self.action), "enabled": self.enabled}

    @classmethod
    def from_dict(cls, data: dict) -> "ExchangeConfig":
        return cls(**{name: data.get(name) for name in ("name", "kind", "collaboration", "endpoint", "secret") if name in data}, action=Action(data.get("action", Action.REVIEW)), enabled=bool(data.get("enabled", True)))


@dataclass(frozen=True)
class Fetched:
    """A hash the exchange lists: the entry to hold (HashListEntry or TmkEntry, its source the exchange's name) and where it came from.

    `provenance` is what the exchange says of it beyond the entry: the exchange, the collaboration,
    its own id, its opinion (ThreatExchange's category, TAT's ideology), its descriptors (what
    feedback reacts to).
    """

    entry: Any
    provenance: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Withdrawn:
    """The exchange deleted a hash (a tombstone): its provenances from this exchange go (only that id's, when given)."""

    signal_type: str
    hash: str
    exchange_id: str | None = None


@dataclass(frozen=True)
class Malformed:
    """A record the exchange sent that does not read as one: counted and skipped, never fatal."""

    reason: str
    record: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "record", self.record[:RECORD_TEXT_CHARS])


@dataclass(frozen=True)
class Ignored:
    """A valid record of something hashmatch does not match (a URL, an algorithm it has not): counted."""

    reason: str


Record = Fetched | Withdrawn | Malformed | Ignored


@dataclass(frozen=True)
class Page:
    """What one request of a fetch gave, and the checkpoint to resume after it (an opaque JSON text; None: from the start).

    `complete`: the page holds the whole list (a list exchange), so what the exchange held before and
    does not hold now is withdrawn. `unchanged`: the exchange said nothing changed (HTTP 304).
    """

    records: Sequence[Record]
    checkpoint: str | None
    complete: bool = False
    unchanged: bool = False


class ExchangeError(Exception):
    """A fetch that cannot go on now; what was fetched before it is kept (the checkpoint of the last page)."""


class ExchangeRateLimited(ExchangeError):
    """The exchange asked to wait (HTTP 429, with its Retry-After in seconds when it gave one)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """The exchange failed (a server error, no answer, an answer that is not what its API returns)."""


class FeedbackNotSupported(ExchangeError):
    """The exchange has no way to take an opinion back (recorded here only)."""


class ExchangeClient(Protocol):
    """One configured exchange, with its credentials: its pages from a checkpoint, and feedback where it takes it."""

    def pages(self, checkpoint: str | None) -> Iterator[Page]: ...

    def send_feedback(self, provenance: dict, feedback: Feedback, matches: int) -> str:
        """Send an operator's verdict on one of its hashes (its provenance); what was sent; FeedbackNotSupported when it cannot."""


def checkpoint_text(data: dict) -> str:
    """A checkpoint as stored: JSON, keys sorted (so that equal checkpoints are equal texts)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def checkpoint_data(text: str | None) -> dict:
    return json.loads(text) if text else {}
