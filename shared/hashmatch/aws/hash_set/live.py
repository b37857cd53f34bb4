"""A matcher's live copy of the hash set, from the snapshot in S3 (store.py) and the changes since it.

A matcher checks the manifest every refresh interval (a conditional GET: unchanged costs no
body), keeps the snapshot it has when the manifest names the same one, and searches it with the
changes beside it (HashSetView): a change costs a matcher what the changes hold, not the set.
Local features the same way: the local-feature snapshot is mapped as it was written (nothing is
built), its references removed or replaced since are left out of searches, and only the
references added since are read from the reference-features bucket and indexed by the matcher.
Without a manifest yet, a matcher loads the table the old way (a scan), so nothing added is missed.

A new manifest is believed only when the signing key verifies it (signing.py), each object it names has
its digests (store.py) and it is not a sharp shrink against the set held (hash_set.trust); until then, and
while S3 cannot be read, the matcher serves the last set it believed, counting each failed refresh
(HashSetRefreshFailed) and how long the set has gone unconfirmed (HashSetStaleSeconds, alarmed past the
staleness limit). A local-feature snapshot that cannot be read is tried again with back-off, not given up on.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from hashmatch.aws.hash_set.signing import ManifestSigner, ManifestUntrusted
from hashmatch.aws.hash_set.store import Manifest, ObjectAltered, SnapshotStore, StoredObject, feature_identity
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.hash_set.snapshot import Census, HashSetSnapshot, HashSetView, KnownItem
from hashmatch.hash_set.trust import DEFAULT_STALENESS_LIMIT_SECONDS, sharp_shrink
from hashmatch.usecases.ports import Metrics, NoMetrics
from hashmatch.matching.assembly import HashSetVersion, hash_set_matcher
from hashmatch.matching.local_features.index import LocalFeatureIndex, LocalFeatureLayers
from hashmatch.matching.local_features.stage import LocalFeatureStage, local_feature_index
from hashmatch.model import FrameFeatures

logger = logging.getLogger(__name__)

# A local-feature snapshot that could not be read is tried again after this many seconds, doubling up to the most.
FEATURES_RETRY_SECONDS = 5.0
FEATURES_RETRY_MOST_SECONDS = 300.0


class ShrinkNotAdopted(ValueError):
    """A signed manifest whose set is a sharp shrink against the one held, with no operator's acceptance since: not adopted."""


class StillRejected(ValueError):
    """The manifest is the one refused at the last refresh (unchanged since)."""


