"""The hash set's snapshot in S3: written by the indexer from the table's change stream, read by matchers.

Objects in the snapshot bucket:
  hash-set/manifest.json             which snapshot and which changes make the hash set now, by
                                     key and version, with a sequence number
  hash-set/snapshots/<seq>-<id>.bin  a HashSetSnapshot (hashmatch/snapshot.py), written when the
                                     changes since the last one grow past a bound (or on a rebuild)
  hash-set/changes/<seq>-<id>.json   the HashSetChanges since that snapshot, one per stream batch
Objects are never overwritten, only the manifest is, and only conditionally (If-Match on the ETag
it was read with, If-None-Match for the first): two writers (the indexer on two shards, or the
indexer and an operator's `hashmatch hashset reindex`) cannot lose each other's changes; the one
that finds the manifest changed starts again on top of it. An object the manifest stops naming
is deleted when the next manifest is written; readers ask for the version the manifest names, so
one that is still reading it keeps it (the bucket keeps deleted versions a day).

A matcher checks the manifest every refresh interval (a conditional GET: unchanged costs no
body), keeps the snapshot it has when the manifest names the same one, and searches it with the
changes beside it (HashSetView): a change costs a matcher what the changes hold, not the set.
Without a manifest yet, a matcher loads the table the old way (a scan), so nothing added is missed.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from botocore.exceptions import ClientError

from hashmatch.aws.hash_set import RESERVED_PREFIX, HashSet, LoadedHashSet, local_feature_index
from hashmatch.aws.s3_objects import CHANGED_CODES, error_code, is_missing, object_address
from hashmatch.local_features.stage import LocalFeatureStage
from hashmatch.model import FrameFeatures
from hashmatch.snapshot import HashSetChanges, HashSetSnapshot, HashSetView, SnapshotReference

MANIFEST_KEY = "hash-set/manifest.json"
SNAPSHOTS_PREFIX = "hash-set/snapshots/"
CHANGES_PREFIX = "hash-set/changes/"
# The changes are folded into a new snapshot once they hold this many keys and frames: every
# matcher reads all of them on each change, and searches them by brute force beside the index.
COMPACT_AFTER_CHANGES = 20_000
# A rebuild marks the manifest while it scans, so that the indexer keeps publishing changes rather
# than folding them into a snapshot the rebuild would not see; a mark older than this is ignored
# (a rebuild that died).
REBUILD_MARK_SECONDS = 3600
# Attempts at publishing when another writer changed the manifest in between.
PUBLISH_ATTEMPTS = 8
_NOT_MODIFIED = frozenset({"304", "NotModified"})


@dataclass(frozen=True)
class StoredObject:
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class Manifest:
    """Which snapshot and which changes make the hash set now, numbered by the indexer."""

    sequence: int  # one more with every manifest written
    snapshot: StoredObject
    changes: StoredObject | None  # None: no change since the snapshot
    snapshot_frames: int
    changed: int  # references and entries changed since the snapshot
    written_at: str
    rebuilding_since: str | None = None  # a rebuild's scan is running (see REBUILD_MARK_SECONDS)
    retired: tuple[StoredObject, ...] = ()  # named by the manifest before this one only: deleted with the next

    def rebuilding(self, now: datetime | None = None) -> bool:
        if self.rebuilding_since is None:
            return False
        now = now or datetime.now(timezone.utc)
        return now - datetime.fromisoformat(self.rebuilding_since) < timedelta(seconds=REBUILD_MARK_SECONDS)

    def named(self) -> set[StoredObject]:
        return {self.snapshot} | ({self.changes} if self.changes else set())

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        raw = json.loads(data)
        raw["snapshot"] = StoredObject(**raw["snapshot"])
        raw["changes"] = StoredObject(**raw["changes"]) if raw.get("changes") else None
        raw["retired"] = tuple(StoredObject(**stored) for stored in raw.get("retired", ()))
        return cls(**raw)


@dataclass(frozen=True)
class ManifestRead:
    manifest: Manifest | None  # None: there is none yet, or (unchanged) the same as last time
    etag: str | None
    unchanged: bool = False


class ManifestChanged(RuntimeError):
    """Another writer wrote the manifest after it was read: start again from the new one."""


class SnapshotStore:
    """The snapshot bucket (a boto3 S3 client and the bucket name)."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def read_manifest(self, etag: str | None = None) -> ManifestRead:
        """The manifest; with the ETag of the last one read, `unchanged` instead of the same body again."""
        request = {"Bucket": self.bucket, "Key": MANIFEST_KEY, **({"IfNoneMatch": etag} if etag else {})}
        try:
            response = self.s3.get_object(**request)
        except ClientError as error:
            if error_code(error) in _NOT_MODIFIED:
                return ManifestRead(None, etag, unchanged=True)
            if is_missing(error):
                return ManifestRead(None, None)
            raise
        return ManifestRead(Manifest.from_bytes(response["Body"].read()), response.get("ETag"))

    def read_snapshot(self, manifest: Manifest) -> HashSetSnapshot:
        return HashSetSnapshot.from_bytes(self._get(manifest.snapshot))

    def read_changes(self, manifest: Manifest) -> HashSetChanges:
        return HashSetChanges.from_bytes(self._get(manifest.changes)) if manifest.changes else HashSetChanges()

    def write_snapshot(self, snapshot: HashSetSnapshot, sequence: int) -> StoredObject:
        return self._put(f"{SNAPSHOTS_PREFIX}{sequence:012d}-{uuid.uuid4().hex[:12]}.bin", snapshot.to_bytes(), "application/octet-stream")

    def write_changes(self, changes: HashSetChanges, sequence: int) -> StoredObject | None:
        if not len(changes):
            return None
        return self._put(f"{CHANGES_PREFIX}{sequence:012d}-{uuid.uuid4().hex[:12]}.json", changes.to_bytes(), "application/json")

    def write_manifest(self, manifest: Manifest, read: ManifestRead) -> str:
        """Write the manifest if it is still the one `read` found (none: if there is still none); ManifestChanged otherwise."""
        condition = {"IfMatch": read.etag} if read.etag else {"IfNoneMatch": "*"}
        try:
            response = self.s3.put_object(Bucket=self.bucket, Key=MANIFEST_KEY, Body=manifest.to_bytes(), ContentType="application/json", **condition)
        except ClientError as error:
            # 409: a concurrent conditional write to the same key is in progress.
            if error_code(error) in CHANGED_CODES | {"ConditionalRequestConflict", "409"}:
                raise ManifestChanged(f"the manifest in {self.bucket} changed since it was read") from error
            raise
        return response["ETag"]

    def delete(self, objects: Iterable[StoredObject]) -> None:
        """Delete objects by key (a delete marker: the versions stay a day for readers still holding them)."""
        for stored in objects:
            self.s3.delete_object(Bucket=self.bucket, Key=stored.key)

    def _get(self, stored: StoredObject) -> bytes:
        return self.s3.get_object(**object_address(self.bucket, stored.key, stored.version_id))["Body"].read()

    def _put(self, key: str, body: bytes, content_type: str) -> StoredObject:
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        version = response.get("VersionId")
        return StoredObject(key, version if version and version != "null" else None)


