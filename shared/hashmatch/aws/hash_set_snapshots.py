"""The hash set's snapshot in S3: written by the indexer from the table's change stream, read by matchers.

Objects in the snapshot bucket:
  hash-set/manifest.json             which snapshot and which changes make the hash set now, by
                                     key and version, with a sequence number
  hash-set/snapshots/<seq>-<id>.bin  a HashSetSnapshot (hashmatch/snapshot.py), written when the
                                     changes since the last one grow past a bound (or on a rebuild)
  hash-set/changes/<seq>-<id>.json   the HashSetChanges since that snapshot, one per stream batch
  hash-set/features/<seq>-<id>.bin   the local-feature snapshot that goes with a snapshot: the media
                                     references' features in the matcher's index, tables built
                                     (LocalFeatureIndex.save), written with the snapshot when the
                                     media changed, and only when the set has a reference-features bucket
Objects are never overwritten, only the manifest is, and only conditionally (If-Match on the ETag
it was read with, If-None-Match for the first): two writers (the indexer on two shards, or the
indexer and an operator's `hashmatch hashset reindex`) cannot lose each other's changes; the one
that finds the manifest changed starts again on top of it. An object the manifest stops naming
is deleted when the next manifest is written; readers ask for the version the manifest names, so
one that is still reading it keeps it (the bucket keeps deleted versions a day).

A matcher checks the manifest every refresh interval (a conditional GET: unchanged costs no
body), keeps the snapshot it has when the manifest names the same one, and searches it with the
changes beside it (HashSetView): a change costs a matcher what the changes hold, not the set.
Local features the same way: the local-feature snapshot is mapped as it was written (nothing is
built), its references removed or replaced since are left out of searches, and only the
references added since are read from the reference-features bucket and indexed by the matcher.
Without a manifest yet, a matcher loads the table the old way (a scan), so nothing added is missed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Callable, Iterable

from botocore.exceptions import ClientError

from hashmatch.aws.hash_set.table import RESERVED_PREFIX, HashSetTable, HashSetVersion, local_feature_index
from hashmatch.aws.s3_objects import CHANGED_CODES, error_code, is_missing, object_address
from hashmatch.matching.local_features.orb import LocalFeatureIndex, LocalFeatureLayers
from hashmatch.matching.local_features.stage import LocalFeatureStage
from hashmatch.model import FrameFeatures
from hashmatch.hash_set.snapshot import HashSetChanges, HashSetSnapshot, HashSetView, KnownItem

logger = logging.getLogger(__name__)

MANIFEST_KEY = "hash-set/manifest.json"
SNAPSHOTS_PREFIX = "hash-set/snapshots/"
CHANGES_PREFIX = "hash-set/changes/"
FEATURES_PREFIX = "hash-set/features/"
# Large objects (a local-feature snapshot is about 85 bytes a reference descriptor: 4 GB at 100,000
# frames) are read as ranges of this size on READ_THREADS threads, into one buffer.
READ_PART_BYTES = 64 * 1024 * 1024
READ_THREADS = 8
# References whose features the indexer reads at a time while it builds a local-feature snapshot.
FEATURES_BATCH = 8
LOCAL_FEATURES_FILE = "hashmatch-local-features.bin"
# A range is copied into the buffer in pieces of this size as it arrives.
READ_CHUNK_BYTES = 1024 * 1024
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
    features: StoredObject | None = None  # the local-feature snapshot (None: matchers read each reference's features)
    features_of: str | None = None  # the media it was built for (media_digest), so an unchanged set keeps it

    def rebuilding(self, now: datetime | None = None) -> bool:
        if self.rebuilding_since is None:
            return False
        now = now or datetime.now(timezone.utc)
        return now - datetime.fromisoformat(self.rebuilding_since) < timedelta(seconds=REBUILD_MARK_SECONDS)

    def named(self) -> set[StoredObject]:
        return self.named_without_features() | ({self.features} if self.features else set())

    def named_without_features(self) -> set[StoredObject]:
        return {self.snapshot} | ({self.changes} if self.changes else set())

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Manifest":
        # Fields a later version adds are ignored, so that code rolled back still reads its manifest.
        raw = {name: value for name, value in json.loads(data).items() if name in _MANIFEST_FIELDS}
        raw["snapshot"] = StoredObject(**raw["snapshot"])
        raw["changes"] = StoredObject(**raw["changes"]) if raw.get("changes") else None
        raw["retired"] = tuple(StoredObject(**stored) for stored in raw.get("retired", ()))
        raw["features"] = StoredObject(**raw["features"]) if raw.get("features") else None
        return cls(**raw)


_MANIFEST_FIELDS = frozenset(field.name for field in fields(Manifest))


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

    def read_features(self, manifest: Manifest) -> tuple[LocalFeatureIndex, dict]:
        """The local-feature snapshot the manifest names (mapped, nothing built) and what it describes."""
        if manifest.features is None:
            raise ValueError("the manifest names no local-feature snapshot")
        return LocalFeatureIndex.load(self._get(manifest.features))

    def write_features(self, write: Callable[[BinaryIO], int], sequence: int) -> StoredObject:
        """A local-feature snapshot, written by `write` to a temporary file and uploaded in parts (several GB are never one body in memory)."""
        key = f"{FEATURES_PREFIX}{sequence:012d}-{uuid.uuid4().hex[:12]}.bin"
        # One fixed path, overwritten each time: a run that timed out half way leaves no second file
        # behind in the container's local storage (sized for one).
        path = os.path.join(tempfile.gettempdir(), LOCAL_FEATURES_FILE)
        try:
            with open(path, "wb") as out:
                write(out)
            self.s3.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": "application/octet-stream"})
        finally:
            if os.path.exists(path):
                os.remove(path)
        # The key is new (never overwritten): its only version is the one just written.
        version = self.s3.head_object(Bucket=self.bucket, Key=key).get("VersionId")
        return StoredObject(key, version if version and version != "null" else None)

    def read_changes(self, manifest: Manifest) -> HashSetChanges:
        return HashSetChanges.from_bytes(bytes(self._get(manifest.changes))) if manifest.changes else HashSetChanges()

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

    def _get(self, stored: StoredObject) -> bytes | memoryview:
        """The object's bytes: its first READ_PART_BYTES, and the rest, if any, as ranges read in
        parallel straight into one buffer (given read-only: the arrays mapped over it are shared)."""
        address = object_address(self.bucket, stored.key, stored.version_id)
        first = self.s3.get_object(**address, Range=f"bytes=0-{READ_PART_BYTES - 1}")
        head = first["Body"].read()
        total = int(first.get("ContentRange", "").rpartition("/")[2] or len(head))
        if total <= len(head):
            return head
        buffer = memoryview(bytearray(total))
        buffer[: len(head)] = head
        del head

        def read(start: int) -> None:
            end = min(start + READ_PART_BYTES, total)
            at = start
            for chunk in self.s3.get_object(**address, Range=f"bytes={start}-{end - 1}")["Body"].iter_chunks(READ_CHUNK_BYTES):
                if at + len(chunk) > end:
                    raise ValueError(f"{stored.key}: a range read gave more bytes than asked for")
                buffer[at : at + len(chunk)] = chunk
                at += len(chunk)
            if at != end:
                raise ValueError(f"{stored.key}: a range read gave {at - start} bytes, not {end - start}")

        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="snapshot-read") as pool:
            list(pool.map(read, range(READ_PART_BYTES, total, READ_PART_BYTES)))
        return buffer.toreadonly()

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
    features_written: bool = False  # a new local-feature snapshot was published after it


class SnapshotIndexer:
    """Keeps the snapshot bucket up to date with the table: the changed keys of a stream batch in, a new manifest out.

    It reads each changed reference's state now (not the stream's images), so batches may repeat,
    overlap or arrive late: the result is the table as it is.
    """

    def __init__(self, hash_set: HashSetTable, store: SnapshotStore, compact_after: int = COMPACT_AFTER_CHANGES, sleep: Callable[[float], None] = time.sleep):
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
            return self._with_features(IndexerOutcome(written.manifest, len(keys), compacted=compact, attempts=attempt))
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
            return self._with_features(IndexerOutcome(written.manifest, 0, rebuilt=True, attempts=attempt))
        raise ManifestChanged(f"the manifest kept changing: {PUBLISH_ATTEMPTS} attempts")

    def _with_features(self, outcome: IndexerOutcome) -> IndexerOutcome:
        """After a manifest is published: when its snapshot's media are not those its local-feature
        snapshot was built for (a new snapshot whose media changed, or a manifest from before
        local-feature snapshots), build one and publish it.

        Outside the manifest's read-then-write window on purpose: the build takes minutes at scale, and
        its result is right beside any later manifest (matchers leave out what changed since and read
        what it lacks), so a writer that wins meanwhile costs a retry of the manifest write, not of the
        build. Should it fail or run out of time, the snapshot and changes are already published.
        """
        manifest = outcome.manifest
        if self.hash_set.features is None:
            return outcome
        # Only a new snapshot can change the media, and a manifest from before local-feature snapshots has none yet.
        if not (outcome.compacted or outcome.rebuilt or manifest.features_of is None):
            return outcome
        media = self._base(manifest).media()
        digest = media_digest(media)
        if manifest.features_of == digest:
            return outcome
        written = self._write_features(media, manifest.sequence)  # None: no reference has features (the digest is still published)
        try:
            for attempt in range(1, PUBLISH_ATTEMPTS + 1):
                read = self.store.read_manifest()
                current = read.manifest
                if current is None or current.features_of == digest:
                    break  # gone (an operator's repair), or another writer published the same media's
                retired = tuple(sorted(current.named() - current.named_without_features(), key=lambda stored: stored.key))
                updated = replace(current, sequence=current.sequence + 1, written_at=_now(), features=written, features_of=digest, retired=retired)
                try:
                    self._write(read, updated)
                except ManifestChanged:
                    # Jitter between retries, not a secret: random is right here.
                    self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
                    continue
                return replace(outcome, manifest=updated, features_written=written is not None)
        except BaseException:
            if written is not None:
                self.store.delete([written])
            raise
        if written is not None:
            self.store.delete([written])  # not published: nothing will name it
        return outcome

    def publish(self, snapshot: HashSetSnapshot, changes: HashSetChanges | None = None) -> Manifest:
        """Publish a snapshot made elsewhere as the hash set (benchmarks; the table is not read), on top of the manifest now."""
        return self._publish(self.store.read_manifest(), snapshot, changes or HashSetChanges(), None).manifest

    def _publish(self, read: ManifestRead, snapshot: HashSetSnapshot | None, changes: HashSetChanges, rebuilding_since: str | None) -> ManifestRead:
        """Write the new objects (a snapshot, or None to keep the one `read` names; the changes), then the manifest naming them."""
        earlier = read.manifest
        if snapshot is None and earlier is None:
            raise ValueError("the first manifest needs a snapshot")
        sequence = (earlier.sequence if earlier else 0) + 1
        named_before = earlier.named() if earlier else set()
        # The local-feature snapshot stays as it was (_with_features builds a new one after this is published).
        features, features_of = (earlier.features, earlier.features_of) if earlier else (None, None)
        snapshot_object = self.store.write_snapshot(snapshot, sequence) if snapshot is not None else earlier.snapshot
        frames = len(snapshot.frames) if snapshot is not None else earlier.snapshot_frames
        changes_object = self.store.write_changes(changes, sequence)
        kept = {snapshot_object, changes_object} | ({features} if features else set())
        retired = tuple(sorted(named_before - kept, key=lambda stored: stored.key))
        manifest = Manifest(sequence, snapshot_object, changes_object, frames, len(changes), _now(), rebuilding_since, retired, features, features_of)
        try:
            written = self._write(read, manifest)
        except ManifestChanged:
            self.store.delete(manifest.named() - named_before)  # this attempt's own objects
            raise
        if snapshot is not None:
            self._snapshot = (snapshot_object, snapshot)
        return written

    def _write_features(self, media: Iterable[KnownItem], sequence: int) -> StoredObject | None:
        """The local-feature snapshot of these media references: their features read FEATURES_BATCH
        references at a time, indexed (the tables built once, here, not in every matcher), written.
        None when no reference has features."""
        media = [reference for reference in media if reference.features_key]
        index, held = LocalFeatureIndex(), []
        for start in range(0, len(media), FEATURES_BATCH):
            batch = media[start : start + FEATURES_BATCH]
            found = self.hash_set.features.get_many(reference.features_key for reference in batch)
            # A reference whose features are gone or unreadable is not held: matchers read it themselves.
            readable = [reference for reference in batch if found.get(reference.features_key)]
            local_feature_index(readable, found, index)
            held += [list(_identity(reference)) for reference in readable]
        if not held:
            return None
        return self.store.write_features(lambda out: index.save(out, {"references": held}), sequence)

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


class LiveHashSet:
    """A matcher's hash set: the snapshot and the changes since it, checked every `refresh_seconds`.

    The snapshot is read again only when the indexer wrote a new one; a change in between costs
    reading the changes. Local features come from the local-feature snapshot the manifest names
    (mapped; its references removed or replaced since are left out of searches), and a reference
    it does not hold (added since, or no such snapshot yet) from the reference-features bucket,
    read once per container. Without a manifest (no indexer run yet) the table is loaded the old
    way, as its version says. A hash set without a reference-features bucket (the lookup API)
    reads no local features at all.
    """

    def __init__(
        self,
        store: SnapshotStore,
        hash_set: HashSetTable,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.hash_set = hash_set  # the table (the fallback) and the reference-features bucket
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.source = "none"  # "snapshot" or "table scan": where the loaded set came from
        self._loaded: HashSetVersion | None = None
        self._checked = float("-inf")
        self._etag: str | None = None
        self._snapshot: tuple[StoredObject, HashSetSnapshot] | None = None
        # The local-feature snapshot: its object, the index mapped from it, the references it holds (identities).
        self._feature_snapshot: tuple[StoredObject, LocalFeatureIndex, frozenset] | None = None
        self._features: dict[str, list[FrameFeatures]] = {}
        self._added: tuple[frozenset, LocalFeatureIndex] | None = None  # the references the feature snapshot lacks, indexed here
        self._feature_stage: tuple[tuple, LocalFeatureStage] | None = None

    @property
    def snapshot(self) -> HashSetSnapshot | None:
        """The snapshot this matcher holds (None before the first, or while it loads the table instead)."""
        return self._snapshot[1] if self._snapshot is not None else None

    def get(self) -> HashSetVersion:
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

    def _from_snapshot(self, manifest: Manifest) -> HashSetVersion:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            # Let the old one go before the new one arrives: two would not fit at ten million entries.
            self._snapshot = self._loaded = None
            self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
        view = HashSetView(self._snapshot[1], self.store.read_changes(manifest))
        return HashSetVersion(view, view.matcher(self.hash_set.pdq_threshold, [self._local_features(view, manifest)]), manifest.sequence)

    def _local_features(self, view: HashSetView, manifest: Manifest | None = None) -> LocalFeatureStage:
        """The media references' local features: the local-feature snapshot's, less the references it
        holds that are no longer as it holds them, beside an index of the ones it lacks; the same stage
        while both are the same."""
        if self.hash_set.features is None:
            return LocalFeatureStage()
        media = view.media()
        current = frozenset(_identity(reference) for reference in media)
        base = self._base_features(manifest)
        held = base[2] if base is not None else frozenset()
        lacking = [reference for reference in media if _identity(reference) not in held]
        added, complete = self._lacking_features(lacking)
        which = (base[0] if base is not None else None, current, added[0] if added is not None else None)
        if self._feature_stage is not None and self._feature_stage[0] == which:
            return self._feature_stage[1]
        layers = [added[1]] if added is not None else []
        if base is not None:
            gone = {key for key, _features_key, _duration in held - current}
            layers.insert(0, base[1].without(gone) if gone else base[1])
        stage = LocalFeatureStage(LocalFeatureLayers(layers))
        self._feature_stage = (which, stage) if complete else None
        return stage

    def _base_features(self, manifest: Manifest | None) -> tuple[StoredObject, LocalFeatureIndex, frozenset] | None:
        """The local-feature snapshot the manifest names, read when it is another than the one held."""
        stored = manifest.features if manifest is not None else None
        if stored is None:
            self._feature_snapshot = None
        elif self._feature_snapshot is None or self._feature_snapshot[0] != stored:
            # Everything built on the old one goes first (the matcher that searched it too): two may not fit.
            self._feature_snapshot = self._feature_stage = self._added = self._loaded = None
            self._features = {}
            self._feature_snapshot = (stored, *self._read_features(manifest))
        return self._feature_snapshot if self._feature_snapshot is not None and self._feature_snapshot[1] is not None else None

    def _read_features(self, manifest: Manifest) -> tuple[LocalFeatureIndex | None, frozenset]:
        """The local-feature snapshot and the references it holds; (None, empty) when it cannot be read,
        logged: then every reference's features are read one by one, as before there were such snapshots,
        rather than no upload being matched at all."""
        try:
            index, described = self.store.read_features(manifest)
            held = frozenset((str(key), features_key, float(duration)) for key, features_key, duration in described.get("references", ()))
            if {key for key, _features_key, _duration in held} != set(index.references):
                raise ValueError("the references it describes are not the ones its index holds")
            return index, held
        except (ClientError, ValueError, TypeError, KeyError) as error:
            logger.error("local-feature snapshot unreadable, references' features read one by one", extra={"key": manifest.features.key, "error": str(error)})
            return None, frozenset()

    def _lacking_features(self, lacking: list[KnownItem]) -> tuple[tuple[frozenset, LocalFeatureIndex] | None, bool]:
        """An index of these references' features (read per features key once per container), and
        whether every one was readable. References only added are merged into the index held;
        one removed or replaced builds it anew."""
        which = frozenset(_identity(reference) for reference in lacking)
        if not which:
            self._features, self._added = {}, None
            return None, True
        if self._added is not None and self._added[0] == which:
            return self._added, True
        wanted = {reference.features_key for reference in lacking if reference.features_key}
        missing = wanted - self._features.keys()
        self._features = {key: found for key, found in self._features.items() if key in wanted}
        # An object gone (its reference being removed) is not kept: asked again with the next change.
        self._features.update({key: found for key, found in self.hash_set.features.get_many(missing).items() if found is not None})
        complete = wanted <= self._features.keys()
        if self._added is not None and self._added[0] <= which:
            index = self._added[1]
            local_feature_index([reference for reference in lacking if _identity(reference) not in self._added[0]], self._features, index)
        else:
            index = local_feature_index(lacking, self._features)
        added = (which, index)
        self._added = added if complete else None
        return added, complete


def _identity(reference: KnownItem) -> tuple:
    """What the local features hold of a media reference: its key, its features and its duration."""
    return (reference.key, reference.features_key, reference.duration)


def media_digest(media: Iterable[KnownItem]) -> str:
    """One digest of the media references with features (their identities): a local-feature snapshot
    built for a set with the same digest holds the same features."""
    identities = sorted(json.dumps(list(_identity(reference))) for reference in media if reference.features_key)
    return hashlib.sha256("\n".join(identities).encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