# What a refresh may meet that leaves the matcher serving the set it holds.
REFRESH_FAILURES = (ClientError, BotoCoreError, ObjectAltered, ManifestUntrusted, ShrinkNotAdopted, StillRejected)


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
        pdq_threshold: int,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        verifier: ManifestSigner | None = None,
        metrics: Metrics | None = None,
        staleness_limit: float = DEFAULT_STALENESS_LIMIT_SECONDS,
    ):
        self.verifier = verifier  # None: manifests are believed unsigned (tools, benchmarks); in Lambda always set
        self.metrics = metrics or NoMetrics()
        self.staleness_limit = staleness_limit
        self._confirmed = float("-inf")  # when the set held was last confirmed current (a manifest read and believed, or unchanged)
        self._held: Manifest | None = None  # the manifest of the set held
        self._rejected_etag: str | None = None  # the manifest refused at the last refresh: not read again while unchanged
        self._features_retry: tuple[float, float] | None = None  # after a local-feature snapshot failed: (when to retry, back-off)
        self.store = store
        self.hash_set = hash_set  # the table (the fallback) and the reference-features bucket
        self.pdq_threshold = pdq_threshold  # the deployed setting: every matcher this copy assembles uses it
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

    @property
    def stale_seconds(self) -> float:
        """How long the set held has gone without being confirmed current."""
        return max(0.0, self.clock() - self._confirmed)

    def get(self) -> HashSetVersion:
        now = self.clock()
        if self._loaded is not None and now - self._checked < self.refresh_seconds:
            return self._loaded
        try:
            self._refresh()
        except REFRESH_FAILURES as failure:
            if self._loaded is None:
                raise  # nothing believed yet: nothing to serve (the batch fails and comes back)
            # Serve what was believed last; try again after the refresh interval, not on every upload.
            self._checked = now
            stale = self.stale_seconds
            self.metrics.count("HashSetRefreshFailed")
            self.metrics.seconds("HashSetStaleSeconds", round(stale, 3))
            log = logger.error if stale > self.staleness_limit else logger.warning
            log("hash set not refreshed: serving the one held", extra={"reason": f"{type(failure).__name__}: {failure}"[:500], "held_sequence": self._loaded.version, "stale_seconds": round(stale, 1)})
            return self._loaded
        self._checked = self._confirmed = now
        return self._loaded

    def _refresh(self) -> None:
        """Read the manifest (unchanged costs no body) and take the set it names if it is to be believed."""
        asked = self._rejected_etag or (self._etag if self.source == "snapshot" else None)
        read = self.store.read_manifest(asked)
        if read.unchanged:
            if self._rejected_etag is not None:
                raise StillRejected("the manifest is the one refused before, unchanged")
            if self._held is not None and self._features_retry is not None and self.clock() >= self._features_retry[0]:
                self._loaded = self._assemble(self._held)  # the local-feature snapshot's back-off is over: try it again
            return
        if read.manifest is None:
            if self._loaded is None or self.source != "table scan" or self.hash_set.version() != self._loaded.version:
                self._loaded, self._etag, self.source = self._from_table(), None, "table scan"
            return
        try:
            self._believe(read.manifest)
            self._loaded = self._from_snapshot(read.manifest)
        except REFRESH_FAILURES:
            self._rejected_etag = read.etag
            self.metrics.count("ManifestsRejected")
            raise
        self._rejected_etag = None
        self._held, self._etag, self.source = read.manifest, read.etag, "snapshot"

    def _believe(self, manifest: Manifest) -> None:
        """ManifestUntrusted unless the signing key verifies it; ShrinkNotAdopted when its set is a sharp shrink against the
        set held and no operator accepted a shrink since."""
        if self.verifier is not None:
            self.verifier.verify(manifest)
        held = Census.from_dict(self._held.census) if self._held is not None else None
        offered = Census.from_dict(manifest.census)
        if held is None or offered is None:
            return
        shrink = sharp_shrink(held, offered)
        accepted = manifest.shrink_accepted or {}
        if shrink is not None and int(accepted.get("sequence", 0)) <= self._held.sequence:
            raise ShrinkNotAdopted(f"manifest {manifest.sequence}: {shrink}, and no shrink was accepted since manifest {self._held.sequence}")

    def _from_snapshot(self, manifest: Manifest) -> HashSetVersion:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            # Let the old one go before the new one arrives: two would not fit at ten million entries. Should the new
            # one not arrive whole (S3, or its digests), the one held is read again, so that it is still served.
            self._snapshot = self._loaded = None
            try:
                self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
            except REFRESH_FAILURES:
                if self._held is not None:
                    self._snapshot = (self._held.snapshot, self.store.read_snapshot(self._held))
                    self._loaded = self._assemble(self._held)
                raise
        return self._assemble(manifest)

    def _assemble(self, manifest: Manifest) -> HashSetVersion:
        view = HashSetView(self._snapshot[1], self.store.read_changes(manifest))
        return HashSetVersion(view, hash_set_matcher(view, self.pdq_threshold, [self._local_features(view, manifest)]), manifest.sequence)

    def _from_table(self) -> HashSetVersion:
        return version_from_table(self.hash_set, self.pdq_threshold)

    def _local_features(self, view: HashSetView, manifest: Manifest | None = None) -> LocalFeatureStage:
        """The media references' local features: the local-feature snapshot's, less the references it
        holds that are no longer as it holds them, beside an index of the ones it lacks; the same stage
        while both are the same."""
        if self.hash_set.features is None:
            return LocalFeatureStage()
        media = view.media()
        current = frozenset(feature_identity(reference) for reference in media)
        base = self._base_features(manifest)
        held = base[2] if base is not None else frozenset()
        lacking = [reference for reference in media if feature_identity(reference) not in held]
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
        failed_before = self._feature_snapshot is not None and self._feature_snapshot[0] == stored and self._feature_snapshot[1] is None
        if stored is None:
            self._feature_snapshot = None
        elif self._feature_snapshot is None or self._feature_snapshot[0] != stored or (failed_before and self._features_retry is not None and self.clock() >= self._features_retry[0]):
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
        except (ClientError, BotoCoreError, ValueError, TypeError, KeyError) as error:
            # Tried again after a back-off (a transient error must not cost the container's life); meanwhile each
            # reference's features are read one by one, as before there were such snapshots.
            backoff = min(self._features_retry[1] * 2, FEATURES_RETRY_MOST_SECONDS) if self._features_retry else FEATURES_RETRY_SECONDS
            self._features_retry = (self.clock() + backoff, backoff)
            self.metrics.count("LocalFeatureSnapshotFailed")
            logger.error("local-feature snapshot unreadable, references' features read one by one", extra={"key": manifest.features.key, "error": str(error), "retry_in_seconds": backoff})
            return None, frozenset()
        self._features_retry = None
        return index, held

    def _lacking_features(self, lacking: list[KnownItem]) -> tuple[tuple[frozenset, LocalFeatureIndex] | None, bool]:
        """An index of these references' features (read per features key once per container), and
        whether every one was readable. References only added are merged into the index held;
        one removed or replaced builds it anew."""
        which = frozenset(feature_identity(reference) for reference in lacking)
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
            local_feature_index([reference for reference in lacking if feature_identity(reference) not in self._added[0]], self._features, index)
        else:
            index = local_feature_index(lacking, self._features)
        added = (which, index)
        self._added = added if complete else None
        return added, complete


def version_from_table(table: HashSetTable, pdq_threshold: int) -> HashSetVersion:
    """The whole set from a scan of the table, tagged with the version read before it (before the indexer's first snapshot).
    With a reference-features bucket, the references' local features are read too."""
    version = table.version()
    view = HashSetView(table.snapshot())
    media = view.media()
    features = table.features.get_many({r.features_key for r in media if r.features_key}) if table.features is not None else {}
    return HashSetVersion(view, hash_set_matcher(view, pdq_threshold, [LocalFeatureStage(local_feature_index(media, features))]), version)


def live_hash_set(settings, s3, dynamodb, kms, metrics: Metrics | None = None) -> LiveHashSet:
    """A function's live copy of the hash set from its settings (the matcher's; the lookup API's, whose settings name no
    reference-features bucket, without local features), believing only manifests its signing key verifies."""
    from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

    bucket = getattr(settings, "reference_features_bucket", None)
    features = ReferenceFeaturesBucket(s3, bucket) if bucket else None
    return LiveHashSet(
        SnapshotStore(s3, settings.snapshot_bucket),
        HashSetTable(dynamodb.Table(settings.hash_set_table), features),
        settings.pdq_match_threshold,
        settings.hash_set_refresh_seconds,
        verifier=ManifestSigner(kms, settings.manifest_key_id),
        metrics=metrics,
        staleness_limit=settings.hash_set_staleness_limit_seconds,
    )
