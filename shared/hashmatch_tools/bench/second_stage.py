"""The local-feature second stage at 1,000 / 10,000 / 100,000 reference feature frames: the stage's brute force beside a candidate index.

For each size the reference set is the robustness suite's references plus filler frames made from
corpus photographs (second_stage_data.py beside this module says how), and every query is an upload
as the matcher sees it (the features of its detail pictures: up to 16 for a video, one for a
picture): the suite's altered copies of those references, and media in no reference set. The
second stage runs on every query alone, as it does on an upload PDQ did not match.

The index is orb.LocalFeatureIndex as the matcher uses it: its CandidateIndex chooses the frames
that go to geometric verification (orb.inliers, MIN_INLIERS). It is built once per size, as the
indexer builds it, written as the local-feature snapshot (LocalFeatureIndex.save), read back and
mapped as a matcher loads it (LocalFeatureIndex.load), and the queries run on the mapped copy; the
build beside the load is the ratio of the old way (every matcher built it) to the new. Brute force is
orb.BruteForceFeatureIndex, the stage before the index: the same verification after a vote over all
reference descriptors.
Brute force costs seconds to minutes per detail picture, so it runs on a sample (picture uploads
first, then video uploads): --brute-pictures detail pictures at each size up to --brute-full-frames,
and above it for --brute-large-seconds but never fewer than --brute-least pictures; --stop-by cuts
it short at a time of day. What each size's sample rests on (n, the rule, what 50 pictures would
take where fewer were measured) is printed beside it.

On the local stack (second_stage_stack.py; --no-stack leaves it out), in the same run: the whole
path per upload, from the detail pictures in the stack's bucket to the verdict, phase by phase;
and at --cold-sizes a cold matcher in a fresh process that loads the PDQ snapshot and maps the
local-feature snapshot, as a new Lambda container does.

Usage: python -m hashmatch_tools.bench.second_stage [--sizes 1000,10000,100000] [--brute-pictures 50] [--cold-sizes 10000,100000] [--stop-by HH:MM] [--out docs/second-stage-bench.md]
Cached in .cache/bench-second-stage (the suite, filler shards, query features); reruns only load.
Over 450 lines on purpose: a benchmark's runs and report in one file, so the figures it prints can be read against the code that made them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import os
import platform
import resource
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.local_features.index import BruteForceFeatureIndex, FeatureHit, LocalFeatureIndex
from hashmatch.matching.local_features.orb import CANDIDATES, MIN_INLIERS, SEARCH_THREADS
from hashmatch.matching.local_features.stage import MIRROR_PROBES, search_pictures
from hashmatch.matching.verdict import decide, sampling_step
from hashmatch.vocabulary import Stage
from hashmatch_tools.bench.blocks import README, Provenance, write_block, write_headline
from hashmatch_tools.bench.second_stage_data import SHARD_FRAMES, Query, ReferenceSet, ensure_shards, filler_set, load_queries, query_detail_pictures, target_set
from hashmatch_tools.bench.second_stage_stack import PHASES, PathResult, cold_matchers, phase_shares, publish_reference_set, store_query_pictures, whole_path

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
BLOCK, HEADLINE = "make bench-second-stage", "make bench-second-stage: headline"
UPLOAD_PICTURES = 16  # detail pictures of a video upload
ADDED_FRAMES = 600  # a 10-minute reference at one feature frame a second
VIDEO_BUDGET = {10_000: 0.5, 100_000: 2.0}  # issue 10: seconds of second stage per video upload
# moto (5.2.5) answers each ranged GET by reading the whole object into memory (FakeKey.value) under the key's
# lock, so a snapshot of N MB read in 64 MB ranges costs it N x N / 64 MB of copying and N MB per request in
# flight. Above this size a cold matcher on the local stack would measure moto's copying, and at 100,000
# frames (several GB) its memory beside the matcher's and the bench's copies puts the machine at risk: it is
# not run, and the doc says why.
COLD_ON_MOTO_MAX_MB = 2048


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _suite(corpus: Path, cache: Path, quick: bool) -> tuple[Path, list[dict]]:
    """The robustness suite: `make evaluate`'s own when it is built, otherwise built here."""
    from hashmatch_tools.evaluation.suite import SuiteBuilder

    shared = ROOT / ".cache" / "robustness" / ("quick" if quick else "full")
    if (shared / "manifest.json").exists():
        folder = shared
    else:
        folder = cache / ("suite-quick" if quick else "suite")
        if not (folder / "manifest.json").exists():
            SuiteBuilder(corpus, folder, quick=quick).build()
    return folder, json.loads((folder / "manifest.json").read_text())


_earlier_peak_mb = 0.0  # the process's peak before the last _restart_peak


def _peak_mb() -> float:
    """The process's peak resident memory since the last _restart_peak (Linux's VmHWM), else since it began."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _restart_peak() -> None:
    """Start measuring the peak afresh (Linux: clear_refs 5), so that a build's peak is its own and not
    the query features' made earlier in the same process; the process's peak is kept in _rss_mb."""
    global _earlier_peak_mb
    _earlier_peak_mb = max(_earlier_peak_mb, _peak_mb())
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _rss_mb() -> float:
    """The process's peak resident memory over the whole run."""
    return max(_earlier_peak_mb, _peak_mb())


