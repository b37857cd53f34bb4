"""The hash set's snapshot in S3: the objects, the manifest naming them, and the store that reads and writes them.

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
The manifest names each object with the SHA-256 of each READ_PART_BYTES part of it, and is signed by the hash
set's signing key (signing.py; KMS, asymmetric: the indexer and the operators' reindex sign, matchers and the
lookup API only verify); a reader checks both before it believes a byte (ObjectAltered, ManifestUntrusted).
Objects are never overwritten, only the manifest is, and only conditionally (If-Match on the ETag
it was read with, If-None-Match for the first): two writers (the indexer on two shards, or the
indexer and an operator's `hashmatch admin hashset reindex`) cannot lose each other's changes; the one
that finds the manifest changed starts again on top of it. An object the manifest stops naming
is deleted when the next manifest is written; readers ask for the version the manifest names, so
one that is still reading it keeps it (the bucket keeps deleted versions a day).

The indexer that writes them: indexer.py; a matcher's live copy: live.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import BinaryIO, Callable, Iterable

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import CHANGED_CODES, error_code, is_missing, object_address
from hashmatch.hash_set.snapshot import HashSetChanges, HashSetSnapshot, KnownItem
from hashmatch.matching.local_features.index import LocalFeatureIndex

MANIFEST_KEY = "hash-set/manifest.json"
SNAPSHOTS_PREFIX = "hash-set/snapshots/"
CHANGES_PREFIX = "hash-set/changes/"
FEATURES_PREFIX = "hash-set/features/"
# Large objects (a local-feature snapshot is about 85 bytes a reference descriptor: 4 GB at 100,000
# frames) are read as ranges of this size on READ_THREADS threads, into one buffer.
READ_PART_BYTES = 64 * 1024 * 1024
READ_THREADS = 8
LOCAL_FEATURES_FILE = "hashmatch-local-features.bin"
# A range is copied into the buffer in pieces of this size as it arrives.
READ_CHUNK_BYTES = 1024 * 1024
# A rebuild marks the manifest while it scans, so that the indexer keeps publishing changes rather
# than folding them into a snapshot the rebuild would not see; a mark older than this is ignored
# (a rebuild that died).
REBUILD_MARK_SECONDS = 3600
_NOT_MODIFIED = frozenset({"304", "NotModified"})


class ObjectAltered(ValueError):
    """An object the manifest names does not have the digests the manifest says: altered, or not the one written."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    version_id: str | None = None
    # The SHA-256 of each READ_PART_BYTES part, as written (None in manifests from before digests: unsigned, never believed).
    sha256_parts: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "StoredObject":
        parts = data.get("sha256_parts")
        return cls(data["key"], data.get("version_id"), tuple(parts) if parts is not None else None)


def part_digests(data: bytes | memoryview) -> tuple[str, ...]:
    """The SHA-256 of each READ_PART_BYTES part of an object's bytes (one for an empty object)."""
    view = memoryview(data).cast("B")
    return tuple(hashlib.sha256(view[start : start + READ_PART_BYTES]).hexdigest() for start in range(0, max(len(view), 1), READ_PART_BYTES))


