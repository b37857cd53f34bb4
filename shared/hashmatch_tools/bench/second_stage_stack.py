"""The second stage on the local stack: the whole path of one upload, and a cold matcher that maps the local-feature snapshot.

Used by the second-stage benchmark (second_stage.py), on the same reference sets and queries:

- **The whole path per upload.** Each query upload's detail pictures are put into the stack's
  details bucket as the hasher stores them (aws/detail_pictures.store_detail_pictures: one object,
  keyed by the upload's SHA-256). Per upload the matcher's own parts run, from the hashes
  message's detail-picture reference to the verdict: the loader the handler wires as
  `checker.detail_pictures` (aws/detail_pictures.detail_picture_loader: one S3 GET), then
  `Matcher.match` with the local-feature stage over the mapped snapshot (the stage's JPEG decode
  and ORB extraction, `features_of_detail_picture`, on its threads; `search_pictures`; the
  Matcher's verdicts). PDQ is not in it: this is the path of an upload PDQ did not match.
  Phases are wall seconds on the calling thread, taken by wrapping the stage's and matcher's
  module functions for the run (`Instrumented`); how the extraction splits into JPEG decode and
  ORB is the decode's share of the extraction threads' own seconds.
- **A cold matcher with the local-feature snapshot.** The set's references published as the
  indexer publishes them: a PDQ snapshot holding each reference as a media item (one random PDQ
  hash per feature frame, at its time; the local features are what this benchmark is about) and
  the local-feature snapshot the bench built, written with `SnapshotStore.write_features` and named
  by a signed manifest with `SnapshotIndexer.name_features`, as the indexer names it after a build. Then cold_matcher.py in a
  fresh process, as a new Lambda container: imports, clients, manifest, PDQ snapshot, the
  local-feature snapshot read from S3 and mapped.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

PHASES = ("S3 GET", "JPEG decode", "ORB extraction", "search and verification", "verdict", "rest")
COLD_REPEATS = 3


def decode_share(decode_seconds: float, extraction_seconds: float) -> float:
    """The share of the extraction threads' seconds that went to JPEG decode (0 when nothing was extracted)."""
    if extraction_seconds <= 0:
        return 0.0
    return min(1.0, max(0.0, decode_seconds / extraction_seconds))


def upload_phases(total: float, loader: float, extraction: float, mirror_extraction: float, search: float, verdict: float, decoding: float) -> dict[str, float]:
    """One upload's wall seconds by phase, adding up to `total`.

    `extraction` and `mirror_extraction` are the walls of the stage's extraction calls (the second inside
    `search`, whose wall includes it); `decoding` is the decode's share of extraction (decode_share).
    What no phase covers (the matcher's own bookkeeping) is "rest"."""
    extracted = extraction + mirror_extraction
    phases = {
        "S3 GET": loader,
        "JPEG decode": extracted * decoding,
        "ORB extraction": extracted * (1.0 - decoding),
        "search and verification": max(0.0, search - mirror_extraction),
        "verdict": verdict,
    }
    phases["rest"] = max(0.0, total - sum(phases.values()))
    return phases


