"""False positives on the negative corpus: every upload of a part through the pipeline's decision, against the reference hash set.

Each negative picture and video of the part (the evaluation part by default, on which no threshold
is chosen) is uploaded to `UploadPipeline`: hashed as the Lambda hasher hashes it, checked as the
matcher checks it, over the reference hash set loaded as a matcher loads it (the hash-set snapshot
and the local-feature snapshot, references.py). A match is a false positive: nothing in the corpus
shows a reference. The report counts the comparisons behind that figure, and the upper bound on
the false-positive rate it supports. Uploads the corpus's independence rule withheld (independence.py)
are not run, and the report says how many there were and why.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import statistics
import threading
import time
from collections import Counter
from multiprocessing import Pool
from dataclasses import dataclass, field
from pathlib import Path

from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import HashSetVersion, hash_set_matcher
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.matching.local_features.stage import LocalFeatureStage
from hashmatch.model import LocalFeatures
from hashmatch_tools.evaluation.negatives.corpus import read_manifest, taken
from hashmatch_tools.evaluation.negatives.references import hash_references, write_snapshots
from hashmatch_tools.evaluation.pipeline import Decision, DeployedSettings, UploadPipeline

CONFIDENCE = 0.95


class CountingFeatureIndex(LocalFeatureIndex):
    """The matcher's local-feature index, counting the candidate frames it verifies (each a homography fit against one reference frame)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.verifications = 0
        self.searches = 0

    def _candidates(self, query: LocalFeatures) -> list[int]:
        found = super()._candidates(query)
        with self._lock:
            self.searches += 1
            self.verifications += len(found)
        return found


def upper_bound(failures: int, trials: int, confidence: float = CONFIDENCE) -> float:
    """The exact (Clopper-Pearson) one-sided upper confidence bound on a rate seen `failures` times in `trials`.

    For 0 failures it is 1 - (1 - confidence)^(1/trials), about 3/trials at 95 % (the rule of three).
    """
    if trials <= 0:
        return 1.0
    if failures >= trials:
        return 1.0
    alpha = 1.0 - confidence

    def at_most_seen(rate: float) -> float:
        # P(X <= failures) for X ~ Binomial(trials, rate), summed in log space.
        import math

        total, term = 0.0, (1.0 - rate) ** trials
        total += term
        for k in range(1, failures + 1):
            term *= (trials - k + 1) / k * rate / (1.0 - rate)
            total += term
        return total

    low, high = failures / trials, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        if at_most_seen(middle) > alpha:
            low = middle
        else:
            high = middle
    return high


@dataclass(frozen=True)
class UploadRecord:
    """What one upload came to: its decision and what the counts need (a pipeline outcome without its hashes)."""

    path: str
    decision: Decision
    references: tuple[str, ...]
    detail: str
    hashed: bool
    usable_frames: int
    query_hashes: int  # usable frames with their mirrored, rotated and uncropped variants
    seconds: float
    searches: int  # the second stage's detail-picture searches for it
    verifications: int  # and their candidate verifications
    evidence: tuple[str, ...] = ()  # per reference matched: its signal, rule, distance or inliers and frames (from the match message)


@dataclass
class KindTally:
    kind: str
    uploads: int = 0
    decisions: Counter = field(default_factory=Counter)
    false_positives: list[UploadRecord] = field(default_factory=list)
    held: list[UploadRecord] = field(default_factory=list)
    passed_unhashed: list[UploadRecord] = field(default_factory=list)  # passed without being hashed (rejected, or the hasher raised)
    usable_frames: int = 0
    query_hashes: int = 0
    searches: int = 0
    verifications: int = 0
    seconds: list[float] = field(default_factory=list)

    def add(self, record: UploadRecord) -> None:
        self.uploads += 1
        self.decisions[record.decision] += 1
        self.seconds.append(record.seconds)
        if record.decision == Decision.MATCHED:
            self.false_positives.append(record)
        elif record.decision == Decision.HELD:
            self.held.append(record)
        elif not record.hashed:
            self.passed_unhashed.append(record)
        self.usable_frames += record.usable_frames
        self.query_hashes += record.query_hashes
        self.searches += record.searches
        self.verifications += record.verifications


def load_matcher(hash_set_path: Path, features_path: Path, pdq_threshold: int) -> tuple[HashSetVersion, HashSetSnapshot, CountingFeatureIndex]:
    """The hash set as a matcher loads it: the snapshot, and the local-feature snapshot mapped as written."""
    snapshot = HashSetSnapshot.read(hash_set_path)
    index, _described = CountingFeatureIndex.load(features_path.read_bytes())
    view = HashSetView(snapshot)
    matcher = hash_set_matcher(view, pdq_threshold, [LocalFeatureStage(index)])
    return HashSetVersion(view, matcher, 1), snapshot, index


