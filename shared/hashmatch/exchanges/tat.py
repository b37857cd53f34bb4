"""Tech Against Terrorism's hash list, through python-threatexchange's TATHashListAPI.

The client is pytx's own (it signs in, pages with `next`, and its session retries 429 and server
errors, honouring Retry-After); its SignalExchangeAPI wrapper is not used: importing it imports
pytx's PDQ signal type and with it FAISS, numpy and Pillow (about 160 MB, findings in
docs/exchanges.md), and it keeps none of a record's provenance. Here each record becomes an entry
with TAT's id, ideology and file type, an MD5 of any file type is kept (hashmatch's MD5 is of the
whole file, whatever the media), and a malformed record is counted and skipped where pytx would
stop the fetch.

The checkpoint is TAT's own (`checkpoint` of the last page: "<updated_on>,<id>"), sent back as
`after`: a fetch resumes after the last record of the last page it kept.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import requests
from threatexchange.exchanges.clients.techagainstterrorism.api import TATHashListAPI, TATHashListEntry

from hashmatch.exchanges.http_faults import exchange_error
from hashmatch.exchanges.model import (
    ExchangeConfig,
    ExchangeUnavailable,
    Feedback,
    FeedbackNotSupported,
    Fetched,
    Ignored,
    Malformed,
    Page,
    Record,
    Withdrawn,
    checkpoint_data,
    checkpoint_text,
)
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal

ALGORITHMS = {"PDQ": ListedSignal.PDQ, "MD5": ListedSignal.MD5}
# TATHashListEntry's fields and the JSON types its records must have (pytx makes the dataclass with **record).
_FIELDS = {"hash_digest": str, "algorithm": str, "ideology": str, "file_type": str, "deleted": bool, "updated_on": (int, float), "created_on": str, "id": int}
if set(_FIELDS) != set(TATHashListEntry.__dataclass_fields__):
    raise ImportError("python-threatexchange's TATHashListEntry has other fields than this module checks: see its pinned version")
_PAGE_KEYS = ("count", "next", "previous", "checkpoint", "results")


class _CheckedClient(TATHashListAPI):
    """pytx's client at `base`, each page's records checked before pytx makes its dataclasses of them (a bad one would stop it)."""

    def __init__(self, username: str, password: str, base: str):
        super().__init__(username, password)
        self.BASE_URL = base  # pytx reads it from the instance (session mount, URLs)
        self.malformed: list[Malformed] = []

    def _get(self, full_url: str | None = None, auth_token: str | None = None, **params) -> Any:
        answer = super()._get(full_url=full_url, auth_token=auth_token, **params)
        if not isinstance(answer, dict) or any(key not in answer for key in _PAGE_KEYS) or not isinstance(answer["results"], list):
            raise ExchangeUnavailable("Tech Against Terrorism's answer is not a hash-list page (count, next, previous, checkpoint, results)")
        kept = []
        for record in answer["results"]:
            problem = _problem(record)
            if problem:
                self.malformed.append(Malformed(problem, repr(record)))
            else:
                kept.append(record)
        return {**answer, "results": kept}


def _problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "a record that is not a JSON object"
    missing, unknown = set(_FIELDS) - set(record), set(record) - set(_FIELDS)
    if missing or unknown:
        parts = ([f"{', '.join(sorted(missing))} missing"] if missing else []) + ([f"{', '.join(sorted(unknown))} unknown"] if unknown else [])
        return "record fields: " + "; ".join(parts)
    wrong = [name for name, kind in _FIELDS.items() if not isinstance(record[name], kind) or (kind is not bool and isinstance(record[name], bool))]
    return f"record fields of the wrong type: {', '.join(wrong)}" if wrong else None


class TatExchange:
    """Tech Against Terrorism's hash list for one configured exchange (credentials: username and password)."""

    DEFAULT_BASE = TATHashListAPI.BASE_URL

    def __init__(self, config: ExchangeConfig, credentials: dict):
        if not credentials.get("username") or not credentials.get("password"):
            raise ValueError(f"{config.name}: Tech Against Terrorism's credentials are a username and a password")
        self.config = config
        base = config.endpoint or self.DEFAULT_BASE
        self.client = _CheckedClient(credentials["username"], credentials["password"], base if base.endswith("/") else base + "/")

    def pages(self, checkpoint: str | None) -> Iterator[Page]:
        after = checkpoint_data(checkpoint).get("after", "")
        responses = self.client.fetch_hashes_iter(after)
        while True:
            try:
                response = next(responses)
            except StopIteration:
                return
            except requests.exceptions.RequestException as error:
                raise exchange_error(error, f"{self.config.name} (Tech Against Terrorism)") from None
            records: list[Record] = [*self.client.malformed, *(self._record(entry) for entry in response.results)]
            self.client.malformed = []
            if response.checkpoint:
                after = response.checkpoint
            yield Page(records, checkpoint_text({"after": after}) if after else checkpoint)

    def _record(self, found: TATHashListEntry) -> Record:
        kind = ALGORITHMS.get(found.algorithm.upper())
        if kind is None:
            return Ignored(f"algorithm {found.algorithm}: not one hashmatch matches")
        if found.deleted:
            return Withdrawn(str(kind), found.hash_digest.strip().lower(), str(found.id))
        provenance = {"exchange": str(self.config.kind), "collaboration": self.config.collaboration, "id": str(found.id), "ideology": str(found.ideology), "file_type": found.file_type, "updated_on": found.updated_on}
        try:
            entry = HashListEntry(
                signal_type=kind,
                hash=found.hash_digest,
                labels=tuple(label for label in (str(found.ideology),) if label.strip()),
                source=self.config.name,
                source_id=str(found.id),
                added_at=datetime.fromtimestamp(found.updated_on, timezone.utc).isoformat(),
            )
        except (ValueError, OverflowError, OSError) as error:
            return Malformed(str(error), repr(found))
        return Fetched(entry, provenance)

    def send_feedback(self, provenance: dict, feedback: Feedback, matches: int) -> str:
        raise FeedbackNotSupported("Tech Against Terrorism's hash-list API takes no feedback")