def _stage(index, references: ReferenceSet):
    """Every reference frame added to a stage index (LocalFeatureIndex or BruteForceFeatureIndex) as the matcher adds them."""
    by_key: dict[str, list] = defaultdict(list)
    for frame, key in enumerate(references.keys):
        by_key[key].append(frame)
    for key, frames in by_key.items():
        index.add(key, [(float(references.timestamps[f]), references.features(f)) for f in frames], references.durations[key])
    return index


class BruteForce:
    """The stage before the index: every query descriptor against every reference descriptor (orb.BruteForceFeatureIndex)."""

    def __init__(self, references: ReferenceSet):
        self.index = _stage(BruteForceFeatureIndex(), references)
        self.index.prepare()  # stacking the descriptors is part of its load, not of the first search
        self.nbytes = int(self.index._stacked.nbytes + self.index._owner.nbytes + sum(len(f[3]) * 8 for f in self.index._frames))

    def search(self, query) -> list[FeatureHit]:
        return self.index.search(query)


class Indexed:
    """The stage as the matcher runs it: orb.LocalFeatureIndex (its CandidateIndex chooses, orb.inliers verifies)."""

    def __init__(self, references: ReferenceSet):
        self.index = _stage(LocalFeatureIndex(), references)
        self.index.prepare()
        self.nbytes = self.index.nbytes()


