"""The hash set's snapshot in S3: written by the indexer from the table's change stream, read by matchers.

Objects in the snapshot bucket (versioned: a reader asks for the versions the manifest names,
so a write never changes what it is reading; superseded versions expire):
  hash-set/snapshot       a HashSetSnapshot (hashmatch/snapshot.py), rewritten only when the
                          changes since it grow past a bound (or on a rebuild)
  hash-set/changes        the HashSetChanges since that snapshot (JSON), rewritten per stream batch
  hash-set/manifest.json  which versions of the two go together, and a sequence number

A matcher checks the manifest every refresh interval (a conditional GET: unchanged costs no
body), keeps the snapshot it has when the manifest names the same one, and searches it with the
changes beside it (HashSetView): a change costs a matcher what the changes hold, not the set.
Only the indexer writes here (reserved concurrency 1); without a manifest yet, a matcher loads
the table the old way (a scan) so that nothing added is ever missed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable

from botocore.exceptions import ClientError

from hashmatch.aws.hash_set import RESERVED_PREFIX, HashSet, LoadedHashSet, local_feature_index
from hashmatch.aws.s3_objects import error_code, is_missing, object_address
from hashmatch.local_features.stage import LocalFeatureStage
from hashmatch.model import FrameFeatures
from hashmatch.snapshot import HashSetChanges, HashSetSnapshot, HashSetView

SNAPSHOT_KEY = "hash-set/snapshot"
CHANGES_KEY = "hash-set/changes"
MANIFEST_KEY = "hash-set/manifest.json"
# The changes are folded into a new snapshot once they hold this many PDQ frames and entries:
# every matcher reads all of them on each change, and searches them by brute force beside the index.
COMPACT_AFTER_FRAMES = 20_000
_NOT_MODIFIED = frozenset({"304", "NotModified"})


@dataclass(frozen=True)
class Manifest:
    """Which snapshot and which changes make the hash set now (S3 version ids), numbered by the indexer."""

    sequence: int  # one more with every write of the indexer
    snapshot_version: str
    changes_version: str | None  # None: no change since the snapshot
    snapshot_frames: int
    changes: int  # references and entries changed since the snapshot
    written_at: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        return cls(**json.loads(data))


@dataclass(frozen=True)
class ManifestRead:
    manifest: Manifest | None  # None: there is none (the indexer has not written yet), or unchanged
    etag: str | None
    unchanged: bool = False


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
        body = self.s3.get_object(**object_address(self.bucket, SNAPSHOT_KEY, manifest.snapshot_version))["Body"].read()
        return HashSetSnapshot.from_bytes(body)

    def read_changes(self, manifest: Manifest) -> HashSetChanges:
        if manifest.changes_version is None:
            return HashSetChanges()
        body = self.s3.get_object(**object_address(self.bucket, CHANGES_KEY, manifest.changes_version))["Body"].read()
        return HashSetChanges.from_bytes(body)

    def _put(self, key: str, body: bytes, content_type: str) -> str:
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        version = response.get("VersionId")
        if not version or version == "null":
            raise RuntimeError(f"bucket {self.bucket} must have versioning enabled (the manifest names object versions)")
        return version

    def publish(self, sequence: int, snapshot: HashSetSnapshot | None, changes: HashSetChanges, earlier: Manifest | None) -> Manifest:
        """Write a new snapshot (or keep the earlier one, snapshot=None) and the changes since it, then the manifest naming both."""
        if snapshot is not None:
            snapshot_version, snapshot_frames = self._put(SNAPSHOT_KEY, snapshot.to_bytes(), "application/octet-stream"), len(snapshot.frames)
        elif earlier is not None:
            snapshot_version, snapshot_frames = earlier.snapshot_version, earlier.snapshot_frames
        else:
            raise ValueError("the first publication needs a snapshot")
        changes_version = self._put(CHANGES_KEY, changes.to_bytes(), "application/json") if len(changes) else None
        manifest = Manifest(sequence, snapshot_version, changes_version, snapshot_frames, len(changes), _now())
        self.s3.put_object(Bucket=self.bucket, Key=MANIFEST_KEY, Body=manifest.to_bytes(), ContentType="application/json")
        return manifest


@dataclass(frozen=True)
class IndexerOutcome:
    manifest: Manifest
    changed: int  # keys of this batch
    rebuilt: bool  # a snapshot from a table scan (there was none)
    compacted: bool  # the changes folded into a new snapshot


class HashSetIndexer:
    """Keeps the snapshot bucket up to date with the table: the changed keys of a stream batch in, a new manifest out.

    It reads each changed reference's state now (not the stream's images), so batches may repeat,
    overlap or arrive late: the result is the table as it is.
    """

    def __init__(self, hash_set: HashSet, store: SnapshotStore, compact_after_frames: int = COMPACT_AFTER_FRAMES):
        self.hash_set = hash_set
        self.store = store
        self.compact_after_frames = compact_after_frames
        self._snapshot: tuple[str, HashSetSnapshot] | None = None  # the last one read or written, by version

    def rebuild(self) -> IndexerOutcome:
        """A snapshot of the whole table (a consistent scan), no changes: the first run, or an operator's repair."""
        earlier = self.store.read_manifest().manifest
        snapshot = self.hash_set.snapshot()
        manifest = self.store.publish((earlier.sequence if earlier else 0) + 1, snapshot, HashSetChanges(), earlier)
        self._snapshot = (manifest.snapshot_version, snapshot)
        return IndexerOutcome(manifest, 0, rebuilt=True, compacted=False)

    def apply(self, keys: Iterable[str]) -> IndexerOutcome | None:
        """Fold the current state of these references (partition keys) into the snapshot's changes; None when none is a reference."""
        keys = {key for key in keys if not key.startswith(RESERVED_PREFIX)}
        if not keys:
            return None
        earlier = self.store.read_manifest().manifest
        if earlier is None:
            outcome = self.rebuild()  # the scan already holds these changes
            return IndexerOutcome(outcome.manifest, len(keys), rebuilt=True, compacted=False)
        changes = self.store.read_changes(earlier).then(self.hash_set.current(keys))
        if changes.frames <= self.compact_after_frames:
            manifest = self.store.publish(earlier.sequence + 1, None, changes, earlier)
            return IndexerOutcome(manifest, len(keys), rebuilt=False, compacted=False)
        snapshot = self._base(earlier).patched(changes)
        manifest = self.store.publish(earlier.sequence + 1, snapshot, HashSetChanges(), earlier)
        self._snapshot = (manifest.snapshot_version, snapshot)
        return IndexerOutcome(manifest, len(keys), rebuilt=False, compacted=True)

    def _base(self, manifest: Manifest) -> HashSetSnapshot:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot_version:
            self._snapshot = (manifest.snapshot_version, self.store.read_snapshot(manifest))
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
        self._snapshot: tuple[str, HashSetSnapshot] | None = None
        self._features: dict[str, list[FrameFeatures] | None] = {}
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
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot_version:
            # Let the old one go before the new one arrives: two would not fit at ten million entries.
            self._snapshot = self._loaded = None
            self._snapshot = (manifest.snapshot_version, self.store.read_snapshot(manifest))
        view = HashSetView(self._snapshot[1], self.store.read_changes(manifest))
        return LoadedHashSet(view, view.matcher(self.hash_set.pdq_threshold, [self._local_features(view)]), manifest.sequence)

    def _local_features(self, view: HashSetView) -> LocalFeatureStage:
        """The media references' local features, read once per features key; the same stage while the media are the same."""
        media = view.media()
        which = frozenset((reference.key, reference.features_key, reference.duration) for reference in media)
        if self._feature_stage is not None and self._feature_stage[0] == which:
            return self._feature_stage[1]
        if self.hash_set.features is not None:
            wanted = {reference.features_key for reference in media if reference.features_key}
            missing = wanted - self._features.keys()
            self._features = {key: found for key, found in self._features.items() if key in wanted}
            self._features.update(self.hash_set.features.get_many(missing))
        stage = LocalFeatureStage(local_feature_index(media, self._features))
        self._feature_stage = (which, stage)
        return stage


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
