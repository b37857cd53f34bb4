"""Hash-list entries in the hash-set table: shared hashes (PDQ, MD5, SHA-256) with their provenances, and the allow-list.

Items, beside the references' (hash_set.py), partition key reference_id = the entry id:
  reference_id="pdq:<hex>" (or "md5:", "sha256:"), item="source#<source>#<source_id>"
      one provenance: labels, source, source_id, action, added_at, added_by (quality and
      timestamp for vPDQ frames). The same hash from two sources is one entry with two items.
  reference_id="pdq:<hex>", item="allow"
      the entry is on the allow-list: every match to it is suppressed (a false positive a
      third-party list brought). It stays when the list is imported again.
An import writes each provenance once: a batch first asks which of its items exist
(BatchGetItem) and writes only the others (BatchWriteItem), so a re-run or the rest of an
interrupted import adds exactly the lines that had not landed.

The frames of a vPDQ file (HashListEntry.listed_video) are also gathered into one listed video,
which the table holds as a reference of its own (vpdq:<file>, table.put_listed_video) once the
import has read them all: matchers match it as a video, and its frames' hashes, each with its
provenance here, are not matched one by one (table.entry_state).
TMK+PDQF entries a list holds are kept beside them (tmk_entries.py: stored and counted, not
matched by the stack); lines a list holds that hashmatch does not match (vPDQ frames below
quality 50) are counted as skipped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from itertools import islice
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from boto3.dynamodb.conditions import Key

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.aws.hash_set.tmk_entries import TmkEntries
from hashmatch.hash_set.formats.tmk import TmkEntry
from hashmatch.hash_set.lists import BadLine, EntryStatus, HashListEntry, SkippedLine
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action, strongest

if TYPE_CHECKING:  # the snapshot module brings numpy, which the exchange sync's package does not carry
    from hashmatch.hash_set.snapshot import ListedVideo

PROVENANCE_PREFIX = "source#"
ALLOW_ITEM = "allow"
# DynamoDB's BatchGetItem takes 100 keys, BatchWriteItem 25 items (batch_writer splits).
BATCH = 100
# Matchers see an import's entries as it goes: the hash set's version is bumped this often.
BUMP_EVERY_ENTRIES = 1000
ENTRY_ID_PREFIXES = tuple(f"{kind}:" for kind in ListedSignal)


def entry_id(signal_type: ListedSignal | str, hash_hex: str) -> str:
    return f"{ListedSignal(signal_type)}:{hash_hex.strip().lower()}"


def is_entry_id(text: str) -> bool:
    return text.startswith(ENTRY_ID_PREFIXES)


def is_entry_item(item: dict) -> bool:
    return item["item"] == ALLOW_ITEM or item["item"].startswith(PROVENANCE_PREFIX)


def _provenance_key(entry: HashListEntry) -> dict:
    return {"reference_id": entry_id(entry.signal_type, entry.hash), "item": f"{PROVENANCE_PREFIX}{entry.source}#{entry.source_id or ''}"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class StoredEntry:
    """One hash of the hash set's lists: its provenances and whether it is allowed."""

    signal_type: ListedSignal
    hash: str
    provenances: tuple[HashListEntry, ...] = ()
    actions: tuple[Action, ...] = ()  # per provenance: what a match recommends
    allowed: dict | None = None  # who allowed it, when, why

    @property
    def entry_id(self) -> str:
        return entry_id(self.signal_type, self.hash)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(sorted({label for provenance in self.provenances for label in provenance.labels}))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({provenance.source for provenance in self.provenances}))

    @property
    def action(self) -> Action:
        """Quarantine when any source asks for it, otherwise review."""
        return strongest(self.actions)

    @property
    def added_at(self) -> str:
        return min((p.added_at for p in self.provenances if p.added_at), default="")

    def to_dict(self) -> dict:
        return {
            "entry_id": self.entry_id,
            "signal_type": str(self.signal_type),
            "hash": self.hash,
            "labels": list(self.labels),
            "sources": [{"source": p.source, "source_id": p.source_id, "added_at": p.added_at, "added_by": p.added_by, "action": str(a)} for p, a in zip(self.provenances, self.actions)],
            "allowed": self.allowed,
        }


def stored_entries(found: Iterable[dict]) -> dict[str, StoredEntry]:
    """The entries among hash-set items (a scan or a query), by entry id."""
    provenances: dict[str, list[tuple[HashListEntry, Action]]] = {}
    allowed: dict[str, dict] = {}
    for raw in found:
        if not is_entry_item(raw):
            continue
        item = from_item(raw)
        if item["item"] == ALLOW_ITEM:
            allowed[item["reference_id"]] = {k: item[k] for k in ("allowed_at", "allowed_by", "reason") if k in item}
            continue
        entry = HashListEntry(
            signal_type=item["signal_type"],
            hash=item["hash"],
            labels=tuple(item.get("labels", ())),
            source=item["source"],
            source_id=item.get("source_id"),
            quality=item.get("quality"),
            timestamp=item.get("timestamp"),
            added_at=item.get("added_at"),
            added_by=item.get("added_by") or None,
        )
        provenances.setdefault(item["reference_id"], []).append((entry, Action(item.get("action", Action.REVIEW))))
    entries = {}
    for key in provenances.keys() | allowed.keys():
        kind, hash_hex = key.split(":", 1)
        pairs = sorted(provenances.get(key, []), key=lambda pair: (pair[0].source, pair[0].source_id or ""))
        entries[key] = StoredEntry(ListedSignal(kind), hash_hex, tuple(p for p, _ in pairs), tuple(a for _, a in pairs), allowed.get(key))
    return entries


