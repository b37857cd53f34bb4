"""What an exchange's sync changes in the hash-set table: its entries held with their provenance, its deletions applied.

An exchange's entry is a provenance item like an imported list's (entries.py: reference_id the
entry id, item "source#<exchange name>#<the exchange's id>"), with the exchange's own account of
it beside the entry's fields (`exchange`: the exchange, collaboration, id, opinion, descriptors).
A provenance is written when it is new or the exchange changed it, and left as it is otherwise, so
a page fetched twice (a resumed or repeated run) writes nothing and starts no retro-match. TMK
entries go where imports put them (tmk_entries.py).
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime, timezone
from itertools import islice
from typing import Callable, Iterable, Sequence

from boto3.dynamodb.conditions import Key

from hashmatch.aws.dynamo import items, to_item
from hashmatch.aws.hash_set.entries import PROVENANCE_PREFIX, HashListEntries, entry_id
from hashmatch.aws.hash_set.tmk_entries import TmkEntries
from hashmatch.exchanges.model import Fetched, Withdrawn
from hashmatch.hash_set.formats.tmk import TMK_SIGNAL, TmkEntry, tmk_bytes
from hashmatch.usecases.sync_exchanges import HoldReport
from hashmatch.vocabulary import Action

BATCH = 100  # BatchGetItem's limit
_DIGEST = re.compile(r"[0-9a-f]{64}")


def _chunks(things: Sequence, size: int) -> Iterable[list]:
    iterator = iter(things)
    while chunk := list(islice(iterator, size)):
        yield chunk


class ExchangeEntries:
    """The hash-set table (a boto3 Table resource) as exchanges change it; `changed` bumps the hash set's version."""

    def __init__(self, table, changed: Callable[[], None]):
        self.table = table
        self.changed = changed
        self.tmk = TmkEntries(table, changed)

    def hold(self, fetched: Sequence[Fetched], action: Action) -> HoldReport:
        hashes = [record for record in fetched if not isinstance(record.entry, TmkEntry)]
        tmk = [record for record in fetched if isinstance(record.entry, TmkEntry)]
        added = updated = unchanged = 0
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        for chunk in _chunks(hashes, BATCH):
            wanted = {}
            for record in chunk:  # the last word of a page on one provenance wins
                entry = record.entry
                item = HashListEntries.provenance_item(entry, action, f"exchange:{entry.source}", now)
                wanted[(item["reference_id"], item["item"])] = to_item({**item, "exchange": record.provenance})
            found = self._existing(list(wanted))
            with self.table.batch_writer() as batch:
                for key, item in wanted.items():
                    before = found.get(key)
                    if before is not None and _same(before, item):
                        unchanged += 1
                        continue
                    if before is not None:
                        item["added_at"] = before.get("added_at", item["added_at"])  # when it was first held here
                    batch.put_item(Item=item)
                    added, updated = (added + 1, updated) if before is None else (added, updated + 1)
        if tmk:
            provenance = {id(record.entry): record.provenance for record in tmk}
            written, there = self.tmk.write([record.entry for record in tmk], action=action, added_by=f"exchange:{tmk[0].entry.source}", provenance_of=lambda entry: {"exchange": provenance[id(entry)]})
            added, unchanged = added + written, unchanged + there
        if added or updated:
            self.changed()
        return HoldReport(added, updated, unchanged)

    def withdraw(self, source: str, withdrawn: Sequence[Withdrawn]) -> int:
        removed = 0
        for record in withdrawn:
            if record.signal_type == TMK_SIGNAL:
                digest = record.hash if _DIGEST.fullmatch(record.hash) else hashlib.sha256(tmk_bytes(record.hash)).hexdigest()
                removed += self.tmk.remove(digest, source, record.exchange_id)
                continue
            wanted = f"{PROVENANCE_PREFIX}{source}#"
            partition = items(self.table, "query", KeyConditionExpression=Key("reference_id").eq(entry_id(record.signal_type, record.hash)), ProjectionExpression="reference_id, #item", ExpressionAttributeNames={"#item": "item"}, ConsistentRead=True)
            doomed = [item for item in partition if item["item"].startswith(wanted) and (record.exchange_id is None or item["item"] == f"{wanted}{record.exchange_id}")]
            with self.table.batch_writer() as batch:
                for item in doomed:
                    batch.delete_item(Key={"reference_id": item["reference_id"], "item": item["item"]})
            removed += len(doomed)
        if removed:
            self.changed()
        return removed

    def _existing(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        found: dict[tuple[str, str], dict] = {}
        request = {self.table.name: {"Keys": [{"reference_id": rid, "item": item} for rid, item in keys], "ConsistentRead": True}}
        client = self.table.meta.client
        while keys and request:
            answer = client.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(self.table.name, []):
                found[(item["reference_id"], item["item"])] = item
            request = answer.get("UnprocessedKeys") or None
            if request:
                time.sleep(0.1)  # throttled: back off as DynamoDB asks
        return found


def _same(before: dict, after: dict) -> bool:
    """Equal but for when it was held and who wrote it (a resumed page says the same again)."""
    ignored = {"added_at"}
    return {k: v for k, v in before.items() if k not in ignored} == {k: v for k, v in after.items() if k not in ignored}