def _resident_mb() -> float:
    """The process's resident memory now (Linux; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Run:
    """One way of searching over one query list: per upload, what matched and how long it took."""

    seconds: dict[str, float] = field(default_factory=dict)  # query name -> second-stage seconds
    picture_seconds: list[float] = field(default_factory=list)  # per detail picture
    matched: dict[str, set[str]] = field(default_factory=dict)


def indexed_stage(index: LocalFeatureIndex, query: Query, durations: dict[str, float], run: Run) -> None:
    """The stage's find (stage.search_pictures: the verifiable pictures, the mirror probes) + the Matcher's verdicts, for one upload."""
    frames, flipped = query.frames(), query.mirrored_frames()
    started = time.perf_counter()
    verifiable, found = search_pictures(index, frames, lambda positions: [flipped[p] for p in positions])
    step = sampling_step(frames)
    recognisable = index.recognisable_seconds()
    matched = {key for key, matches in found.items() if decide(verifiable, matches, durations.get(key, 0.0), stage=Stage.LOCAL_FEATURES, threshold=MIN_INLIERS, query_step=step, recognisable_seconds=recognisable.get(key)).match}
    run.seconds[query.name] = spent = time.perf_counter() - started
    run.picture_seconds.extend([spent / max(1, len(frames))] * len(frames))
    run.matched[query.name] = matched


def brute_enough(measured: int, elapsed: float, wanted: int | None, budget: float, least: int) -> bool:
    """Whether brute force has measured enough detail pictures: `wanted` of them when given, else at least `least` and
    `budget` seconds spent (where a picture costs minutes, the budget decides how many; never fewer than `least`)."""
    if wanted is not None:
        return measured >= wanted
    return measured >= least and elapsed >= budget


def stage_of_path(path: PathResult, queries: list[Query]) -> Run:
    """The second stage's own figures from the whole path: per upload its search-and-verification and verdict seconds (the stage's
    work on features already extracted, as indexed_stage times it), spread over its detail pictures; an upload without detail
    pictures costs nothing and matches nothing."""
    counts = {q.name: len(q.counts) for q in queries}
    run = Run()
    for name, phases in zip(path.names, path.phases):
        run.seconds[name] = spent = phases["search and verification"] + phases["verdict"]
        run.picture_seconds.extend([spent / max(1, counts[name])] * counts[name])
        run.matched[name] = path.matched[name]
    for query in queries:
        if query.name not in run.seconds:
            run.seconds[query.name], run.matched[query.name] = 0.0, set()
    return run


def second_stage(search, query: Query, durations: dict[str, float], run: Run, stop: Callable[[], bool] | None = None) -> bool:
    """The stage before the index, brute force (no mirror probes, every picture counted), + the Matcher's
    verdicts for one upload; False when `stop` (asked before each picture) stopped it first."""
    frames = query.frames()
    found: dict[str, list[FrameMatch]] = {}
    total = 0.0
    for frame in frames:
        if stop is not None and stop():
            return False
        started = time.perf_counter()
        for hit in search(frame.features):
            found.setdefault(hit.reference, []).append(FrameMatch(frame.timestamp, hit.timestamp, hit.span, None, hit.inliers))
        spent = time.perf_counter() - started
        run.picture_seconds.append(spent)
        total += spent
    started = time.perf_counter()
    step = sampling_step(frames)
    matched = {key for key, matches in found.items() if decide(frames, matches, durations.get(key, 0.0), stage=Stage.LOCAL_FEATURES, threshold=MIN_INLIERS, query_step=step).match}
    run.seconds[query.name] = total + time.perf_counter() - started
    run.matched[query.name] = matched
    return True


def _brute_order(queries: list[Query]) -> list[Query]:
    """Picture uploads first (one detail picture each), altered and unrelated in turn, then video uploads."""
    def interleave(items: list[Query]) -> list[Query]:
        altered = [q for q in items if q.content]
        unrelated = [q for q in items if not q.content]
        out = []
        for i in range(max(len(altered), len(unrelated))):
            out += altered[i : i + 1] + unrelated[i : i + 1]
        return out

    # Spread over the alterations, not the first reference's alone.
    pictures = sorted((q for q in queries if q.kind == "image"), key=lambda q: (q.name.split("/")[-1], q.name))
    videos = sorted((q for q in queries if q.kind == "video"), key=lambda q: (q.name.split("/")[-1], q.name))
    return interleave(pictures) + interleave(videos)


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{np.median(values):.3f} / {np.percentile(values, 95):.3f}"


def _recall(queries: list[Query], run: Run, names: set[str] | None = None) -> tuple[int, int, int, int]:
    """(altered copies found, altered copies, unrelated uploads with any match, unrelated uploads), over `names` when given."""
    hit = total = wrong = unrelated = 0
    for query in queries:
        if query.name not in run.matched or (names is not None and query.name not in names):
            continue
        matched = run.matched[query.name]
        if query.content:
            total += 1
            hit += query.content in matched
            # A match to another reference is a false positive too, even beside the right one.
            wrong += bool(matched - {query.content})
        else:
            unrelated += 1
            wrong += bool(matched)
    return hit, total, wrong, unrelated


@dataclass
class SizeResult:
    size: int
    descriptors: int
    load_seconds: float
    features_mb: float
    index_build_seconds: float
    index_mb: float
    brute_build_seconds: float | None
    brute_mb: float | None
    indexed: Run
    brute: Run | None
    rss_mb: float
    false_positive_names: list[str]
    add_seconds: float = 0.0  # indexing a 10-minute reference added since the snapshot (600 frames), as a matcher does
    upload_seconds: list[float] = field(default_factory=list)  # 16 detail pictures searched as the stage does (SEARCH_THREADS)
    upload_one_thread: list[float] = field(default_factory=list)  # the same uploads on one thread
    save_seconds: float = 0.0  # the indexer writing the local-feature snapshot (LocalFeatureIndex.save) to a file
    snapshot_mb: float = 0.0
    read_seconds: float = 0.0  # a matcher reading the file's bytes (in a stack: a ranged S3 GET instead)
    map_seconds: float = 0.0  # LocalFeatureIndex.load over those bytes
    mapped_mb: float = 0.0  # resident memory the read and mapped snapshot added
    build_peak_mb: float = 0.0  # the build's peak above the resident memory before it (the features already held)
    path: PathResult | None = None  # the whole path per upload, from the details bucket to the verdict (local stack)
    cold: dict | None = None  # a cold matcher in a fresh process, both snapshots loaded (local stack)
    published: dict | None = None
    brute_budget: str = ""  # what decided the brute-force sample's size
    cold_not_run: str = ""  # why a cold matcher asked for at this size did not run


def measure(size: int, targets: ReferenceSet, corpus: Path, cache: Path, queries: list[Query], args, stack=None, stored=None) -> SizeResult:
    _note(f"== {size:,} reference feature frames")
    wanted = max(0, size - len(targets))
    ensure_shards(corpus, cache, -(-wanted // SHARD_FRAMES), args.jobs)  # built once, then cached: not part of the load
    started = time.perf_counter()
    references = ReferenceSet.join([targets, filler_set(corpus, cache, wanted, args.jobs)])
    load_seconds = time.perf_counter() - started
    gc.collect()
    _note(f"  {len(references):,} frames, {len(references.descriptors):,} descriptors, loaded in {load_seconds:.1f} s")

    resident_before_build = _resident_mb()
    _restart_peak()
    started = time.perf_counter()
    indexed = Indexed(references)
    index_build = time.perf_counter() - started
    index_mb = indexed.nbytes / 2**20
    build_peak_mb = _peak_mb() - resident_before_build
    _note(f"  candidate index built in {index_build:.1f} s ({index_mb:.0f} MB of tables)")
    # The indexer writes the built index as the local-feature snapshot; a matcher reads it and maps
    # it (nothing built). The searches below run on the mapped copy, as a matcher's do.
    snapshot_path = cache / f"local-features-{size}.bin"
    # What the indexer describes with it: each reference it holds (key, features key, duration), as feature_identity gives them.
    held = [[key, f"bench/{key}", float(references.durations[key])] for key in dict.fromkeys(references.keys)]
    started = time.perf_counter()
    with open(snapshot_path, "wb") as out:
        indexed.index.save(out, {"references": held})
    save_seconds = time.perf_counter() - started
    snapshot_mb = snapshot_path.stat().st_size / 2**20
    del indexed
    gc.collect()
    resident = _resident_mb()
    started = time.perf_counter()
    data = snapshot_path.read_bytes()
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index, _described = LocalFeatureIndex.load(data)
    map_seconds = time.perf_counter() - started
    mapped_mb = _resident_mb() - resident
    _note(f"  local-feature snapshot: {snapshot_mb:,.0f} MB written in {save_seconds:.1f} s; read in {read_seconds:.1f} s, mapped in {map_seconds:.3f} s (+{mapped_mb:,.0f} MB resident)")
    path = cold = published = None
    cold_not_run = ""
    if stack is not None:
        # The whole path per upload: the detail pictures from the stack's bucket to the verdict, over the mapped snapshot.
        path = whole_path(stack, index, references.durations, queries, stored, note=_note)
        _note(f"  whole path per upload: {np.median(path.seconds):.3f} s median, {np.percentile(path.seconds, 95):.3f} s p95 ({len(path.seconds)} uploads)")
        indexed_run = stage_of_path(path, queries)
    else:
        indexed_run = Run()
        for position, query in enumerate(queries, 1):
            indexed_stage(index, query, references.durations, indexed_run)
            if position % 50 == 0:
                _note(f"  index: {position}/{len(queries)} uploads")
    # 16-picture uploads, measured: the detail pictures in turn, 16 at a time, searched as the stage
    # searches an upload's pictures (stage.search_pictures: the verifiable ones, then the mirror
    # probes; on SEARCH_THREADS threads), and again on one thread.
    pictures = [pair for query in queries for pair in zip(query.frames(), query.mirrored_frames())]
    upload_seconds, upload_one_thread = [], []
    for first in range(0, len(pictures) - UPLOAD_PICTURES + 1, UPLOAD_PICTURES):
        group = pictures[first : first + UPLOAD_PICTURES]
        frames = [frame for frame, _flipped in group]
        for threads, times in ((SEARCH_THREADS, upload_seconds), (1, upload_one_thread))[: 2 if args.one_thread else 1]:
            started = time.perf_counter()
            search_pictures(index, frames, lambda positions: [group[p][1] for p in positions], threads=threads)
            times.append(time.perf_counter() - started)
    _note(f"  16-picture uploads: {np.median(upload_seconds):.3f} s median on {SEARCH_THREADS} threads" + (f", {np.median(upload_one_thread):.3f} s on one" if upload_one_thread else ""))
    # What a matcher pays when an operator adds a reference: a 10-minute one's 600 feature frames
    # (the first filler clip frames again, under new keys) indexed beside the mapped snapshot.
    added = filler_set(corpus, cache, ADDED_FRAMES, args.jobs)
    added.keys = [f"added:{key}" for key in added.keys]
    added.durations = {f"added:{key}": duration for key, duration in added.durations.items()}
    started = time.perf_counter()
    _stage(LocalFeatureIndex(), added).prepare()
    add_seconds = time.perf_counter() - started
    _note(f"  a {ADDED_FRAMES}-frame reference indexed beside it in {add_seconds:.2f} s")
    if stack is not None:
        if size in args.cold_sizes and snapshot_mb > COLD_ON_MOTO_MAX_MB:
            cold_not_run = (f"not run: its local-feature snapshot is {snapshot_mb:,.0f} MB, and moto answers each ranged GET by reading the whole "
                            f"object into memory, so reading it in 64 MB ranges would copy about {snapshot_mb * snapshot_mb / 64 / 2**20:,.1f} TB "
                            f"and hold {snapshot_mb:,.0f} MB per request in flight, beside the matcher's own copy (over {COLD_ON_MOTO_MAX_MB:,} MB "
                            "the bench does not ask moto for it)")
            _note(f"  cold matcher: {cold_not_run}")
        elif size in args.cold_sizes:
            published = publish_reference_set(stack, references, snapshot_path, held)
            _note(f"  published: PDQ snapshot ({published['pdq_frames']:,} frames) in {published['snapshot_seconds']:.1f} s, local-feature snapshot in {published['features_seconds']:.1f} s")
            cold = cold_matchers(stack)
            _note(f"  cold matcher with both snapshots: ready in {cold['ready']:.2f} s (median of {len(cold['ready_runs'])}: " + ", ".join(f"{r:.2f}" for r in cold["ready_runs"]) + ")")
    snapshot_path.unlink()

    brute_run = brute = None
    brute_build = brute_mb = None
    brute_budget = ""
    if args.brute_pictures > 0:
        wanted = args.brute_pictures if size <= args.brute_full_frames else None
        brute_budget = f"{wanted} pictures" if wanted else f"{args.brute_large_seconds:.0f} s, at least {args.brute_least} pictures"
        started = time.perf_counter()
        brute = BruteForce(references)
        brute_build = time.perf_counter() - started
        brute_mb = brute.nbytes / 2**20
        _note(f"  brute force loaded in {brute_build:.1f} s; running until {brute_budget}")
        brute_run = Run()
        began = time.perf_counter()

        cut_short = []

        def stop() -> bool:
            if args.stop_by is not None and datetime.datetime.now(datetime.timezone.utc) >= args.stop_by:
                cut_short.append(True)
                return True
            return brute_enough(len(brute_run.picture_seconds), time.perf_counter() - began, wanted, args.brute_large_seconds, args.brute_least)

        for query in _brute_order(queries):
            if not second_stage(brute.search, query, references.durations, brute_run, stop):
                break
            _note(f"  brute force: {query.name} {brute_run.seconds[query.name]:.1f} s -> {sorted(brute_run.matched[query.name]) or 'no match'}")
        if cut_short:
            brute_budget += f"; cut short by --stop-by {args.stop_by:%H:%M} UTC"
    wrong = [f"{q.name} -> {sorted(indexed_run.matched[q.name] - {q.content})}" for q in queries if indexed_run.matched[q.name] - {q.content}]
    result = SizeResult(len(references), len(references.descriptors), load_seconds, references.nbytes / 2**20, index_build,
                        index_mb, brute_build, brute_mb, indexed_run, brute_run, _rss_mb(), wrong, add_seconds,
                        upload_seconds, upload_one_thread, save_seconds, snapshot_mb, read_seconds, map_seconds, mapped_mb, build_peak_mb,
                        path, cold, published, brute_budget, cold_not_run)
    del brute, index, data, references
    gc.collect()
    return result


def path_report(results: list[SizeResult], queries: list[Query]) -> list[str]:
    """The whole path per upload and the cold matcher, where the run had a local stack."""
    lines: list[str] = []
    measured = [r for r in results if r.path is not None and r.path.seconds]
    if measured:
        lines += [
            "",
            "The whole path per upload, on the local stack (moto over HTTP): each query upload's detail pictures put into the details bucket as the "
            "hasher stores them, then what the matcher does from the message's detail-picture reference to the verdicts: the handler's loader (one S3 GET), "
            "and `Matcher.match` with the local-feature stage over the mapped snapshot (JPEG decode and ORB extraction on the stage's threads, the search "
            "and verification, the mirror probes' extraction counted as extraction, the verdicts). Seconds per upload, median / p95, and each phase's "
            "share of all uploads' seconds:",
            "",
            "| reference frames | uploads | whole path per upload | " + " | ".join(PHASES) + " | recall / false positives on this path |",
            "|---|---|---|" + "---|" * len(PHASES) + "---|",
        ]
        for r in measured:
            shares = phase_shares(r.path.phases)
            run = Run(matched=r.path.matched)
            hit, total, wrong, _unrelated = _recall(queries, run)
            lines.append(f"| {r.size:,} | {len(r.path.seconds)} | {_stats(r.path.seconds)} | " + " | ".join(f"{100 * shares[p]:.0f} %" for p in PHASES)
                         + f" | {hit}/{total} / {wrong} |")
    cold = [r for r in results if r.cold is not None]
    if cold:
        lines += [
            "",
            f"A cold matcher with the local-feature snapshot (`cold_matcher.py` in a fresh process, median of {len(cold[0].cold['ready_runs'])}): the set published "
            "to the stack as the indexer publishes it (a PDQ snapshot holding every reference as a media item, one random PDQ hash per feature frame, and the "
            "local-feature snapshot, named by a signed manifest), then the interpreter, the handler's imports, the handler module (settings, clients, Checker) "
            "and the hash set: the manifest, the PDQ snapshot, the local-feature snapshot read from S3 (64 MB ranges on 8 threads) and mapped. Seconds:",
            "",
            "| reference frames | ready (median; the runs) | interpreter | imports | handler module | manifest | PDQ snapshot | local-feature snapshot: S3 read / mapped | assembly | peak (MB) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in cold:
            c, ph, hs = r.cold, r.cold["phases"], r.cold["hash_set"]
            lines.append(
                f"| {r.size:,} | {c['ready']:.2f} ({', '.join(f'{x:.2f}' for x in c['ready_runs'])}) | {ph['interpreter']:.2f} | {ph['imports']:.2f} "
                f"| {ph['handler module (settings, clients, Checker)']:.2f} | {hs['manifest']:.3f} | {hs['snapshot']:.3f} "
                f"| {hs['local-feature snapshot, S3 read']:.2f} / {hs['local-feature snapshot, mapped']:.3f} | {hs['assembly (the matcher and its stages)']:.2f} | {c['peak_mb']:,.0f} |"
            )
    for r in results:
        if r.cold_not_run:
            lines += ["", f"A cold matcher at {r.size:,} frames: {r.cold_not_run}."]
    return lines


def brute_notes(results: list[SizeResult]) -> list[str]:
    """What each size's brute-force sample rests on, and what 50 pictures would take where fewer were measured."""
    notes = []
    for r in results:
        if r.brute is None or not r.brute.picture_seconds:
            notes.append(f"Brute force at {r.size:,} frames: not run.")
            continue
        n, median = len(r.brute.picture_seconds), float(np.median(r.brute.picture_seconds))
        note = f"Brute force at {r.size:,} frames: n={n} detail pictures measured (sample rule: {r.brute_budget}), {median:.1f} s each (median)"
        if n < 50:
            note += f"; 50 pictures would take about {50 * median / 3600:.1f} h at that median, which this run did not spend"
        notes.append(note + ".")
    return notes


