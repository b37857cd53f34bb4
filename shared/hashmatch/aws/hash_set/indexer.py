"""The indexer: keeps the snapshot bucket up to date with the hash-set table, a stream batch's changed keys in, a new manifest out.

Objects are never overwritten, only the manifest is, and only conditionally (store.py): two writers
(the indexer on two shards, or the indexer and an operator's `hashmatch admin hashset reindex`) cannot
lose each other's changes; the one that finds the manifest changed starts again on top of it.

Every manifest it writes is signed (signing.py) and carries the set's census; it believes only a manifest
its key verifies (one it does not is rebuilt over, from the table), and it does not publish a sharp
shrink (hash_set.trust) unless an operator accepts it (`rebuild(accept=...)`: `hashmatch admin hashset
accept-shrink`): of a batch that would shrink the set sharply, the changes that weaken it (removals,
allow-list marks, quarantine lowered to review) are held back, named in the manifest, and the rest published,
so additions never wait on a removal. A partition whose items cannot be read is skipped and named, never
allowed to stop the rest.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from hashmatch.aws.hash_set.signing import ManifestSigner, ManifestUntrusted
from hashmatch.aws.hash_set.store import MANIFEST_KEY, Manifest, ManifestChanged, ManifestRead, ObjectAltered, SnapshotStore, StoredObject, feature_identity, media_digest
from hashmatch.aws.hash_set.table import RESERVED_PREFIX, HashSetTable
from hashmatch.clock import now
from hashmatch.hash_set.snapshot import Census, HashSetChanges, HashSetSnapshot, HashSetView, KnownItem, KnownItemState
from hashmatch.hash_set.trust import Shrink, high_water, sharp_shrink
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.matching.local_features.stage import local_feature_index
from hashmatch.vocabulary import Action

# References whose features the indexer reads at a time while it builds a local-feature snapshot.
FEATURES_BATCH = 8
# The changes are folded into a new snapshot once they hold this many keys and frames: every
# matcher reads all of them on each change, and searches them by brute force beside the index.
COMPACT_AFTER_CHANGES = 20_000
# Attempts at publishing when another writer changed the manifest in between.
PUBLISH_ATTEMPTS = 8


class ShrinkRefused(RuntimeError):
    """The set would shrink sharply (hash_set.trust): not published until an operator accepts it (hashmatch admin hashset accept-shrink)."""

    def __init__(self, shrink: Shrink):
        super().__init__(f"not published: {shrink}; if that is meant, run `hashmatch admin hashset accept-shrink --reason ...`")
        self.shrink = shrink


@dataclass(frozen=True)
class Acceptance:
    """An operator's acceptance of a sharp shrink: who, and why (kept in the manifest it lets through)."""

    by: str
    reason: str


@dataclass(frozen=True)
class IndexerOutcome:
    manifest: Manifest | None  # None: nothing was published (shrink_refused)
    changed: int  # keys of this batch
    rebuilt: bool = False  # a snapshot from a table scan
    compacted: bool = False  # the changes folded into a new snapshot
    attempts: int = 1  # 2 and more: another writer changed the manifest in between
    features_written: bool = False  # a new local-feature snapshot was published after it
    skipped: dict | None = None  # keys whose items could not be read (key -> why): left as they were
    shrink_refused: Shrink | None = None  # the batch was not published: it would have shrunk the set sharply
    untrusted: str | None = None  # why the manifest found was not believed (rebuilt over from the table)