@dataclass(frozen=True)
class IndexerOutcome:
    manifest: Manifest
    changed: int  # keys of this batch
    rebuilt: bool = False  # a snapshot from a table scan
    compacted: bool = False  # the changes folded into a new snapshot
    attempts: int = 1  # 2 and more: another writer changed the manifest in between


class HashSetIndexer:
    """Keeps the snapshot bucket up to date with the table: the changed keys of a stream batch in, a new manifest out.

    It reads each changed reference's state now (not the stream's images), so batches may repeat,
    overlap or arrive late: the result is the table as it is.
    """

    def __init__(self, hash_set: HashSet, store: SnapshotStore, compact_after: int = COMPACT_AFTER_CHANGES, sleep: Callable[[float], None] = time.sleep):
        self.hash_set = hash_set
        self.store = store
        self.compact_after = compact_after
        self.sleep = sleep
        self._snapshot: tuple[StoredObject, HashSetSnapshot] | None = None  # the last one read or written

    def apply(self, keys: Iterable[str]) -> IndexerOutcome | None:
        """Fold the current state of these references (partition keys) into the published changes; None when none is a reference."""
        keys = {key for key in keys if not key.startswith(RESERVED_PREFIX)}
        if not keys:
            return None
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            read = self.store.read_manifest()
            if read.manifest is None:
                return replace(self.rebuild(), changed=len(keys))  # the first: its scan holds these changes
            earlier = read.manifest
            changes = self.store.read_changes(earlier).then(self.hash_set.current(keys))
            compact = changes.size > self.compact_after and not earlier.rebuilding()
            try:
                if compact:
                    written = self._publish(read, self._base(earlier).patched(changes), HashSetChanges(), earlier.rebuilding_since)
                else:
                    written = self._publish(read, None, changes, earlier.rebuilding_since)
            except ManifestChanged:
                # Jitter between retries, not a secret: random is right here.
                self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
                continue
            return IndexerOutcome(written.manifest, len(keys), compacted=compact, attempts=attempt)
        raise ManifestChanged(f"the manifest kept changing: {PUBLISH_ATTEMPTS} attempts")

    def rebuild(self) -> IndexerOutcome:
        """A snapshot of the whole table (a consistent scan): the first run, or an operator's repair.

        The scan can take minutes. The manifest is marked first, so the indexer publishes its changes
        meanwhile without folding them into a new snapshot; at the end the keys it published are read
        again and published with the scan, on top of the manifest as it is then.
        """
        read = self.store.read_manifest()
        started_from = self._mark_rebuilding(read).manifest if read.manifest is not None else None
        snapshot = self.hash_set.snapshot()
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            read = self.store.read_manifest()
            changes = HashSetChanges()
            if read.manifest is not None:
                if started_from is not None and read.manifest.snapshot != started_from.snapshot:
                    raise ManifestChanged("the indexer wrote a new snapshot while the table was scanned (its rebuild mark had expired): run the rebuild again")
                changes = self.hash_set.current(self.store.read_changes(read.manifest).changed)
            try:
                written = self._publish(read, snapshot, changes, None)
            except ManifestChanged:
                # Jitter between retries, not a secret: random is right here.
                self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
                continue
            return IndexerOutcome(written.manifest, 0, rebuilt=True, attempts=attempt)
        raise ManifestChanged(f"the manifest kept changing: {PUBLISH_ATTEMPTS} attempts")

    def publish(self, snapshot: HashSetSnapshot, changes: HashSetChanges | None = None) -> Manifest:
        """Publish a snapshot made elsewhere as the hash set (benchmarks; the table is not read), on top of the manifest now."""
        return self._publish(self.store.read_manifest(), snapshot, changes or HashSetChanges(), None).manifest

    def _publish(self, read: ManifestRead, snapshot: HashSetSnapshot | None, changes: HashSetChanges, rebuilding_since: str | None) -> ManifestRead:
        """Write the new objects (a snapshot, or None to keep the one `read` names; the changes), then the manifest naming them."""
        earlier = read.manifest
        if snapshot is None and earlier is None:
            raise ValueError("the first manifest needs a snapshot")
        sequence = (earlier.sequence if earlier else 0) + 1
        snapshot_object = self.store.write_snapshot(snapshot, sequence) if snapshot is not None else earlier.snapshot
        frames = len(snapshot.frames) if snapshot is not None else earlier.snapshot_frames
        changes_object = self.store.write_changes(changes, sequence)
        named_before = earlier.named() if earlier else set()
        retired = tuple(sorted(named_before - {snapshot_object, changes_object}, key=lambda stored: stored.key))
        manifest = Manifest(sequence, snapshot_object, changes_object, frames, len(changes), _now(), rebuilding_since, retired)
        try:
            written = self._write(read, manifest)
        except ManifestChanged:
            self.store.delete(manifest.named() - named_before)  # this attempt's own objects
            raise
        if snapshot is not None:
            self._snapshot = (snapshot_object, snapshot)
        return written

    def _mark_rebuilding(self, read: ManifestRead) -> ManifestRead:
        """The same objects, marked: a rebuild's scan is running."""
        now = _now()
        return self._write(read, replace(read.manifest, sequence=read.manifest.sequence + 1, written_at=now, rebuilding_since=now, retired=()))

    def _write(self, read: ManifestRead, manifest: Manifest) -> ManifestRead:
        """Write the manifest if it is still the one `read` found, then delete what the one before had retired."""
        etag = self.store.write_manifest(manifest, read)
        if read.manifest is not None:
            self.store.delete(read.manifest.retired)
        return ManifestRead(manifest, etag)

    def _base(self, manifest: Manifest) -> HashSetSnapshot:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
        return self._snapshot[1]