def headline(results: list[SizeResult], queries: list[Query]) -> str:
    """The README's lines: per size, the whole path per upload, a 16-picture upload against brute force, the cold matcher, recall."""
    lines = ["The local-feature second stage (its candidate index) beside brute force, per number of reference feature frames:", ""]
    for r in results:
        parts = []
        if r.path is not None and r.path.seconds:
            parts.append(f"the whole path per upload, from the details bucket to the verdict, {np.median(r.path.seconds):.3f} s median ({np.percentile(r.path.seconds, 95):.2f} s p95)")
        upload = float(np.median(r.upload_seconds)) if r.upload_seconds else None
        if upload is not None:
            text = f"a 16-picture upload searched in {upload:.2f} s ({SEARCH_THREADS} threads)"
            if r.brute is not None and r.brute.picture_seconds:
                brute_16 = 16 * float(np.median(r.brute.picture_seconds))
                text += f" against brute force's ~{brute_16:,.0f} s ({brute_16 / upload:,.0f}x; brute force measured on {len(r.brute.picture_seconds)} pictures)"
            if r.size in VIDEO_BUDGET:
                text += f", issue 10's {VIDEO_BUDGET[r.size]} s budget " + ("met" if upload <= VIDEO_BUDGET[r.size] else f"missed by {100 * (upload / VIDEO_BUDGET[r.size] - 1):.0f} %")
            parts.append(text)
        if r.cold is not None:
            parts.append(f"a cold matcher with the local-feature snapshot ({r.snapshot_mb:,.0f} MB) ready in {r.cold['ready']:.2f} s")
        elif r.cold_not_run:
            parts.append("a cold matcher not run (moto's ranged reads; the doc says why)")
        hit, total, wrong, _unrelated = _recall(queries, r.indexed)
        parts.append(f"recall {hit}/{total}, {wrong} false positives of {len(queries)} uploads")
        lines.append(f"- {r.size:,} frames: " + "; ".join(parts))
    return "\n".join(lines)