def file_part_digests(path: str) -> tuple[str, ...]:
    """part_digests of a file, read a part at a time."""
    digests = []
    with open(path, "rb") as source:
        while True:
            part = source.read(READ_PART_BYTES)
            if not part and digests:
                return tuple(digests)
            digests.append(hashlib.sha256(part).hexdigest())
            if len(part) < READ_PART_BYTES:
                return tuple(digests)


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
    census: dict | None = None  # what the set holds (snapshot.Census): items and quarantining items
    high_water: dict | None = None  # the most it held since an operator last accepted a shrink (trust.high_water)
    shrink_accepted: dict | None = None  # an operator's acceptance of a sharp shrink: by, reason, at, sequence
    held_back: tuple[str, ...] = ()  # keys whose removal (or lowering) was held back, a sharp shrink: still in the set until accepted
    signature: str | None = None  # base64 of the signing key's signature of signed_payload (None: unsigned, never believed)
    signing_key: str | None = None  # the key that signed, for people: readers verify with the key they are configured with

    def signed_payload(self) -> bytes:
        """What the signature covers: every field but the signature's own, canonical JSON, as one SHA-256 (KMS signs at most 4 KB)."""
        fields_ = {name: value for name, value in asdict(self).items() if name not in ("signature", "signing_key")}
        digest = hashlib.sha256(json.dumps(fields_, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return f"hashmatch hash-set manifest 1\n{digest}".encode()

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
        raw["snapshot"] = StoredObject.from_dict(raw["snapshot"])
        raw["changes"] = StoredObject.from_dict(raw["changes"]) if raw.get("changes") else None
        raw["retired"] = tuple(StoredObject.from_dict(stored) for stored in raw.get("retired", ()))
        raw["features"] = StoredObject.from_dict(raw["features"]) if raw.get("features") else None
        raw["held_back"] = tuple(raw.get("held_back", ()))
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
        body = response["Body"].read()
        try:
            manifest = Manifest.from_bytes(body)
        except (ValueError, KeyError, TypeError) as error:
            # Not a manifest this code wrote (a forged or damaged object): never believed, as one that fails its signature.
            raise ObjectAltered(f"{MANIFEST_KEY} is not a manifest: {type(error).__name__}: {error}"[:300]) from None
        return ManifestRead(manifest, response.get("ETag"))

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
            digests = file_part_digests(path)
            self.s3.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": "application/octet-stream"})
        finally:
            if os.path.exists(path):
                os.remove(path)
        # The key is new (never overwritten): its only version is the one just written.
        version = self.s3.head_object(Bucket=self.bucket, Key=key).get("VersionId")
        return StoredObject(key, version if version and version != "null" else None, digests)

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
        parallel straight into one buffer (given read-only: the arrays mapped over it are shared).
        Each part is checked against the manifest's digest of it as it arrives (ObjectAltered)."""
        address = object_address(self.bucket, stored.key, stored.version_id)
        first = self.s3.get_object(**address, Range=f"bytes=0-{READ_PART_BYTES - 1}")
        head = first["Body"].read()
        total = int(first.get("ContentRange", "").rpartition("/")[2] or len(head))
        parts = stored.sha256_parts
        if parts is not None and len(parts) != max(1, -(-total // READ_PART_BYTES)):
            raise ObjectAltered(f"{stored.key}: {total} bytes, not the {len(parts)} parts the manifest names")
        _check_part(stored, 0, head)
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
            _check_part(stored, start // READ_PART_BYTES, buffer[start:end])

        with ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="snapshot-read") as pool:
            list(pool.map(read, range(READ_PART_BYTES, total, READ_PART_BYTES)))
        return buffer.toreadonly()

    def _put(self, key: str, body: bytes, content_type: str) -> StoredObject:
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        version = response.get("VersionId")
        return StoredObject(key, version if version and version != "null" else None, part_digests(body))


def _check_part(stored: StoredObject, number: int, data: bytes | memoryview) -> None:
    """ObjectAltered unless this part of the object hashes to the manifest's digest of it (objects named without digests are not checked)."""
    if stored.sha256_parts is None:
        return
    if hashlib.sha256(data).hexdigest() != stored.sha256_parts[number]:
        raise ObjectAltered(f"{stored.key}: part {number} does not have the SHA-256 the manifest names")


def feature_identity(reference: KnownItem) -> tuple:
    """What the local features hold of a media reference: its key, its features and its duration."""
    return (reference.key, reference.features_key, reference.duration)


def media_digest(media: Iterable[KnownItem]) -> str:
    """One digest of the media references with features (their identities): a local-feature snapshot
    built for a set with the same digest holds the same features."""
    identities = sorted(json.dumps(list(feature_identity(reference))) for reference in media if reference.features_key)
    return hashlib.sha256("\n".join(identities).encode()).hexdigest()