class FreshHashSet:
    """A matcher's hash set: the snapshot and the changes since it, checked every `refresh_seconds`.

    The snapshot is read again only when the indexer wrote a new one; a change in between costs
    reading the changes. Local features are read per features key once per container. Without a
    manifest (no indexer run yet) the table is loaded the old way, as its version says.
    """

    def __init__(
        self,
        store: SnapshotStore,
        hash_set: HashSet,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.hash_set = hash_set  # the table (the fallback) and the reference-features bucket
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.source = "none"  # "snapshot" or "table scan": where the loaded set came from
        self._loaded: LoadedHashSet | None = None
        self._checked = float("-inf")
        self._etag: str | None = None
        self._snapshot: tuple[StoredObject, HashSetSnapshot] | None = None
        self._features: dict[str, list[FrameFeatures]] = {}
        self._feature_stage: tuple[frozenset, LocalFeatureStage] | None = None

    @property
    def snapshot(self) -> HashSetSnapshot | None:
        """The snapshot this matcher holds (None before the first, or while it loads the table instead)."""
        return self._snapshot[1] if self._snapshot is not None else None

    def get(self) -> LoadedHashSet:
        now = self.clock()
        if self._loaded is not None and now - self._checked < self.refresh_seconds:
            return self._loaded
        read = self.store.read_manifest(self._etag if self.source == "snapshot" else None)
        if not read.unchanged:
            if read.manifest is not None:
                self._loaded = self._from_snapshot(read.manifest)
                self._etag, self.source = read.etag, "snapshot"
            elif self._loaded is None or self.source != "table scan" or self.hash_set.version() != self._loaded.version:
                self._loaded, self._etag, self.source = self.hash_set.load(), None, "table scan"
        self._checked = now
        return self._loaded

    def _from_snapshot(self, manifest: Manifest) -> LoadedHashSet:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            # Let the old one go before the new one arrives: two would not fit at ten million entries.
            self._snapshot = self._loaded = None
            self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
        view = HashSetView(self._snapshot[1], self.store.read_changes(manifest))
        return LoadedHashSet(view, view.matcher(self.hash_set.pdq_threshold, [self._local_features(view)]), manifest.sequence)

    def _local_features(self, view: HashSetView) -> LocalFeatureStage:
        """The media references' local features, read once per features key; the same stage while the media are the same."""
        media = view.media()
        which = frozenset(self._identity(reference) for reference in media)
        if self._feature_stage is not None and self._feature_stage[0] == which:
            return self._feature_stage[1]
        complete = True
        if self.hash_set.features is not None:
            wanted = {reference.features_key for reference in media if reference.features_key}
            missing = wanted - self._features.keys()
            self._features = {key: found for key, found in self._features.items() if key in wanted}
            # An object gone (its reference being removed) is not kept: asked again with the next change.
            self._features.update({key: found for key, found in self.hash_set.features.get_many(missing).items() if found is not None})
            complete = wanted <= self._features.keys()
        if self._feature_stage is not None and self._feature_stage[0] <= which:
            # Only references added: their frames go into the index the matcher holds (merged into
            # its tables, not rebuilt). A reference removed or replaced builds the index anew.
            stage = self._feature_stage[1]
            local_feature_index([reference for reference in media if self._identity(reference) not in self._feature_stage[0]], self._features, stage.index)
        else:
            stage = LocalFeatureStage(local_feature_index(media, self._features))
        self._feature_stage = (which, stage) if complete else None
        return stage

    @staticmethod
    def _identity(reference: SnapshotReference) -> tuple:
        """What the feature stage holds of a media reference: its key, its features and its duration."""
        return (reference.key, reference.features_key, reference.duration)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