class SnapshotIndexer:
    """Keeps the snapshot bucket up to date with the table: the changed keys of a stream batch in, a new manifest out.

    It reads each changed reference's state now (not the stream's images), so batches may repeat,
    overlap or arrive late: the result is the table as it is.
    """

    def __init__(
        self,
        hash_set: HashSetTable,
        store: SnapshotStore,
        compact_after: int = COMPACT_AFTER_CHANGES,
        sleep: Callable[[float], None] = time.sleep,
        signer: ManifestSigner | None = None,
    ):
        self.hash_set = hash_set
        self.store = store
        self.compact_after = compact_after
        self.sleep = sleep
        self.signer = signer  # None: manifests unsigned (tools and tests without a key; matchers with one refuse them)
        self._snapshot: tuple[StoredObject, HashSetSnapshot] | None = None  # the last one read or written

    def _read(self) -> tuple[ManifestRead, str | None]:
        """The manifest as it is now, believed only when the signing key verifies it; one that is not is read as none
        (with its ETag, so that the next write replaces it conditionally), and why is returned beside it."""
        try:
            read = self.store.read_manifest()
        except ObjectAltered as altered:
            etag = self.store.s3.head_object(Bucket=self.store.bucket, Key=MANIFEST_KEY).get("ETag")
            return ManifestRead(None, etag), str(altered)
        if read.manifest is None or self.signer is None:
            return read, None
        try:
            self.signer.verify(read.manifest)
        except ManifestUntrusted as untrusted:
            return ManifestRead(None, read.etag), str(untrusted)
        return read, None

    def apply(self, keys: Iterable[str]) -> IndexerOutcome | None:
        """Fold the current state of these references (partition keys) into the published changes; None when none is a reference."""
        keys = {key for key in keys if not key.startswith(RESERVED_PREFIX)}
        if not keys:
            return None
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            read, untrusted = self._read()
            if read.manifest is None:
                # The first, or one not to be believed: a scan of the table (which holds these changes) replaces it.
                return self._rebuild_over(len(keys), untrusted)
            earlier = read.manifest
            current, skipped = self.hash_set.readable_current(keys)
            try:
                earlier_changes = self.store.read_changes(earlier)
                current, held, shrink = self._hold_back_weakening(earlier, earlier_changes, current)
                changes = earlier_changes.then(current)
            except ObjectAltered as altered:
                return self._rebuild_over(len(keys), str(altered))
            compact = changes.size > self.compact_after and not earlier.rebuilding()
            try:
                if compact:
                    written = self._publish(read, self._base(earlier).patched(changes), HashSetChanges(), earlier.rebuilding_since, held_back=held)
                else:
                    written = self._publish(read, None, changes, earlier.rebuilding_since, held_back=held)
            except ShrinkRefused as refused:
                return IndexerOutcome(None, len(keys), shrink_refused=refused.shrink, skipped=skipped or None)
            except ObjectAltered as altered:
                # The snapshot it names is not what was signed: a scan of the table replaces it.
                return self._rebuild_over(len(keys), str(altered))
            except ManifestChanged:
                # Jitter between retries, not a secret: random is right here.
                self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
                continue
            return self._with_features(IndexerOutcome(written.manifest, len(keys), compacted=compact, attempts=attempt, skipped=skipped or None, shrink_refused=shrink))
        raise ManifestChanged(f"the manifest kept changing: {PUBLISH_ATTEMPTS} attempts")

    def _hold_back_weakening(self, earlier: Manifest, earlier_changes: HashSetChanges, current: HashSetChanges) -> tuple[HashSetChanges, tuple[str, ...], Shrink | None]:
        """This batch's changes as they may be published: all of them, unless together they shrink the set sharply; then those
        that weaken it (a key removed, or a quarantining one lowered) are held back and the rest go on. Returns the changes to
        publish, the keys held back (with those held back before and not changed since), and the shrink refused, if any."""
        base = self._base(earlier)
        before = HashSetView(base, earlier_changes)
        still_held = tuple(sorted(set(earlier.held_back) - set(current.changed)))
        shrink = sharp_shrink(Census.from_dict(earlier.high_water) or Census.from_dict(earlier.census), HashSetView(base, earlier_changes.then(current)).census())
        if shrink is None:
            return current, still_held, None

        def weakens(key: str, state: KnownItemState | None) -> bool:
            try:
                was = before.describe(key)
            except KeyError:
                return False  # nothing there to weaken
            return state is None or (was.action == Action.QUARANTINE and state.item.action != Action.QUARANTINE)

        weakening = {key for key, state in current.changed.items() if weakens(key, state)}
        kept = HashSetChanges({key: state for key, state in current.changed.items() if key not in weakening})
        return kept, tuple(sorted(set(still_held) | weakening)), shrink

    def _rebuild_over(self, changed: int, untrusted: str | None) -> IndexerOutcome:
        """A rebuild in place of a batch's changes: there is no manifest yet, or the one there is not believed."""
        try:
            return replace(self.rebuild(), changed=changed, untrusted=untrusted)
        except ShrinkRefused as refused:
            return IndexerOutcome(None, changed, shrink_refused=refused.shrink, untrusted=untrusted)

    def rebuild(self, accept: Acceptance | None = None) -> IndexerOutcome:
        """A snapshot of the whole table (a consistent scan): the first run, or an operator's repair. Raises ShrinkRefused
        when it would shrink the set sharply, unless `accept` (an operator's acceptance, kept in the manifest).

        The scan can take minutes. The manifest is marked first, so the indexer publishes its changes
        meanwhile without folding them into a new snapshot; at the end the keys it published are read
        again and published with the scan, on top of the manifest as it is then.
        """
        read, _untrusted = self._read()
        started_from = self._mark_rebuilding(read).manifest if read.manifest is not None else None
        snapshot, skipped = self.hash_set.readable_snapshot()
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            read, _untrusted = self._read()
            changes = HashSetChanges()
            if read.manifest is not None:
                if started_from is not None and read.manifest.snapshot != started_from.snapshot:
                    raise ManifestChanged("the indexer wrote a new snapshot while the table was scanned (its rebuild mark had expired): run the rebuild again")
                try:
                    changes, more = self.hash_set.readable_current(self.store.read_changes(read.manifest).changed)
                    skipped.update(more)
                except ObjectAltered:
                    changes = HashSetChanges()  # the scan holds every change anyway
            try:
                written = self._publish(read, snapshot, changes, None, accept)
            except ManifestChanged:
                # Jitter between retries, not a secret: random is right here.
                self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
                continue
            return self._with_features(IndexerOutcome(written.manifest, 0, rebuilt=True, attempts=attempt, skipped=skipped or None))
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
        published = self.name_features(written, digest)
        if published is None:
            return outcome
        return replace(outcome, manifest=published, features_written=written is not None)

    def name_features(self, written: StoredObject | None, digest: str) -> Manifest | None:
        """Name a local-feature snapshot already written (`written`; None: no reference has features) as the one
        for the media whose digest is `digest`, in the manifest as it is now, retrying when another writer wins.
        None when nothing was named: the manifest is gone, or another writer named one for the same media; then,
        as when this fails, the written snapshot is deleted (nothing will name it)."""
        try:
            for attempt in range(1, PUBLISH_ATTEMPTS + 1):
                read, _untrusted = self._read()
                current = read.manifest
                if current is None or current.features_of == digest:
                    break  # gone (an operator's repair), or another writer published the same media's
                retired = tuple(sorted(current.named() - current.named_without_features(), key=lambda stored: stored.key))
                updated = replace(current, sequence=current.sequence + 1, written_at=now(), features=written, features_of=digest, retired=retired)
                try:
                    return self._write(read, updated).manifest
                except ManifestChanged:
                    # Jitter between retries, not a secret: random is right here.
                    self.sleep(random.uniform(0.05, 0.2) * attempt)  # nosec B311
        except BaseException:
            if written is not None:
                self.store.delete([written])
            raise
        if written is not None:
            self.store.delete([written])  # not published: nothing will name it
        return None

    def publish(self, snapshot: HashSetSnapshot, changes: HashSetChanges | None = None, accept: Acceptance | None = None) -> Manifest:
        """Publish a snapshot made elsewhere as the hash set (benchmarks; the table is not read), on top of the manifest now."""
        return self._publish(self._read()[0], snapshot, changes or HashSetChanges(), None, accept).manifest

    def _publish(self, read: ManifestRead, snapshot: HashSetSnapshot | None, changes: HashSetChanges, rebuilding_since: str | None, accept: Acceptance | None = None, held_back: tuple[str, ...] = ()) -> ManifestRead:
        """Write the new objects (a snapshot, or None to keep the one `read` names; the changes), then the manifest naming them.
        Raises ShrinkRefused, writing nothing, when the set would shrink sharply against the most it held (its high-water
        mark) and no operator accepts it."""
        earlier = read.manifest
        if snapshot is None and earlier is None:
            raise ValueError("the first manifest needs a snapshot")
        census = HashSetView(snapshot if snapshot is not None else self._base(earlier), changes).census()
        before = (Census.from_dict(earlier.high_water) or Census.from_dict(earlier.census)) if earlier else None
        shrink = sharp_shrink(before, census)
        if shrink is not None and accept is None:
            raise ShrinkRefused(shrink)
        accepted = {"by": accept.by, "reason": accept.reason, "at": now(), "shrink": str(shrink) if shrink else None} if accept is not None else None
        sequence = (earlier.sequence if earlier else 0) + 1
        named_before = earlier.named() if earlier else set()
        # The local-feature snapshot stays as it was (_with_features builds a new one after this is published).
        features, features_of = (earlier.features, earlier.features_of) if earlier else (None, None)
        snapshot_object = self.store.write_snapshot(snapshot, sequence) if snapshot is not None else earlier.snapshot
        frames = len(snapshot.frames) if snapshot is not None else earlier.snapshot_frames
        changes_object = self.store.write_changes(changes, sequence)
        kept = {snapshot_object, changes_object} | ({features} if features else set())
        retired = tuple(sorted(named_before - kept, key=lambda stored: stored.key))
        manifest = Manifest(
            sequence, snapshot_object, changes_object, frames, len(changes), now(), rebuilding_since, retired, features, features_of,
            census=census.to_dict(),
            high_water=(census if accept is not None else high_water(before, census)).to_dict(),
            shrink_accepted={**accepted, "sequence": sequence} if accepted else (earlier.shrink_accepted if earlier else None),
            held_back=tuple(held_back),
        )
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
            held += [list(feature_identity(reference)) for reference in readable]
        if not held:
            return None
        return self.store.write_features(lambda out: index.save(out, {"references": held}), sequence)

    def _mark_rebuilding(self, read: ManifestRead) -> ManifestRead:
        """The same objects, marked: a rebuild's scan is running."""
        marked_at = now()
        return self._write(read, replace(read.manifest, sequence=read.manifest.sequence + 1, written_at=marked_at, rebuilding_since=marked_at, retired=()))

    def _write(self, read: ManifestRead, manifest: Manifest) -> ManifestRead:
        """Sign the manifest and write it if it is still the one `read` found, then delete what the one before had retired."""
        if self.signer is not None:
            manifest = self.signer.sign(manifest)
        etag = self.store.write_manifest(manifest, read)
        if read.manifest is not None:
            self.store.delete(read.manifest.retired)
        return ManifestRead(manifest, etag)

    def _base(self, manifest: Manifest) -> HashSetSnapshot:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
        return self._snapshot[1]