# Each worker process's own pipeline over its own copy of the hash set (set up once by _start_worker).
_worker: dict = {}


def _start_worker(hash_set_path: Path, features_path: Path, settings: DeployedSettings) -> None:
    version, _snapshot, index = load_matcher(hash_set_path, features_path, settings.pdq_threshold)
    _worker.update(pipeline=UploadPipeline(version, settings), index=index)


def _decide(path: str) -> UploadRecord:
    pipeline, index = _worker["pipeline"], _worker["index"]
    searches, verifications = index.searches, index.verifications
    outcome = pipeline.decide(Path(path).read_bytes(), Path(path).name)
    usable = outcome.hashes.usable_frames if outcome.hashes is not None else []
    return UploadRecord(
        path, outcome.decision, outcome.references, outcome.detail, outcome.hashes is not None, len(usable), sum(len(f.query_hashes) for f in usable),
        outcome.seconds, index.searches - searches, index.verifications - verifications, outcome.evidence,
    )


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process (all its threads) and of its finished worker processes."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, workers.ru_utime + workers.ru_stime


def run(folder: Path, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    suite = args.robustness_suite if (args.robustness_suite / "manifest.json").exists() else None
    if suite is None:
        print(f"negatives: no robustness suite at {args.robustness_suite} (make evaluate builds it): its references are left out", flush=True)
    references = hash_references(folder, args.reference_frames, suite, args.processes)
    hash_set_path, features_path = write_snapshots(folder, references)
    settings = DeployedSettings.of_template()
    _version, snapshot, index = load_matcher(hash_set_path, features_path, settings.pdq_threshold)
    loaded = time.perf_counter()
    cpu_loaded = _cpu_seconds()
    pictures = [row for row in read_manifest(folder / "pictures.csv") if row["split"] == args.part and row["use"] == "still"]
    videos = [row for row in read_manifest(folder / "videos.csv") if row["split"] == args.part and row["use"] == "negative"] if (folder / "videos.csv").exists() else []
    withheld = withheld_note(pictures, videos)
    pictures, videos = [row for row in pictures if taken(row)], [row for row in videos if taken(row)]
    if args.limit is not None:
        pictures, videos = pictures[: args.limit], videos[: args.limit]
    tallies = {"picture": KindTally("picture"), "video": KindTally("video")}
    # Pictures and videos mixed evenly, so that the counts so far (printed as it goes) cover both kinds.
    jobs = sorted(
        [("picture", str(folder / row["path"]), n / len(pictures)) for n, row in enumerate(pictures)] + [("video", str(folder / row["path"]), n / len(videos)) for n, row in enumerate(videos)],
        key=lambda job: job[2],
    )
    jobs = [(kind, path) for kind, path, _position in jobs]
    kinds = {path: kind for kind, path in jobs}
    # Uploads are decided on `--processes` workers, each with its own copy of the hash set (as Lambda matchers each have theirs).
    if args.processes > 1:
        workers = Pool(args.processes, initializer=_start_worker, initargs=(hash_set_path, features_path, settings))
        decided = workers.imap(_decide, [path for _kind, path in jobs], chunksize=4)
    else:
        workers = None
        _start_worker(hash_set_path, features_path, settings)
        decided = map(_decide, [path for _kind, path in jobs])
    for number, record in enumerate(decided, 1):
        tallies[kinds[record.path]].add(record)
        if number % 100 == 0:
            so_far = ", ".join(f"{t.kind}s {t.uploads}: {t.decisions[Decision.MATCHED]} matched, {t.decisions[Decision.HELD]} held" for t in tallies.values())
            print(f"negatives: {number} of {len(jobs)} uploads decided ({time.perf_counter() - loaded:.0f} s; {so_far})", flush=True)
    if workers is not None:
        workers.close()
        workers.join()
    cpu_done = _cpu_seconds()
    cpu = {"references": cpu_loaded[0] + cpu_loaded[1], "uploads": (cpu_done[0] + cpu_done[1]) - (cpu_loaded[0] + cpu_loaded[1])}
    text = report(args.part, tallies, snapshot, index, references, loaded - started, time.perf_counter() - loaded, cpu, folder, withheld)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


def withheld_note(pictures: list[dict], videos: list[dict]) -> str:
    """What the independence rule withheld of these uploads (the part's stills and videos), and why; "" when nothing."""
    stills, moving = [row for row in pictures if not taken(row)], [row for row in videos if not taken(row)]
    if not stills and not moving:
        return ""
    reasons = {row["package"]: row["withheld"] for row in stills}
    return (
        f"Withheld by the corpus's independence rule (docs/negative-corpus.md), so not run: {len(stills):,} pictures and {len(moving):,} videos "
        f"(the videos show pictures of a withheld package); {'; '.join(f'{package}: {reason}' for package, reason in sorted(reasons.items()))}."
    )


def report(
    part: str, tallies: dict[str, KindTally], snapshot: HashSetSnapshot, index: CountingFeatureIndex, references, loading: float, evaluating: float, cpu: dict[str, float],
    folder: Path | None = None, withheld: str = "",
) -> str:
    """The Markdown report; uploads are named by their path in the corpus `folder` (the same wherever the corpus is kept)."""

    def named(record: UploadRecord) -> str:
        return str(Path(record.path).relative_to(folder)) if folder is not None and Path(record.path).is_relative_to(folder) else record.path

    frames = len(snapshot.frames)
    media = snapshot.media()
    kinds = Counter(str(item.kind) for item in media)
    uploads = sum(t.uploads for t in tallies.values())
    false_positives = sum(len(t.false_positives) for t in tallies.values())
    lines = [
        f"# False positives on the negative corpus ({part} part)",
        "",
        f"Run on {datetime.date.today().isoformat()} on {platform.machine()} (Python {platform.python_version()}), "
        f"with `python -m hashmatch_tools.evaluation.negatives evaluate --part {part}`: {loading / 60:.1f} min to hash or load the references and load the snapshots "
        f"({cpu['references'] / 60:.1f} CPU min), {evaluating / 60:.1f} min for the uploads ({cpu['uploads'] / 60:.1f} CPU min; wall times grow with whatever else runs on the machine).",
        "",
        "Recall on altered copies of this hash set's own references, on which no threshold was tuned either, is in docs/positives.md (`make evaluate-positives`).",
        "",
        f"Reference hash set: {len(media)} references ({', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))}), "
        f"**{frames:,} PDQ frames**, {len(index):,} local-feature frames ({len(index.candidate_index.descriptors):,} descriptors). "
        f"Hashed in this run: {references.hashing_seconds / 60:.1f} min of work (the rest from the cache).",
        "",
        *([withheld, ""] if withheld else []),
        "| uploads | count | matched (false positives) | held | passed | usable PDQ frames | upload x reference frames | frame comparisons | hash comparisons (with variants) | median seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for tally in tallies.values():
        lines.append(
            f"| {tally.kind}s | {tally.uploads:,} | {tally.decisions[Decision.MATCHED]} | {tally.decisions[Decision.HELD]} | {tally.decisions[Decision.PASSED]} | "
            f"{tally.usable_frames:,} | {tally.uploads * frames:,} | {tally.usable_frames * frames:,} | {tally.query_hashes * frames:,} | "
            f"{statistics.median(tally.seconds) if tally.seconds else 0:.2f} |"
        )
    lines += [
        "",
        f"Second stage (local features, run on every upload PDQ did not match): {sum(t.searches for t in tallies.values()):,} detail-picture searches "
        f"(mirror probes included), **{sum(t.verifications for t in tallies.values()):,} candidate verifications** (homography fits against one reference frame each).",
        "",
    ]
    for tally in tallies.values():
        bound = upper_bound(len(tally.false_positives), tally.uploads)
        lines.append(f"- {tally.kind}s: {len(tally.false_positives)} false positives of {tally.uploads:,}; {CONFIDENCE:.0%} upper bound on the rate per upload {bound:.2e} ({bound:.3%}).")
    bound = upper_bound(false_positives, uploads)
    lines.append(f"- all uploads: {false_positives} of {uploads:,}; {CONFIDENCE:.0%} upper bound {bound:.2e} per upload (rule of three: 3/{uploads:,} = {3 / max(1, uploads):.2e}).")
    lines.append("")
    for tally in tallies.values():
        for record in tally.false_positives:
            lines.append(f"- false positive: {named(record)} -> {'; '.join(record.evidence or record.references)}")
        for record in tally.held:
            lines.append(f"- held: {named(record)}: {record.detail}")
        for record in tally.passed_unhashed:
            lines.append(f"- not hashed: {named(record)}: {record.detail}")
    return "\n".join(lines) + "\n"
