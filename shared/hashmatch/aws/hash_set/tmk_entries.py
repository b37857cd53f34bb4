"""TMK+PDQF entries in the hash-set table: kept and counted, exported, never matched by the stack.

The stack's hasher computes PDQ (and digests) only: TMK needs the video resampled by an ffmpeg
executable (tmkpy), which no function carries. So a TMK entry is held for what it is (a partner's
listed video, to export, and to match offline: hashmatch_tools.tmk) and gives no snapshot state.

Items, partition reference_id = "tmk:<SHA-256 of the vectors>" (the hash itself runs to 351 KB):
  item="tmk"                          the vectors, zlib-compressed (Binary; about 240 KB, under the 400 KB item limit)
  item="tmk#<source>#<source_id>"     one provenance: labels, source, source_id, added_at, added_by, action
Neither is a hash-list entry item (entries.is_entry_item) or a reference's, so the indexer and
retro-match see no state in these partitions.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator

from boto3.dynamodb.conditions import Attr, Key

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.hash_set.formats.tmk import TMK_SIGNAL, TmkEntry, tmk_text
from hashmatch.vocabulary import Action

PARTITION_PREFIX = f"{TMK_SIGNAL}:"
VECTORS_ITEM = "tmk"
PROVENANCE_PREFIX = "tmk#"


def tmk_id(digest: str) -> str:
    return f"{PARTITION_PREFIX}{digest}"


def _provenance_key(entry: TmkEntry) -> dict:
    return {"reference_id": tmk_id(entry.digest), "item": f"{PROVENANCE_PREFIX}{entry.source}#{entry.source_id or ''}"}


class TmkEntries:
    """The TMK entries of the hash-set table (a boto3 Table resource); `changed` bumps the hash set's version."""

    def __init__(self, table, changed: Callable[[], None]):
        self.table = table
        self.changed = changed

    def write(self, entries: Iterable[TmkEntry], *, action: Action = Action.REVIEW, added_by: str = "", provenance_of: Callable[[TmkEntry], dict] | None = None) -> tuple[int, int]:
        """Each entry's provenance (and its vectors, once per hash), unless there already; (written, already there)."""
        written = there = 0
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        for entry in entries:
            key = _provenance_key(entry)
            found = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
            item = to_item({**key, "labels": list(entry.labels), "source": entry.source, "source_id": entry.source_id, "action": str(Action(action)), "added_at": entry.added_at or now, "added_by": entry.added_by or added_by or None, **(provenance_of(entry) if provenance_of else {})})
            if found is not None and all(found.get(name) == value for name, value in item.items() if name != "added_at"):
                there += 1
                continue
            vectors = {"reference_id": key["reference_id"], "item": VECTORS_ITEM}
            if "Item" not in self.table.get_item(Key=vectors, ProjectionExpression="reference_id"):
                self.table.put_item(Item={**vectors, "vectors": zlib.compress(entry.data, 9)})
            self.table.put_item(Item=item)
            written += 1
        if written:
            self.changed()
        return written, there

    def remove(self, digest: str, source: str, source_id: str | None = None) -> int:
        """The provenances of `source` (only `source_id`'s when given); the vectors go with the last provenance."""
        partition = list(items(self.table, "query", KeyConditionExpression=Key("reference_id").eq(tmk_id(digest)), ProjectionExpression="reference_id, #item, #source, source_id", ExpressionAttributeNames={"#item": "item", "#source": "source"}, ConsistentRead=True))
        doomed = [item for item in partition if item["item"].startswith(PROVENANCE_PREFIX) and item.get("source") == source and (source_id is None or item.get("source_id") == source_id)]
        left = [item for item in partition if item["item"].startswith(PROVENANCE_PREFIX) and item not in doomed]
        for item in doomed:
            self.table.delete_item(Key={"reference_id": item["reference_id"], "item": item["item"]})
        if doomed and not left:
            self.table.delete_item(Key={"reference_id": tmk_id(digest), "item": VECTORS_ITEM})
        if doomed:
            self.changed()
        return len(doomed)

    def count(self) -> int:
        """TMK hashes held (one per vectors item)."""
        return sum(1 for _ in items(self.table, "scan", FilterExpression=Attr("reference_id").begins_with(PARTITION_PREFIX) & Attr("item").eq(VECTORS_ITEM), ProjectionExpression="reference_id", ConsistentRead=True))

    def export(self) -> Iterator[TmkEntry]:
        """Every provenance as a TmkEntry (for write_hash_list)."""
        by_partition: dict[str, dict] = {}
        for raw in items(self.table, "scan", FilterExpression=Attr("reference_id").begins_with(PARTITION_PREFIX), ConsistentRead=True):
            by_partition.setdefault(raw["reference_id"], {})[raw["item"]] = raw
        for partition in sorted(by_partition.values(), key=lambda found: next(iter(found.values()))["reference_id"]):
            vectors = partition.get(VECTORS_ITEM)
            if vectors is None:
                continue
            text = tmk_text(zlib.decompress(bytes(vectors["vectors"])))
            for name, raw in sorted(partition.items()):
                if name.startswith(PROVENANCE_PREFIX):
                    data = from_item(raw)
                    yield TmkEntry(hash=text, labels=tuple(data.get("labels", ())), source=data["source"], source_id=data.get("source_id"), added_at=data.get("added_at"), added_by=data.get("added_by"))