def index_changes(indexer: SnapshotIndexer, keys: Iterable[str], records: int, log, metrics) -> IndexerOutcome | None:
    """One stream batch of `records` naming these keys, indexed, counted and logged. Any exception fails the batch
    (Lambda retries it; a retry re-reads the state, so it is safe)."""
    started = time.perf_counter()
    outcome = indexer.apply(keys)
    seconds = round(time.perf_counter() - started, 3)
    if outcome is None:
        log.info("no reference changed", records=records)
        return None
    if outcome.skipped:
        # One malformed item stops nothing else: its key keeps the state it had, and someone should look at it.
        metrics.count("HashSetItemsSkipped", len(outcome.skipped))
        log.error("hash-set items skipped: they cannot be read", skipped=dict(list(outcome.skipped.items())[:50]))
    if outcome.untrusted:
        metrics.count("ManifestsRejected")
        log.error("the manifest found was not believed: rebuilt from the table", reason=outcome.untrusted)
    if outcome.shrink_refused is not None:
        metrics.count("SnapshotShrinkRefused")
        held = outcome.manifest.held_back if outcome.manifest is not None else ()
        log.error("hash set not shrunk: removals held back until an operator accepts them", shrink=str(outcome.shrink_refused), held_back=len(held), first_held_back=list(held[:20]), records=records, changed=outcome.changed)
    if outcome.manifest is None:
        return outcome
    manifest = outcome.manifest
    metrics.count("ReferencesIndexed", outcome.changed)
    metrics.seconds("IndexerSeconds", seconds)
    if outcome.compacted or outcome.rebuilt:
        metrics.count("SnapshotsWritten")
    log.info(
        "hash set indexed",
        records=records,
        changed=outcome.changed,
        sequence=manifest.sequence,
        rebuilt=outcome.rebuilt,
        compacted=outcome.compacted,
        snapshot_frames=manifest.snapshot_frames,
        local_feature_snapshot=manifest.features.key if manifest.features else None,
        changes=manifest.changed,
        attempts=outcome.attempts,
        seconds=seconds,
    )
    return outcome


def reindex(indexer: SnapshotIndexer, log, metrics, accept: Acceptance | None = None) -> dict:
    """The snapshot rebuilt from the whole table (an operator's repair), counted and logged; what was done, as a dict.
    A sharp shrink is not published unless `accept`: the answer says so (refused) and nothing is written."""
    started = time.perf_counter()
    try:
        outcome = indexer.rebuild(accept)
    except ShrinkRefused as refused:
        metrics.count("SnapshotShrinkRefused")
        log.error("hash set not rebuilt: it would shrink sharply", shrink=str(refused.shrink))
        return {"published": False, "refused": str(refused)}
    if outcome.skipped:
        metrics.count("HashSetItemsSkipped", len(outcome.skipped))
        log.error("hash-set items skipped: they cannot be read", skipped=dict(list(outcome.skipped.items())[:50]))
    manifest = outcome.manifest
    metrics.count("SnapshotsWritten")
    answer = {"published": True, "sequence": manifest.sequence, "snapshot_frames": manifest.snapshot_frames, "census": manifest.census, "skipped": outcome.skipped or {}, "seconds": round(time.perf_counter() - started, 3)}
    log.info("hash set rebuilt", **answer, shrink_accepted=manifest.shrink_accepted if accept else None)
    return answer
