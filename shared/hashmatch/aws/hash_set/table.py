"""The hash set in DynamoDB: references (known media) with their frame hashes, and each reference's state for a snapshot.

Table layout (partition key reference_id, sort key item):
  reference_id=<id>,        item="meta"          label, source, action, kind, duration, sha256,
                                                 features_key and feature_frames, ...
  reference_id=<id>,        item="frames#00000"  up to FRAMES_PER_ITEM (timestamp, PDQ hex) pairs
  reference_id="#hash-set", item="version"       a counter bumped on every change (what a matcher
                                                 without a snapshot checks before it scans again)
Frames are chunked because one item per frame would make loading a long reference thousands of
reads, while 1000 frames (about 70 KB) stay far below DynamoDB's 400 KB item limit.

A reference's local features (the second matching stage) are too large for items; they live in
S3 (reference_features.py) and the meta item names their key.

Matchers read the set from the snapshot the indexer keeps (store.py, indexer.py, live.py): the indexer
reads the partitions that changed (`current`), or the whole table once (`snapshot`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Iterable, Iterator

from boto3.dynamodb.conditions import Key

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.clock import now
from hashmatch.aws.hash_set.entries import ALLOW_ITEM, ENTRY_ID_PREFIXES, HashListEntries, StoredEntry, is_entry_id, is_entry_item, stored_entries
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.version import VERSION_KEY, bump_version
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.hash_set.snapshot import ENTRY_KIND, HashSetChanges, HashSetSnapshot, KnownItemState, KnownItem, ListedVideo
from hashmatch.vocabulary import Action, Role

META_ITEM = "meta"
FRAMES_ITEM_PREFIX = "frames#"
FRAMES_PER_ITEM = 1000
# Partitions whose id starts with "#" are the hash set's own bookkeeping, never references.
RESERVED_PREFIX = "#"
# Partitions read at once when the indexer reads what changed (boto3 clients are thread-safe).
READ_THREADS = 16


@dataclass(frozen=True)
class Reference:
    """A known media item in the hash set."""

    reference_id: str
    label: str
    source: str
    action: Action
    signal_type: str
    kind: str
    duration: float
    frames: int
    sha256: str
    added_at: str
    # Where the reference's local features are in the reference-features bucket (None: PDQ only).
    features_key: str | None = None
    feature_frames: int = 0

    def to_known_item(self) -> KnownItem:
        """What a match with this reference reports (its label, source, action), and where its local features are."""
        return KnownItem(self.reference_id, (self.label,), self.source, self.kind, self.duration, self.action, self.features_key)

    def to_dict(self) -> dict:
        return {**asdict(self), "action": str(self.action)}

    def to_item(self) -> dict:
        return to_item({**self.to_dict(), "item": META_ITEM})

    @classmethod
    def from_item(cls, item: dict) -> "Reference":
        data = from_item(item)
        data["action"] = Action(data["action"])
        # References added before local features were stored have neither field.
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass(frozen=True)
class StreamChange:
    """One record of the table's stream (KEYS_ONLY), told in the hash set's terms (hashmatch.usecases.retro_match.ItemChange)."""

    event: str  # INSERT, MODIFY or REMOVE
    key: str
    allow_mark: bool
    bookkeeping: bool


def stream_changes(records: Iterable[dict]) -> list[StreamChange]:
    """The changes a batch of the table's stream records (Lambda's DynamoDB event shape) holds."""
    changes = []
    for record in records:
        keys = record.get("dynamodb", {}).get("Keys", {})
        key = keys.get("reference_id", {}).get("S")
        if key is None:
            continue
        item = keys.get("item", {}).get("S", "")
        changes.append(StreamChange(str(record.get("eventName", "")), key, item == ALLOW_ITEM, key.startswith(RESERVED_PREFIX)))
    return changes


def entry_state(stored: StoredEntry) -> KnownItemState | None:
    """A hash-list entry as the matcher sees it; None when no upload can match it (allowed, or no provenance left)
    or when every provenance is a frame of a listed video, which is matched as that video (its own partition)."""
    if not stored.provenances or stored.allowed:
        return None
    if all(provenance.listed_video is not None for provenance in stored.provenances):
        return None
    reference = KnownItem(stored.entry_id, stored.labels, ", ".join(stored.sources), ENTRY_KIND, action=Action(stored.action))
    return KnownItemState(reference)


class MalformedItem(ValueError):
    """A partition whose items cannot be read as a reference or a hash-list entry (a bad hash, action or field): skipped and counted."""


# What a malformed item raises while it is read (a bad hex hash or action, a missing or mistyped field).
_MALFORMED = (ValueError, KeyError, TypeError, ArithmeticError)


def partition_states(found: Iterable[dict]) -> Iterator[tuple[str, KnownItemState | None | MalformedItem]]:
    """Each partition's key and its matchable state (None: nothing an upload can match), from hash-set items in partition order;
    a MalformedItem in place of the state for a partition that cannot be read, so that one bad item stops no other.

    A Scan or a Query returns a partition's items together, so only one partition is held at a
    time: a scan of millions of entries never holds their items. Frames without a meta item
    belong to a reference being written or removed: not matchable yet, or any more.
    """
    seen: set[str] = set()
    for key, group in groupby(found, key=lambda item: item["reference_id"]):
        if key.startswith(RESERVED_PREFIX):
            continue
        if key in seen:
            raise RuntimeError(f"the hash-set table returned partition {key!r} in two runs: its items must come together")
        seen.add(key)
        try:
            yield key, _partition_state(key, list(group))
        except _MALFORMED as error:
            yield key, MalformedItem(f"{key}: {type(error).__name__}: {error}"[:300])


def _partition_state(key: str, group: list[dict]) -> KnownItemState | None:
    meta = next((item for item in group if item["item"] == META_ITEM), None)
    if meta is not None:
        frames = []
        for item in group:
            if item["item"].startswith(FRAMES_ITEM_PREFIX):
                frames.extend(zip((float(t) for t in item["timestamps"]), (str(PRIMARY_SIGNAL.parse(h)) for h in item["pdq"])))
        return KnownItemState(Reference.from_item(meta).to_known_item(), tuple(sorted(frames)))
    stored = stored_entries(item for item in group if is_entry_item(item)).get(key)
    return entry_state(stored) if stored is not None else None


class HashSetTable:
    """The hash-set table (a boto3 DynamoDB Table resource) and, for local features, the reference-features bucket."""

    def __init__(self, table, features: ReferenceFeaturesBucket | None = None):
        self.table = table
        self.features = features

    def add_reference(
        self,
        hashes: MediaHashes,
        *,
        label: str,
        source: str,
        action: Action = Action.QUARANTINE,
        reference_id: str | None = None,
    ) -> Reference:
        """Store a reference's usable frames and local features (replacing any earlier version of it) and bump the set version."""
        action = Action(action)
        if hashes.role != Role.REFERENCE:
            raise ValueError("a reference must be hashed with role='reference' (dense sampling)")
        frames = hashes.usable_frames
        if not frames:
            raise ValueError("no frame of this media is usable for matching (all below PDQ quality 50)")
        if hashes.features and self.features is None:
            raise ValueError("the reference has local features but this hash set has no reference-features bucket")
        reference_id = reference_id or hashes.sha256
        if reference_id.startswith(RESERVED_PREFIX):
            raise ValueError(f"reference ids starting with {RESERVED_PREFIX!r} are the hash set's own (its version counter)")
        if is_entry_id(reference_id):
            raise ValueError(f"reference ids starting with {', '.join(ENTRY_ID_PREFIXES)} name hash-list entries")
        earlier = self._meta(reference_id)
        features_key = None
        if hashes.features:
            # Written before the meta item that names it, so a reader never misses it.
            features_key = self.features.put(reference_id, hashes.sha256, hashes.features)
        reference = Reference(
            reference_id=reference_id,
            label=label,
            source=source,
            action=action,
            signal_type=PRIMARY_SIGNAL.name,
            kind=str(hashes.kind),
            duration=round(hashes.duration, 3),
            frames=len(frames),
            sha256=hashes.sha256,
            added_at=now(),
            features_key=features_key,
            feature_frames=len(hashes.features),
        )
        self._delete_items(reference.reference_id)
        with self.table.batch_writer() as batch:
            for number, start in enumerate(range(0, len(frames), FRAMES_PER_ITEM)):
                chunk = frames[start : start + FRAMES_PER_ITEM]
                batch.put_item(
                    Item=to_item(
                        {
                            "reference_id": reference.reference_id,
                            "item": f"{FRAMES_ITEM_PREFIX}{number:05d}",
                            "timestamps": [round(frame.timestamp, 3) for frame in chunk],
                            "pdq": [frame.pdq for frame in chunk],
                            # Read by exports (a reference as a vPDQ video), not by matching: usable frames all are.
                            "quality": [frame.quality for frame in chunk],
                        }
                    )
                )
        # The meta item is written last and removed first, so a reader never takes a
        # reference whose frames are not all there.
        self.table.put_item(Item=reference.to_item())
        self._bump_version()
        if earlier and earlier.features_key and earlier.features_key != features_key:
            self._delete_features(earlier)
        return reference

    def remove_reference(self, reference_id: str) -> bool:
        """Delete a reference, its frames and its local features; False when there was no such reference."""
        meta = self._meta(reference_id)
        if meta and meta.features_key and self.features is None:
            raise ValueError(f"reference {reference_id} has local features in S3: this hash set needs its reference-features bucket to remove them")
        removed = self._delete_items(reference_id)
        if removed:
            self._bump_version()
        if meta and meta.features_key:
            self._delete_features(meta)
        return removed > 0

    @property
    def entries(self) -> HashListEntries:
        """The hash-list entries (shared hashes and the allow-list) in the same table."""
        return HashListEntries(self.table, self._bump_version, self.put_listed_video)

    def put_listed_video(self, video: ListedVideo, action: Action) -> Reference:
        """A listed video's partition (vpdq:<file>): its frames, as a reference's, so that matchers take it as one video.

        Its frames' hashes keep their own provenance items (entries.py); an import writes the
        video again from every frame it read, so a re-run or the rest of an interrupted import
        leaves it whole. Removed as a reference is (remove_reference).
        """
        state = video.state(Action(action))
        item = state.item
        reference = Reference(
            reference_id=item.key, label=item.label, source=item.source, action=item.action, signal_type=PRIMARY_SIGNAL.name,
            kind=item.kind, duration=item.duration, frames=len(state.frames), sha256="", added_at=now(),
        )
        self._delete_items(reference.reference_id)
        with self.table.batch_writer() as batch:
            for number, start in enumerate(range(0, len(state.frames), FRAMES_PER_ITEM)):
                chunk = state.frames[start : start + FRAMES_PER_ITEM]
                batch.put_item(Item=to_item({"reference_id": reference.reference_id, "item": f"{FRAMES_ITEM_PREFIX}{number:05d}", "timestamps": [round(t, 3) for t, _ in chunk], "pdq": [h for _, h in chunk]}))
        self.table.put_item(Item=reference.to_item())
        self._bump_version()
        return reference

    def references(self) -> list[Reference]:
        return sorted(
            (Reference.from_item(item) for item in self._scan() if item["item"] == META_ITEM),
            key=lambda reference: reference.added_at,
        )

    def version(self) -> int:
        item = self.table.get_item(Key=VERSION_KEY, ConsistentRead=True).get("Item")
        return int(item["version"]) if item else 0

    def snapshot(self) -> HashSetSnapshot:
        """The whole set as a snapshot, from a consistent scan of the table (the indexer's rebuild; a matcher's fallback);
        malformed partitions left out (readable_snapshot names them)."""
        return self.readable_snapshot()[0]

    def readable_snapshot(self) -> tuple[HashSetSnapshot, dict[str, str]]:
        """The whole set as a snapshot, and the partitions left out because they cannot be read (key -> why)."""
        skipped: dict[str, str] = {}

        def readable() -> Iterator[KnownItemState]:
            for key, state in partition_states(self._scan()):
                if isinstance(state, MalformedItem):
                    skipped[key] = str(state)
                elif state is not None:
                    yield state

        return HashSetSnapshot.of_states(readable()), skipped

    def current(self, keys: Iterable[str]) -> HashSetChanges:
        """The state now of each of these references (partitions), as changes: what retro-match reads; malformed ones left out."""
        return self.readable_current(keys)[0]

    def readable_current(self, keys: Iterable[str]) -> tuple[HashSetChanges, dict[str, str]]:
        """The state now of each of these references (partitions), as changes, what the indexer reads for a stream batch; and
        the keys left out because their items cannot be read (key -> why): their earlier state stands, the others go on."""
        keys = sorted({key for key in keys if not key.startswith(RESERVED_PREFIX)})

        def state(key: str) -> KnownItemState | None | MalformedItem:
            found = items(self.table, "query", KeyConditionExpression=Key("reference_id").eq(key), ConsistentRead=True)
            return dict(partition_states(found)).get(key)

        if len(keys) <= 1:
            states = {key: state(key) for key in keys}
        else:
            with ThreadPoolExecutor(max_workers=min(READ_THREADS, len(keys))) as pool:
                states = dict(zip(keys, pool.map(state, keys)))
        skipped = {key: str(found) for key, found in states.items() if isinstance(found, MalformedItem)}
        return HashSetChanges({key: found for key, found in states.items() if key not in skipped}), skipped

    def reference_frames(self, reference_id: str) -> list[tuple[float, str, int | None]]:
        """A reference's usable frames as stored: (timestamp, PDQ hex, quality), quality None where it was not stored (references added before it was)."""
        found = []
        for item in items(self.table, "query", KeyConditionExpression=Key("reference_id").eq(reference_id) & Key("item").begins_with(FRAMES_ITEM_PREFIX), ConsistentRead=True):
            qualities = item.get("quality") or [None] * len(item["pdq"])
            found.extend((float(t), str(h), int(q) if q is not None else None) for t, h, q in zip(item["timestamps"], item["pdq"], qualities))
        return sorted(found)

    def reference(self, reference_id: str) -> Reference | None:
        """One reference by its id; None when there is none."""
        return self._meta(reference_id)

    def _meta(self, reference_id: str) -> Reference | None:
        item = self.table.get_item(Key={"reference_id": reference_id, "item": META_ITEM}, ConsistentRead=True).get("Item")
        return Reference.from_item(item) if item else None

    def _delete_features(self, reference: Reference) -> None:
        if self.features is not None:
            self.features.delete(reference.features_key)

    def _scan(self):
        return items(self.table, "scan", ConsistentRead=True)

    def _delete_items(self, reference_id: str) -> int:
        keys = list(
            items(
                self.table,
                "query",
                KeyConditionExpression=Key("reference_id").eq(reference_id),
                ProjectionExpression="reference_id, #item",
                ExpressionAttributeNames={"#item": "item"},
            )
        )
        if any(key["item"] == META_ITEM for key in keys):
            self.table.delete_item(Key={"reference_id": reference_id, "item": META_ITEM})
        with self.table.batch_writer() as batch:
            for key in keys:
                if key["item"] != META_ITEM:
                    batch.delete_item(Key={"reference_id": reference_id, "item": key["item"]})
        return len(keys)

    def _bump_version(self) -> None:
        bump_version(self.table)