@dataclass
class ImportReport:
    """What an import did: entries read, provenances written now or found already there, bad lines."""

    entries: int = 0
    written: int = 0
    already_there: int = 0
    bad_lines: list[BadLine] = field(default_factory=list)
    allowed: int = 0
    listed_videos: int = 0  # vPDQ files written as one listed video each
    skipped: int = 0  # valid lines of what hashmatch does not match (vPDQ frames below quality 50, other signal types)
    tmk: int = 0  # TMK+PDQF entries read (kept, not matched by the stack)

    def to_dict(self) -> dict:
        return {"entries": self.entries, "written": self.written, "already_there": self.already_there, "allowed": self.allowed, "listed_videos": self.listed_videos, "skipped": self.skipped, "tmk": self.tmk, "bad_lines": len(self.bad_lines)}


class HashListEntries:
    """The entries of the hash-set table (a boto3 Table resource); `changed` bumps the hash set's version."""

    def __init__(self, table, changed: Callable[[], None], put_listed_video: Callable[[ListedVideo, Action], object] | None = None):
        self.table = table
        self.changed = changed
        self.put_listed_video = put_listed_video
        self.tmk = TmkEntries(table, changed)

    def import_entries(
        self,
        found: Iterable[HashListEntry | BadLine],
        *,
        action: Action = Action.REVIEW,
        added_by: str = "",
        progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Write every entry read (read_hash_list's output) exactly once; bad lines are collected in the report."""
        report = ImportReport()
        stream = iter(found)
        since_bump = 0
        videos: dict[str, ListedVideo] = {}
        try:
            while True:
                batch = list(islice(stream, BATCH))
                if not batch:
                    break
                entries, tmk = [], []
                for thing in batch:
                    if isinstance(thing, BadLine):
                        report.bad_lines.append(thing)
                    elif isinstance(thing, SkippedLine):
                        report.skipped += 1
                    elif isinstance(thing, TmkEntry):
                        tmk.append(thing)
                    else:
                        entries.append(thing)
                        if thing.listed_video is not None and thing.status == EntryStatus.ACTIVE:
                            from hashmatch.hash_set.snapshot import ListedVideo

                            videos.setdefault(thing.listed_video, ListedVideo(thing.listed_video)).add(thing)
                report.entries += len(entries) + len(tmk)
                report.tmk += len(tmk)
                written = self._write_new(entries, action, added_by, report)
                if tmk:
                    tmk_written, tmk_there = self.tmk.write(tmk, action=action, added_by=added_by)
                    report.written += tmk_written
                    report.already_there += tmk_there
                since_bump += written
                if since_bump >= BUMP_EVERY_ENTRIES:
                    self.changed()
                    since_bump = 0
                if progress is not None:
                    progress(report)
            # Once every frame is read: an interrupted import leaves no half video (a re-run writes it whole).
            for video in videos.values():
                if self.put_listed_video is None:
                    raise ValueError("this hash set cannot hold listed videos (vPDQ files)")
                self.put_listed_video(video, action)
                report.listed_videos += 1
        finally:
            # Also when interrupted: what landed is visible to the matchers.
            if since_bump:
                self.changed()
        return report

    def _write_new(self, entries: list[HashListEntry], action: Action, added_by: str, report: ImportReport) -> int:
        """Write the batch's provenances and allow-list marks that are not there yet; returns how many items changed."""
        by_key = {}
        allows = {}
        for entry in entries:
            key = _provenance_key(entry)
            by_key.setdefault((key["reference_id"], key["item"]), entry)
            if entry.status == EntryStatus.ALLOWED:
                allows[key["reference_id"]] = entry
        existing = self._existing([{"reference_id": rid, "item": item} for rid, item in by_key] + [{"reference_id": rid, "item": ALLOW_ITEM} for rid in allows])
        now = _now()
        provenances = allowed = 0
        with self.table.batch_writer() as batch:
            for (rid, item), entry in by_key.items():
                if (rid, item) in existing:
                    report.already_there += 1
                    continue
                batch.put_item(Item=self.provenance_item(entry, action, added_by, now))
                provenances += 1
            for rid, entry in allows.items():
                if (rid, ALLOW_ITEM) in existing:
                    continue  # allowed already: a re-run changes nothing
                batch.put_item(Item=to_item({"reference_id": rid, "item": ALLOW_ITEM, "allowed_at": entry.added_at or now, "allowed_by": entry.added_by or added_by or None, "reason": f"imported from {entry.source}"}))
                allowed += 1
        report.written += provenances
        report.allowed += allowed
        return provenances + allowed

    @staticmethod
    def provenance_item(entry: HashListEntry, action: Action, added_by: str, now: str) -> dict:
        return to_item(
            {
                **_provenance_key(entry),
                "signal_type": str(entry.signal_type),
                "hash": entry.hash,
                "labels": list(entry.labels),
                "source": entry.source,
                "source_id": entry.source_id,
                "quality": entry.quality,
                "timestamp": entry.timestamp,
                "action": str(Action(action)),
                # A list's own date (the HMA export's) is kept; otherwise the import's.
                "added_at": entry.added_at or now,
                "added_by": entry.added_by or added_by or None,
            }
        )

    def _existing(self, keys: list[dict]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        client = self.table.meta.client
        request = {self.table.name: {"Keys": keys, "ProjectionExpression": "reference_id, #item", "ExpressionAttributeNames": {"#item": "item"}, "ConsistentRead": True}}
        delay = 0.05
        while keys and request:
            answer = client.batch_get_item(RequestItems=request)
            found.update((item["reference_id"], item["item"]) for item in answer.get("Responses", {}).get(self.table.name, []))
            request = answer.get("UnprocessedKeys") or None
            if request:
                time.sleep(delay)  # throttled: back off as DynamoDB asks
                delay = min(2.0, delay * 2)
        return found

    def add(self, entry: HashListEntry, *, action: Action = Action.REVIEW, added_by: str = "") -> bool:
        """One entry; False when this provenance was there already."""
        report = self.import_entries([entry], action=action, added_by=added_by)
        return report.written > 0

    def get(self, signal_type: ListedSignal | str, hash_hex: str) -> StoredEntry | None:
        key = entry_id(signal_type, hash_hex)
        return stored_entries(items(self.table, "query", KeyConditionExpression=Key("reference_id").eq(key), ConsistentRead=True)).get(key)

    def remove(self, signal_type: ListedSignal | str, hash_hex: str, source: str | None = None) -> int:
        """Delete the entry's provenances (only `source`'s when given; the allow-list mark stays); returns how many."""
        stored = self.get(signal_type, hash_hex)
        if stored is None:
            return 0
        doomed = [p for p in stored.provenances if source is None or p.source == source]
        with self.table.batch_writer() as batch:
            for provenance in doomed:
                batch.delete_item(Key=_provenance_key(provenance))
        if doomed:
            self.changed()
        return len(doomed)

    def allow(self, signal_type: ListedSignal | str, hash_hex: str, *, allowed_by: str, reason: str) -> None:
        """Put the hash on the allow-list: matches to it are suppressed, also after later imports of it."""
        self.table.put_item(Item=to_item({"reference_id": entry_id(signal_type, hash_hex), "item": ALLOW_ITEM, "allowed_at": _now(), "allowed_by": allowed_by, "reason": reason}))
        self.changed()

    def disallow(self, signal_type: ListedSignal | str, hash_hex: str) -> bool:
        """Take the hash off the allow-list; False when it was not on it."""
        answer = self.table.delete_item(Key={"reference_id": entry_id(signal_type, hash_hex), "item": ALLOW_ITEM}, ReturnValues="ALL_OLD")
        if "Attributes" not in answer:
            return False
        self.changed()
        return True

    def all(self) -> dict[str, StoredEntry]:
        return stored_entries(items(self.table, "scan", ConsistentRead=True))

    def export(self) -> Iterator[HashListEntry | TmkEntry]:
        """Every provenance as a HashListEntry (allowed ones marked so), then the TMK entries, for write_hash_list."""
        for key, stored in sorted(self.all().items()):
            status = EntryStatus.ALLOWED if stored.allowed else EntryStatus.ACTIVE
            if not stored.provenances:
                allowed = stored.allowed or {}
                yield HashListEntry(signal_type=stored.signal_type, hash=stored.hash, source="allow-list", added_at=allowed.get("allowed_at"), added_by=allowed.get("allowed_by"), status=status)
            for provenance in stored.provenances:
                yield replace(provenance, status=status)
        yield from self.tmk.export()

    def stats(self) -> dict:
        entries = self.all()
        per_signal: dict[str, int] = {}
        per_source: dict[str, int] = {}
        for stored in entries.values():
            per_signal[str(stored.signal_type)] = per_signal.get(str(stored.signal_type), 0) + 1
            for source in stored.sources:
                per_source[source] = per_source.get(source, 0) + 1
        return {
            "entries": len(entries),
            "tmk": self.tmk.count(),
            "allowed": sum(1 for stored in entries.values() if stored.allowed),
            "provenances": sum(len(stored.provenances) for stored in entries.values()),
            "by_signal_type": per_signal,
            "by_source": per_source,
        }