def phase_shares(uploads: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each phase's share of the seconds of all uploads together."""
    totals = {phase: sum(upload.get(phase, 0.0) for upload in uploads) for phase in PHASES}
    whole = sum(totals.values())
    return {phase: (seconds / whole if whole > 0 else 0.0) for phase, seconds in totals.items()}


class _Seconds:
    """Seconds summed from several threads."""

    def __init__(self):
        self.total = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.total += seconds


class _TimedDecode:
    """OpenCV as orb.py uses it, with cv2.imdecode's seconds summed (every other name passes through)."""

    def __init__(self, module, seconds: _Seconds):
        self._module, self._seconds = module, seconds

    def __getattr__(self, name):
        return getattr(self._module, name)

    def imdecode(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._module.imdecode(*args, **kwargs)
        finally:
            self._seconds.add(time.perf_counter() - started)


@dataclass
class _Upload:
    loader: float = 0.0
    extraction: float = 0.0
    mirror_extraction: float = 0.0
    search: float = 0.0
    verdict: float = 0.0
    in_search: bool = False
    decode: _Seconds = field(default_factory=_Seconds)
    extract: _Seconds = field(default_factory=_Seconds)


class Instrumented(contextlib.AbstractContextManager):
    """For the length of a `with`: the stage's extraction, search and the Matcher's verdicts timed, by wrapping the module
    functions they call (stage.in_threads, stage.features_of_detail_picture, stage.search_pictures, matcher.decide, orb.cv2)."""

    def __init__(self):
        self.upload = _Upload()

    def start_upload(self) -> None:
        self.upload = _Upload()

    def __enter__(self) -> "Instrumented":
        from hashmatch.matching import matcher
        from hashmatch.matching.local_features import orb, stage

        self._saved = [(stage, "in_threads", stage.in_threads), (stage, "features_of_detail_picture", stage.features_of_detail_picture),
                       (stage, "search_pictures", stage.search_pictures), (matcher, "decide", matcher.decide), (orb, "cv2", orb.cv2)]
        in_threads, features, search, decide = stage.in_threads, stage.features_of_detail_picture, stage.search_pictures, matcher.decide

        def timed_in_threads(function, items, *args, **kwargs):
            started = time.perf_counter()
            try:
                return in_threads(function, items, *args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                if self.upload.in_search:
                    self.upload.mirror_extraction += spent
                else:
                    self.upload.extraction += spent

        def timed_features(*args, **kwargs):
            started = time.perf_counter()
            try:
                return features(*args, **kwargs)
            finally:
                self.upload.extract.add(time.perf_counter() - started)

        def timed_search(*args, **kwargs):
            self.upload.in_search = True
            started = time.perf_counter()
            try:
                return search(*args, **kwargs)
            finally:
                self.upload.search += time.perf_counter() - started
                self.upload.in_search = False

        def timed_decide(*args, **kwargs):
            started = time.perf_counter()
            try:
                return decide(*args, **kwargs)
            finally:
                self.upload.verdict += time.perf_counter() - started

        stage.in_threads, stage.features_of_detail_picture, stage.search_pictures, matcher.decide = timed_in_threads, timed_features, timed_search, timed_decide
        orb.cv2 = _TimedDecode(orb.cv2, _DecodeSink(self))
        return self

    def timed_loader(self, loader: Callable[[], Sequence]) -> Callable[[], Sequence]:
        def timed():
            started = time.perf_counter()
            try:
                return loader()
            finally:
                self.upload.loader += time.perf_counter() - started

        return timed

    def phases(self, total: float) -> dict[str, float]:
        u = self.upload
        return upload_phases(total, u.loader, u.extraction, u.mirror_extraction, u.search, u.verdict, decode_share(u.decode.total, u.extract.total))

    def __exit__(self, *exc) -> None:
        for module, name, value in self._saved:
            setattr(module, name, value)


class _DecodeSink:
    """Where _TimedDecode adds: the current upload's decode seconds."""

    def __init__(self, instrumented: Instrumented):
        self._instrumented = instrumented

    def add(self, seconds: float) -> None:
        self._instrumented.upload.decode.add(seconds)


# ---------------------------------------------------------------- the stack


def store_query_pictures(stack, pictures: Mapping[str, tuple[str, list]]):
    """Every query's detail pictures in the stack's details bucket, as the hasher stores them; where each is (by query name)."""
    from hashmatch.aws.detail_pictures import store_detail_pictures

    s3, bucket = stack.client("s3", "HashUploadFunction"), stack.ref("DetailsBucket")  # only the hasher may write there
    return {name: store_detail_pictures(s3, bucket, sha256, encoded) for name, (sha256, encoded) in pictures.items()}


@dataclass
class PathResult:
    """The whole path per upload at one size."""

    names: list[str] = field(default_factory=list)  # the uploads, in the order of the lists beside
    seconds: list[float] = field(default_factory=list)
    phases: list[dict[str, float]] = field(default_factory=list)
    matched: dict[str, set[str]] = field(default_factory=dict)


def whole_path(stack, index, durations: Mapping[str, float], queries: Iterable, stored: Mapping, note=print) -> PathResult:
    """Per upload, from the message's detail-picture reference to the verdicts: the handler's loader (one S3 GET), then
    Matcher.match with the local-feature stage over `index` (decode, ORB, search, verification, verdicts)."""
    from hashmatch.aws.detail_pictures import detail_picture_loader
    from hashmatch.matching.local_features.stage import LocalFeatureStage
    from hashmatch.matching.matcher import Matcher
    from hashmatch.model import MediaHashes

    s3 = stack.client("s3", "MatchHashesFunction")  # the matcher's own role, as the stack's policy gate judges it
    matcher = Matcher(durations, [LocalFeatureStage(index)])
    result = PathResult()
    with Instrumented() as instrumented:
        for position, query in enumerate(queries, 1):
            where = stored.get(query.name)
            if where is None:
                continue  # no detail pictures (the hasher stores none): no second stage
            # The upload as the message describes it; PDQ (not in this path) found nothing in its frames.
            upload = MediaHashes(query.kind, "jpeg" if query.kind == "image" else "mp4", 0.0, 0, 0, "", where.key.rsplit("/", 1)[-1], "upload", ())
            instrumented.start_upload()
            loader = instrumented.timed_loader(detail_picture_loader(s3, where))  # what check_upload's checker.detail_pictures(...) gives
            started = time.perf_counter()
            found = matcher.match(upload, loader)
            total = time.perf_counter() - started
            result.names.append(query.name)
            result.seconds.append(total)
            result.phases.append(instrumented.phases(total))
            result.matched[query.name] = {str(key) for key, verdict in found.verdicts.items() if verdict.match}
            if position % 100 == 0:
                note(f"  whole path: {position} uploads")
    return result


def publish_reference_set(stack, references, snapshot_file: Path, held: list, seed: int = 20261207) -> dict:
    """The set's references as the indexer publishes them: a PDQ snapshot of them as media items (one random PDQ hash per feature
    frame) and the local-feature snapshot in `snapshot_file` (LocalFeatureIndex.save, describing `held`), named by a signed manifest."""
    import shutil

    from hashmatch.aws.hash_set.indexer import Acceptance, SnapshotIndexer
    from hashmatch.aws.hash_set.signing import ManifestSigner
    from hashmatch.aws.hash_set.store import SnapshotStore, media_digest
    from hashmatch.aws.hash_set.table import HashSetTable
    from hashmatch.hash_set.snapshot import HashSetSnapshot, KnownItem, KnownItemState
    from hashmatch.vocabulary import Action

    rng = np.random.default_rng(seed)
    frames: dict[str, list[tuple[float, str]]] = {}
    for key, timestamp in zip(references.keys, references.timestamps):
        frames.setdefault(key, []).append((float(timestamp), rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()))
    media = [KnownItem(key, ("bench",), "bench references", "image" if key.startswith("image:") else "video", float(references.durations[key]), Action.REVIEW, f"bench/{key}")
             for key in frames]
    snapshot = HashSetSnapshot.of_states(KnownItemState(item, tuple(frames[item.key])) for item in media)
    store = SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket"))
    indexer = SnapshotIndexer(HashSetTable(stack.table("HashSetTable")), store, signer=ManifestSigner(stack.client("kms"), stack.attribute("ManifestSigningKey", "Arn")))
    started = time.perf_counter()
    published = indexer.publish(snapshot, accept=Acceptance("bench", "the second-stage bench's reference set replaces the last"))
    snapshot_seconds = time.perf_counter() - started

    def copy(out) -> int:
        with open(snapshot_file, "rb") as source:
            shutil.copyfileobj(source, out, 64 * 2**20)
        return snapshot_file.stat().st_size

    started = time.perf_counter()
    # The indexer's own steps after a build (SnapshotIndexer._with_features), with this build: written, then named.
    written = store.write_features(copy, published.sequence)
    if indexer.name_features(written, media_digest(media)) is None:
        raise RuntimeError("the bench's local-feature snapshot was not named by the manifest")
    return {"pdq_frames": len(references.keys), "snapshot_seconds": snapshot_seconds, "features_seconds": time.perf_counter() - started}


def cold_matchers(stack, repeats: int = COLD_REPEATS) -> dict:
    """cold_matcher.py in `repeats` fresh processes; each phase's median, and the runs."""
    from hashmatch_tools.bench.cold_matcher import run_cold

    runs = [run_cold(stack) for _ in range(repeats)]
    for run in runs:
        if run["source"] != "snapshot" or run["hash_set"]["local-feature snapshot, S3 read"] <= 0:
            raise RuntimeError(f"the cold matcher did not load both snapshots: {run}")
    phases = {name: statistics.median(run["phases"][name] for run in runs) for name in runs[0]["phases"]}
    reads = {name: statistics.median(run["hash_set"][name] for run in runs) for name in runs[0]["hash_set"]}
    ready = [sum(run["phases"].values()) for run in runs]
    return {"ready": statistics.median(ready), "ready_runs": ready, "phases": phases, "hash_set": reads,
            "peak_mb": max(run["peak_mb"] for run in runs), "wall": statistics.median(run["wall"] for run in runs)}