def report(results: list[SizeResult], queries: list[Query], command: str, minutes: float, top: int) -> str:
    videos = {q.name for q in queries if q.kind == "video"}
    pictures = {q.name for q in queries if q.kind == "image"}
    altered = sum(bool(q.content) for q in queries)
    per_picture = [q.extract_seconds / max(1, len(q.counts)) for q in queries if q.counts]
    video_extract = [q.extract_seconds for q in queries if q.name in videos]
    lines = [
        "Loading: the reference features (the bench's cache), the index built from them (what a matcher did before the local-feature "
        "snapshot, and what the indexer does now), the snapshot written and then read and mapped as a matcher loads it (a local file here, "
        "a ranged S3 GET in a stack; the searches below run on the mapped copy), and a 600-frame reference added since the snapshot, "
        "indexed beside it as a matcher does. The build peak is the process's peak memory during the build above what it held before "
        "(the features themselves were held already; the indexer holds them too, as it reads them):",
        "",
        "| reference frames | descriptors | features (MB) | load (s) | index build (s) / in memory (MB) / build peak (MB) | snapshot written (s) / size (MB) "
        "| snapshot read (s) / mapped (s) / resident (MB) | build / (read + map) | 600-frame reference added (s) | brute-force load (s) / (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        brute = f"{r.brute_build_seconds:.1f} / {r.brute_mb:.0f}" if r.brute_build_seconds is not None else "not run"
        ratio = r.index_build_seconds / max(r.read_seconds + r.map_seconds, 1e-6)
        lines.append(
            f"| {r.size:,} | {r.descriptors:,} | {r.features_mb:.0f} | {r.load_seconds:.1f} | {r.index_build_seconds:.1f} / {r.index_mb:,.0f} / {r.build_peak_mb:,.0f} "
            f"| {r.save_seconds:.1f} / {r.snapshot_mb:,.0f} | {r.read_seconds:.2f} / {r.map_seconds:.3f} / {r.mapped_mb:,.0f} | {ratio:,.0f}x | {r.add_seconds:.2f} | {brute} |"
        )
    video_counts = [len(q.counts) for q in queries if q.kind == "video"]
    spread = f"{min(video_counts)}-{max(video_counts)}" if video_counts else "-"
    lines += path_report(results, queries)
    for r in results:
        lines += ["", f"Local-feature snapshot at {r.size:,} frames: {r.snapshot_mb:,.0f} MB ({r.snapshot_mb * 2**20 / max(1, r.descriptors):.0f} bytes a descriptor), "
                  f"read and mapped in {r.read_seconds + r.map_seconds:.2f} s against {r.index_build_seconds:.1f} s to build the index."]
    lines += [
        "",
        "Second-stage seconds, median / p95: search and verification, per detail picture and per upload (the query's own features are extra, below). "
        "The index's per-picture figure is each upload's seconds over its detail pictures (the mirror probes included); the suite's videos "
        f"have {spread} detail pictures. The first 16-picture column is 16 x the median per detail picture; the brute force is the stage "
        "before the index, which searched every picture once (no mirror probes).",
        "",
        "| reference frames | index, per detail picture | index, video upload (as in the suite) | index, picture upload | index, 16-picture upload | brute force, per detail picture (measured on n) | brute force, 16-picture upload | brute / index |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        index_video = [r.indexed.seconds[n] for n in videos]
        index_picture = [r.indexed.seconds[n] for n in pictures]
        index_16 = 16 * float(np.median(r.indexed.picture_seconds))
        if r.brute is not None and r.brute.picture_seconds:
            brute_picture = f"{_stats(r.brute.picture_seconds)} (n={len(r.brute.picture_seconds)})"
            brute_16 = 16 * float(np.median(r.brute.picture_seconds))
            brute_video, ratio = f"~{brute_16:,.0f}", f"{brute_16 / index_16:,.0f}x"
        else:
            brute_picture, brute_video, ratio = "not run", "not run", "-"
        lines.append(f"| {r.size:,} | {_stats(r.indexed.picture_seconds)} | {_stats(index_video)} | {_stats(index_picture)} | {index_16:.2f} | {brute_picture} | {brute_video} | {ratio} |")
    lines += [""] + brute_notes(results)
    lines += [
        "",
        f"16-picture uploads, measured: the {len(results[0].upload_seconds)} uploads made of the queries' detail pictures in turn, 16 at a time, "
        f"searched as the stage searches an upload (`stage.search_pictures`: the pictures with enough descriptors to verify, then {MIRROR_PROBES} of them mirrored; "
        f"{SEARCH_THREADS} threads), and the same uploads on one thread where the run was asked to (`--one-thread`). "
        "Seconds, median / p95, and the brute force's 16-picture figure over the median:",
        "",
        f"| reference frames | index, 16-picture upload ({SEARCH_THREADS} threads) | index, one thread | brute force, 16-picture upload | brute / index |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        brute_16 = 16 * float(np.median(r.brute.picture_seconds)) if r.brute is not None and r.brute.picture_seconds else None
        ratio = f"{brute_16 / float(np.median(r.upload_seconds)):,.0f}x" if brute_16 else "-"
        one = _stats(r.upload_one_thread) if r.upload_one_thread else "not measured"
        lines.append(f"| {r.size:,} | {_stats(r.upload_seconds)} | {one} | {f'~{brute_16:,.0f}' if brute_16 else 'not run'} | {ratio} |")
    for r in results:
        if r.size in VIDEO_BUDGET:
            measured = float(np.median(r.upload_seconds))
            verdict = "met" if measured <= VIDEO_BUDGET[r.size] else f"missed by {100 * (measured / VIDEO_BUDGET[r.size] - 1):.0f} %"
            lines += ["", f"Issue 10's budget at {r.size:,} frames, {VIDEO_BUDGET[r.size]} s for a 16-picture upload: {measured:.2f} s (median, "
                      f"{SEARCH_THREADS} threads; p95 {np.percentile(r.upload_seconds, 95):.2f} s"
                      + (f"; one thread {np.median(r.upload_one_thread):.2f} s" if r.upload_one_thread else "") + f"), {verdict}."]
    lines += [
        "",
        "Recall on the altered copies and uploads with a false positive (a match to any reference of other content):",
        "",
        "| reference frames | index: recall | index: false positives | brute-force sample: recall | brute-force sample: false positives | index on the same sample: recall / false positives |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        hit, total, wrong, unrelated = _recall(queries, r.indexed)
        row = f"| {r.size:,} | {hit}/{total} ({hit / max(1, total):.2f}) | {wrong} of {len(queries)} ({unrelated} unrelated) |"
        if r.brute is not None and r.brute.matched:
            names = set(r.brute.matched)
            bh, bt, bw, bu = _recall(queries, r.brute)
            ih, it, iw, iu = _recall(queries, r.indexed, names)
            row += f" {bh}/{bt} | {bw} of {len(names)} ({bu} unrelated) | {ih}/{it} / {iw} |"
        else:
            row += " not run | not run | - |"
        lines.append(row)
    lines += ["", "Recall of the index per alteration (both kinds):", ""]
    alterations = sorted({q.alteration for q in queries if q.content})
    lines.append("| alteration | " + " | ".join(f"{r.size:,}" for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for alteration in alterations:
        names = {q.name for q in queries if q.alteration == alteration}
        cells = []
        for r in results:
            hit, total, _w, _u = _recall(queries, r.indexed, names)
            cells.append(f"{hit}/{total}")
        lines.append(f"| {alteration} | " + " | ".join(cells) + " |")
    for r in results:
        if r.false_positive_names:
            lines += ["", f"False positives of the index at {r.size:,}: " + "; ".join(r.false_positive_names)]
    lines += [
        "",
        f"Queries: {altered} altered copies and {len(queries) - altered} unrelated uploads ({len(videos)} videos, {len(pictures)} pictures). "
        f"Their features (JPEG decode + ORB of each detail picture, as the stage does it, not in the times above): "
        f"{np.median(per_picture):.3f} s per detail picture (median), {np.median(video_extract) if video_extract else 0:.2f} s per suite video upload, about {16 * np.median(per_picture):.1f} s for 16 detail pictures. "
        f"Index: {top} candidate frames per detail picture. Peak memory of the process: {max(r.rss_mb for r in results):,.0f} MB.",
        "",
        f"Run on {datetime.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores shared with other work, "
        f"Python {platform.python_version()}, {minutes:.1f} min, with `{command}`.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.second_stage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="reference feature frames per set, comma-separated")
    parser.add_argument("--quick", action="store_true", help="the suite's quick subset and 1,000 frames only: a smoke run")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-second-stage")
    parser.add_argument("--jobs", type=int, default=2, help="processes building filler shards (first run only)")
    parser.add_argument("--brute-pictures", type=int, default=50, help="detail pictures brute force measures at each size up to --brute-full-frames (0: no brute force)")
    parser.add_argument("--brute-full-frames", type=int, default=100_000, help="above this many frames brute force runs for --brute-large-seconds instead")
    parser.add_argument("--brute-large-seconds", type=float, default=900.0, help="brute force's time above --brute-full-frames (it finishes the picture it is on)")
    parser.add_argument("--brute-least", type=int, default=2, help="detail pictures brute force measures above --brute-full-frames however long they take")
    parser.add_argument("--cold-sizes", default="10000,100000", help="sizes at which a cold matcher loads both snapshots from the local stack")
    parser.add_argument("--no-stack", action="store_true", help="no local stack: neither the whole path per upload nor the cold matcher")
    parser.add_argument("--one-thread", action="store_true", help="also time the 16-picture uploads on one thread")
    parser.add_argument("--stop-by", help="HH:MM (UTC): brute force stops at this time whatever its sample rule (the doc says so), for a run that must end by then")
    parser.add_argument("--smoke-queries", type=int, default=0, help="only every n-th query (a smoke run of the code; its figures are not the benchmark's)")
    parser.add_argument("--out", type=Path, help="also write the tables into this file, between its bench-second-stage marks")
    args = parser.parse_args(argv)
    args.cold_sizes = {int(text) for text in args.cold_sizes.split(",") if text}
    if args.stop_by:
        hours, minutes = (int(part) for part in args.stop_by.split(":"))
        args.stop_by = datetime.datetime.now(datetime.timezone.utc).replace(hour=hours, minute=minutes, second=0, microsecond=0)
    if not (args.corpus / "SOURCES.md").is_file():
        print(f"hashmatch_tools.bench.second_stage: error: no corpus at {args.corpus}", file=sys.stderr)
        return 2
    sizes = [1000] if args.quick and args.sizes == parser.get_default("sizes") else [int(s) for s in args.sizes.split(",")]
    cache = args.cache / "quick" if args.quick else args.cache
    cache.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    provenance = Provenance.capture(ROOT)
    command = "make bench-second-stage" if argv is None and len(sys.argv) == 1 else "python -m hashmatch_tools.bench.second_stage " + " ".join(sys.argv[1:] if argv is None else argv)
    suite, entries = _suite(args.corpus, args.cache, args.quick)
    targets = target_set(suite, entries, cache)
    queries = load_queries(args.corpus, suite, entries, cache)
    if args.smoke_queries > 1:
        queries = queries[:: args.smoke_queries]
    _note(f"{len(targets)} reference frames of the suite's references; {len(queries)} queries")
    with contextlib.ExitStack() as resources:
        stack = stored = None
        if not args.no_stack:
            from hashmatch_tools.local.stack import LocalStack

            stack = resources.enter_context(LocalStack())
            started = time.perf_counter()
            stored = store_query_pictures(stack, query_detail_pictures(args.corpus, suite, entries, cache))
            _note(f"local stack up; {len(stored)} uploads' detail pictures stored as the hasher stores them in {time.perf_counter() - started:.1f} s")
        results = []
        for size in sizes:
            results.append(measure(size, targets, args.corpus, args.cache, queries, args, stack, stored))
            # Written after each size, so that a run stopped on its way still leaves what it measured (the block says which sizes).
            text = report(results, queries, command, (time.perf_counter() - began) / 60, CANDIDATES)
            print(text if size == sizes[-1] else f"(after {size:,} frames)", flush=True)
            if args.out:
                write_block(args.out, BLOCK, text, provenance, command)
                brief = headline(results, queries)
                write_block(args.out, HEADLINE, brief, provenance, command)
                written = write_headline(HEADLINE, brief, provenance, command, [README])
                _note(f"written to {args.out}" + "".join(f" and {path.name}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
