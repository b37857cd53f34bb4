"""A matcher's live copy of the hash set, from the snapshot in S3 (store.py) and the changes since it.

A matcher checks the manifest every refresh interval (a conditional GET: unchanged costs no
body), keeps the snapshot it has when the manifest names the same one, and searches it with the
changes beside it (HashSetView): a change costs a matcher what the changes hold, not the set.
Local features the same way: the local-feature snapshot is mapped as it was written (nothing is
built), its references removed or replaced since are left out of searches, and only the
references added since are read from the reference-features bucket and indexed by the matcher.
Without a manifest yet, a matcher loads the table the old way (a scan), so nothing added is missed.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from botocore.exceptions import ClientError

from hashmatch.aws.hash_set.store import Manifest, SnapshotStore, StoredObject, feature_identity
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView, KnownItem
from hashmatch.matching.assembly import HashSetVersion, hash_set_matcher
from hashmatch.matching.local_features.index import LocalFeatureIndex, LocalFeatureLayers
from hashmatch.matching.local_features.stage import LocalFeatureStage, local_feature_index
from hashmatch.model import FrameFeatures

logger = logging.getLogger(__name__)


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
    ):
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
                self._loaded, self._etag, self.source = self._from_table(), None, "table scan"
        self._checked = now
        return self._loaded

    def _from_snapshot(self, manifest: Manifest) -> HashSetVersion:
        if self._snapshot is None or self._snapshot[0] != manifest.snapshot:
            # Let the old one go before the new one arrives: two would not fit at ten million entries.
            self._snapshot = self._loaded = None
            self._snapshot = (manifest.snapshot, self.store.read_snapshot(manifest))
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


def live_hash_set(s3, dynamodb, *, hash_set_table: str, snapshot_bucket: str, pdq_match_threshold: int, refresh_seconds: float, reference_features_bucket: str | None = None) -> LiveHashSet:
    """A function's live copy of the hash set (the matcher's; the lookup API's without local features), from its settings."""
    from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

    features = ReferenceFeaturesBucket(s3, reference_features_bucket) if reference_features_bucket else None
    return LiveHashSet(SnapshotStore(s3, snapshot_bucket), HashSetTable(dynamodb.Table(hash_set_table), features), pdq_match_threshold, refresh_seconds)
