"""PDQ index speed, memory and recall: hashmatch's PdqIndex beside FAISS's binary indexes, in one run.

Each size gets one data set: random hashes plus clustered near-duplicates (a share of the entries
are scenes of video-like frames a few bits from their scene's centre, a few of them very long),
with matches planted at distances spread over 0..31 for every query. Every index is built,
snapshotted, loaded and queried on the same data and queries in the same run, so the ratios hold
on a shared, noisy machine where absolute milliseconds drift.
Usage: python -m hashmatch_tools.bench.index [--sizes 1000000,10000000] [--out docs/index-bench.md]
FAISS (faiss-cpu, installed by `make bench-index` from requirements/bench.txt) is for comparison only: the matcher's index is numpy.
Over 450 lines on purpose: a benchmark's data, runs and report in one file, so the figures it prints can be read against the code that made them.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashmatch.hash_set.pdq_index import PdqIndex
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
RADIUS = PDQ_CONFIDENT_MATCH_THRESHOLD
SEED = 20240531

CLUSTERED_SHARE = 0.30  # entries that are frames of a scene rather than unrelated pictures
SCENE_FLIPS = 6  # a frame is its scene's centre with 0..6 bits flipped (frames within 12 bits of each other)
LONG_SCENES = 5  # scenes of 20,000 near-identical frames: the case that could make buckets blow up
LONG_SCENE_FRAMES = 20_000
QUERIES_SINGLE = 200
QUERIES_BATCH = 100
SCENE_QUERY_SHARE = 0.3  # of the single queries and the mixed batch: made from a scene's frame, so they hit that scene
PLANTED_PER_QUERY = 4
BATCH_REPEATS = 5
EXACTNESS_SAMPLE = 20  # queries checked against brute force (a full scan per query)
# IndexBinaryFlat scans every entry for every query: at this size it gets fewer single queries.
FLAT_SINGLE_LIMIT = {10_000_000: 50}


_FOOTPRINT = """
import os, sys
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
{imports}
before = rss()
index = {load}
print(rss() - before)
"""
_LOADERS = {
    "pdq": ("from hashmatch.hash_set.pdq_index import PdqIndex", "PdqIndex.read(sys.argv[1])"),
    "faiss": ("import faiss", "faiss.read_index_binary(sys.argv[1])"),
}


def load_footprint(loader: str, path: Path) -> int:
    """Bytes a fresh process grows by loading the snapshot (in this process, freed build memory would hide it)."""
    imports, load = _LOADERS[loader]
    script = _FOOTPRINT.format(imports=imports, load=load)
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def flip_bits(rows: np.ndarray, counts: np.ndarray, rng: np.random.Generator, most: int) -> np.ndarray:
    """Each row with counts[i] (<= most) distinct bits flipped."""
    rows = rows.copy()
    if most == 0 or len(rows) == 0:
        return rows
    positions = np.argsort(rng.random((len(rows), 256)), axis=1)[:, :most] if most > 8 else None
    if positions is None:  # duplicates are rare with few flips; re-draw them
        positions = rng.integers(0, 256, size=(len(rows), most))
        for _ in range(20):
            dup = (np.sort(positions, axis=1)[:, 1:] == np.sort(positions, axis=1)[:, :-1]).any(axis=1)
            if not dup.any():
                break
            positions[dup] = rng.integers(0, 256, size=(int(dup.sum()), most))
    every = np.arange(len(rows))
    for slot in range(most):
        use = counts > slot
        pos = positions[use, slot]
        rows[every[use], pos // 64] ^= np.uint64(1) << (63 - pos % 64).astype(np.uint64)
    return rows


@dataclass
class DataSet:
    hashes: np.ndarray
    queries: np.ndarray  # the single queries, then the plain batch, then the mixed batch
    planted: list[tuple[int, int]]  # (query position, entry position)
    from_scene: np.ndarray  # per query: made from a scene's frame


def make_data(size: int, rng: np.random.Generator) -> DataSet:
    hashes = rng.integers(0, 2**64, size=(size, 4), dtype=np.uint64, endpoint=False)
    scene_of = np.full(size, -1, dtype=np.int64)
    clustered = int(size * CLUSTERED_SHARE)
    long_total = min(LONG_SCENES * LONG_SCENE_FRAMES, clustered // 2)
    sizes = [LONG_SCENE_FRAMES] * (long_total // LONG_SCENE_FRAMES)
    remaining = clustered - sum(sizes)
    # Ordinary scenes: log-normal lengths around 300 frames, 20 to 5,000.
    while remaining > 0:
        draw = np.clip(rng.lognormal(np.log(300), 1.0, size=4096).astype(np.int64), 20, 5000)
        cut = np.searchsorted(np.cumsum(draw), remaining)
        sizes.extend(draw[:cut].tolist())
        remaining -= int(draw[:cut].sum())
        if cut < len(draw):
            sizes.append(remaining)
            remaining = 0
    sizes = np.array([s for s in sizes if s > 0], dtype=np.int64)
    members = rng.choice(size, size=int(sizes.sum()), replace=False)
    scene = np.repeat(np.arange(len(sizes)), sizes)
    centres = rng.integers(0, 2**64, size=(len(sizes), 4), dtype=np.uint64)
    hashes[members] = flip_bits(centres[scene], rng.integers(0, SCENE_FLIPS + 1, size=len(scene)), rng, SCENE_FLIPS)
    scene_of[members] = scene

    total_queries = QUERIES_SINGLE + 2 * QUERIES_BATCH
    queries = rng.integers(0, 2**64, size=(total_queries, 4), dtype=np.uint64)
    from_scene = rng.random(total_queries) < SCENE_QUERY_SHARE
    from_scene[QUERIES_SINGLE : QUERIES_SINGLE + QUERIES_BATCH] = False  # the plain batch: uploads that match no scene
    picks = rng.choice(members, size=int(from_scene.sum()))
    queries[from_scene] = flip_bits(hashes[picks], rng.integers(0, 9, size=len(picks)), rng, 8)
    # Planted matches overwrite unrelated entries, at distances spread evenly over 0..31.
    unrelated = np.flatnonzero(scene_of < 0)
    targets = rng.choice(unrelated, size=total_queries * PLANTED_PER_QUERY, replace=False)
    distances = np.arange(len(targets)) % (RADIUS + 1)
    rng.shuffle(distances)
    owners = np.repeat(np.arange(total_queries), PLANTED_PER_QUERY)
    hashes[targets] = flip_bits(queries[owners], distances, rng, RADIUS)
    return DataSet(hashes, queries, list(zip(owners.tolist(), targets.tolist())), from_scene)


def brute_force(hashes: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    found = set()
    for position, query in enumerate(queries):
        distances = np.zeros(len(hashes), dtype=np.uint16)
        for word in range(4):
            distances += np.bitwise_count(hashes[:, word] ^ query[word])
        hits = np.flatnonzero(distances <= radius)
        found.update((position, int(e), int(distances[e])) for e in hits)
    return found


@dataclass
class Result:
    name: str
    build_s: float = 0.0
    load_s: float = 0.0
    snapshot_bytes: int = 0
    bytes_per_entry: float = 0.0  # beyond the 32-byte hash
    memory_note: str = ""
    single_median_ms: float = 0.0
    single_p95_ms: float = 0.0
    single_count: int = 0
    unrelated_median_ms: float = 0.0  # single queries made from no scene
    unrelated_p95_ms: float = 0.0
    slowest_answers: tuple[int, int] = (0, 0)  # entries returned by the slowest 5 % of single queries
    plain_batch_ms: float = 0.0
    batch_ms: float = 0.0
    recall: float = 0.0
    exact: str = ""
    results_per_query: float = 0.0
    plain_results_per_query: float = 0.0
    notes: list[str] = field(default_factory=list)


class Candidate:
    """One index under test: build, snapshot round trip, search returning {(query, entry, distance)}."""

    name = ""
    loader = ""

    def build(self, hashes: np.ndarray) -> None: ...
    def snapshot(self, path: Path) -> None: ...
    def load(self, path: Path) -> None: ...
    def search(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def memory(self, size: int, rss_growth: int) -> tuple[float, str]: ...  # bytes per entry beyond the hash, how measured
    def close(self) -> None: ...


class PdqCandidate(Candidate):
    name = "hashmatch PdqIndex (numpy, 1 thread)"
    loader = "pdq"

    def build(self, hashes):
        self.index = PdqIndex.build(hashes, radius=RADIUS)

    def snapshot(self, path):
        self.index.write(path)

    def load(self, path):
        self.index = PdqIndex.read(path)

    def search(self, queries, workers=1):
        return self.index.search(queries, RADIUS, workers=workers)

    def memory(self, size, rss_growth):
        # The scratch array for large buckets is allocated at the first search that needs it.
        scratch = 4
        exact = self.index.index_nbytes / size
        return rss_growth / size - 32 + scratch, (
            f"RSS growth of a fresh process loading the snapshot, less the 32-byte hash, plus the 4-byte scratch slot allocated on first need "
            f"(exact array sizes: {exact:.1f} B)"
        )

    def close(self):
        self.index = None


class FaissCandidate(Candidate):
    def __init__(self, kind: str):
        import faiss

        self.faiss = faiss
        self.kind = kind
        self.loader = "faiss"
        self.name = {
            "flat": "FAISS IndexBinaryFlat",
            "multihash": "FAISS IndexBinaryMultiHash (nhash 16, b 16, nflip 1)",
        }[kind]

    def _new(self):
        if self.kind == "flat":
            return self.faiss.IndexBinaryFlat(256)
        # python-threatexchange's PDQMultiHashIndex: 16 maps of 16 bits, nflip = threshold // nhash.
        index = self.faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = RADIUS // 16
        return index

    def build(self, hashes):
        self.index = self._new()
        self.index.add(_faiss_codes(hashes))

    def snapshot(self, path):
        self.faiss.write_index_binary(self.index, str(path))

    def load(self, path):
        self.index = self.faiss.read_index_binary(str(path))
        if self.kind == "multihash":
            self.index.nflip = RADIUS // 16

    def search(self, queries):
        # FAISS's binary range_search keeps distances strictly below the radius it is given.
        limits, distances, labels = self.index.range_search(_faiss_codes(queries), RADIUS + 1)
        owners = np.repeat(np.arange(len(queries)), np.diff(limits).astype(np.int64))
        return owners, labels, distances.astype(np.uint16)

    def memory(self, size, rss_growth):
        return rss_growth / size - 32, "RSS growth of a fresh process loading the snapshot, less the 32-byte code"

    def close(self):
        self.index = None


def _faiss_codes(packed: np.ndarray) -> np.ndarray:
    """Packed hashes as FAISS's (N, 32) uint8 codes: the hash's bytes, most significant first."""
    return np.ascontiguousarray(packed.astype(">u8")).view(np.uint8).reshape(len(packed), 32)


def measure(candidate: Candidate, data: DataSet, truth: set, workdir: Path) -> Result:
    size = len(data.hashes)
    result = Result(candidate.name)
    gc.collect()
    started = time.perf_counter()
    candidate.build(data.hashes)
    result.build_s = time.perf_counter() - started

    path = workdir / "snapshot.bin"
    candidate.snapshot(path)
    result.snapshot_bytes = path.stat().st_size
    candidate.close()
    gc.collect()
    with open(path, "rb") as warm:  # time the load from the page cache, not the disk
        while warm.read(1 << 26):
            pass
    footprint = load_footprint(candidate.loader, path)
    started = time.perf_counter()
    candidate.load(path)
    result.load_s = time.perf_counter() - started
    result.bytes_per_entry, result.memory_note = candidate.memory(size, footprint)
    path.unlink()

    singles = data.queries[:QUERIES_SINGLE]
    batches = {"plain": QUERIES_SINGLE, "mixed": QUERIES_SINGLE + QUERIES_BATCH}
    limit = FLAT_SINGLE_LIMIT.get(size) if "Flat" in candidate.name else None
    if limit:
        singles = singles[:limit]
        result.notes.append(f"{limit} single queries (a full scan each)")
    candidate.search(singles[:1])  # first-call set-up (plans, thread pools) is not a query
    times, answers = [], []
    found: set[tuple[int, int]] = set()
    for position in range(len(singles)):
        started = time.perf_counter()
        q, e, _d = candidate.search(singles[position : position + 1])
        times.append(time.perf_counter() - started)
        answers.append(len(e))
        found.update((position, int(x)) for x in e)
    result.single_count = len(singles)
    times_ms = np.array(times) * 1000
    result.single_median_ms = float(np.median(times_ms))
    result.single_p95_ms = float(np.percentile(times_ms, 95))
    unrelated = ~data.from_scene[: len(singles)]
    result.unrelated_median_ms = float(np.median(times_ms[unrelated]))
    result.unrelated_p95_ms = float(np.percentile(times_ms[unrelated], 95))
    slowest = np.array(answers)[times_ms >= result.single_p95_ms]
    result.slowest_answers = (int(slowest.min()), int(slowest.max()))
    result.notes.append(
        f"single queries made from no scene ({int(unrelated.sum())}): median {result.unrelated_median_ms:.3f} ms, "
        f"p95 {result.unrelated_p95_ms:.3f} ms; the slowest 5 % of all single queries return "
        f"{result.slowest_answers[0]:,}-{result.slowest_answers[1]:,} entries each"
    )
    got: set[tuple[int, int, int]] = set()
    for name, first in batches.items():
        batch = data.queries[first : first + QUERIES_BATCH]
        batch_times = []
        for _ in range(BATCH_REPEATS):
            started = time.perf_counter()
            q, e, d = candidate.search(batch)
            batch_times.append(time.perf_counter() - started)
        found.update((first + int(a), int(b)) for a, b in zip(q, e))
        got.update((first + int(a), int(b), int(c)) for a, b, c in zip(q, e, d) if a < EXACTNESS_SAMPLE // 2)
        if name == "plain":
            result.plain_batch_ms = float(np.median(batch_times)) * 1000
            result.plain_results_per_query = len(q) / len(batch)
        else:
            result.batch_ms = float(np.median(batch_times)) * 1000
            result.results_per_query = len(q) / len(batch)

    if isinstance(candidate, PdqCandidate):  # the same batches on both cores, as a Lambda with 2 vCPUs could run them
        two = []
        for first in batches.values():
            batch = data.queries[first : first + QUERIES_BATCH]
            batch_times = []
            for _ in range(BATCH_REPEATS):
                started = time.perf_counter()
                candidate.search(batch, workers=2)
                batch_times.append(time.perf_counter() - started)
            two.append(float(np.median(batch_times)) * 1000)
        result.notes.append(f"with search(..., workers=2): batch of 100, plain {two[0]:.1f} ms, mixed {two[1]:.1f} ms")

    planted = [(qp, ep) for qp, ep in data.planted if qp < len(singles) or qp >= QUERIES_SINGLE]
    result.recall = sum((qp, ep) in found for qp, ep in planted) / len(planted)
    missing, extra = len(truth - got), len(got - truth)
    result.exact = "yes" if not missing and not extra else f"no ({missing} missing, {extra} extra)"
    candidate.close()
    gc.collect()
    return result


def table(size: int, results: list[Result]) -> str:
    ours = results[0]
    lines = [
        f"### {size:,} entries",
        "",
        "| index | build s | load s | snapshot MB | memory B/entry beyond hash | single median ms | single p95 ms "
        "| batch of 100, plain, ms | batch of 100, mixed, ms | recall of planted | exact vs brute force |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.build_s:.2f} | {r.load_s:.3f} | {r.snapshot_bytes / 1e6:.0f} | {r.bytes_per_entry:.1f} | "
            f"{r.single_median_ms:.3f} | {r.single_p95_ms:.2f} | {r.plain_batch_ms:.1f} | {r.batch_ms:.1f} | {r.recall:.2%} | {r.exact} |"
        )
    lines += ["", "Ratios, other / PdqIndex (above 1: PdqIndex is faster or smaller):", ""]
    lines += [
        "| versus | build | load | memory beyond hash | single median | single p95 | batch, plain | batch, mixed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results[1:]:
        memory = "- (stores only the hash)" if r.bytes_per_entry <= 0.5 else f"{r.bytes_per_entry / ours.bytes_per_entry:.2f}"
        lines.append(
            f"| {r.name} | {r.build_s / ours.build_s:.2f} | {r.load_s / ours.load_s:.2f} | {memory} | "
            f"{r.single_median_ms / ours.single_median_ms:.1f} | {r.single_p95_ms / ours.single_p95_ms:.1f} | "
            f"{r.plain_batch_ms / ours.plain_batch_ms:.1f} | {r.batch_ms / ours.batch_ms:.1f} |"
        )
    notes = [f"- {r.name}: {'; '.join(r.notes)}" for r in results if r.notes]
    notes += [f"- memory, {r.name}: {r.memory_note}" for r in results]
    notes.append(
        f"- results per query: plain batch {ours.plain_results_per_query:.1f} (its planted entries), "
        f"mixed batch {ours.results_per_query:.1f} (scene queries return whole scenes)"
    )
    return "\n".join(lines + [""] + notes + [""])


def targets(size: int, ours: Result) -> str:
    """The issue's targets for PdqIndex at this size, met or not, from this run's figures."""

    def verdict(value: float, limit: float, unit: str) -> str:
        return f"{value:.3g} {unit} ({'met' if value <= limit else f'missed by {value / limit:.2f}x'})"

    return "\n".join(
        [
            f"Targets for PdqIndex at {size:,} entries (10M is the size the issue names):",
            "",
            f"- batch of 100 queries <= 50 ms: plain batch {verdict(ours.plain_batch_ms, 50, 'ms')}; "
            f"mixed batch {verdict(ours.batch_ms, 50, 'ms')}",
            f"- one query <= 1 ms: median {verdict(ours.single_median_ms, 1, 'ms')}; 95th percentile {verdict(ours.single_p95_ms, 1, 'ms')} "
            f"(those return {ours.slowest_answers[0]:,}-{ours.slowest_answers[1]:,} entries each); queries made from no scene: "
            f"median {verdict(ours.unrelated_median_ms, 1, 'ms')}, 95th percentile {verdict(ours.unrelated_p95_ms, 1, 'ms')}",
            f"- recall of planted entries within 31 bits: {ours.recall:.2%}; exact vs brute force on the sample: {ours.exact}",
            f"- memory beyond the hash <= 64 B per entry: {verdict(ours.bytes_per_entry, 64, 'B')}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.index", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated entry counts")
    parser.add_argument("--out", default=str(ROOT / "docs" / "index-bench.md"), help="markdown report ('' for none)")
    parser.add_argument("--no-faiss", action="store_true", help="measure PdqIndex only")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    try:
        import faiss

        faiss_version = f"faiss-cpu {faiss.__version__} (OpenMP threads: {faiss.omp_get_max_threads()})"
    except ImportError:
        if not args.no_faiss:
            raise
        faiss_version = "no FAISS"

    sections = []
    overall = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for size in sizes:
            print(f"== {size:,} entries: making data", file=sys.stderr, flush=True)
            rng = np.random.default_rng(SEED + size)
            data = make_data(size, rng)
            truth = set()
            for first in (QUERIES_SINGLE, QUERIES_SINGLE + QUERIES_BATCH):
                sample = data.queries[first : first + EXACTNESS_SAMPLE // 2]
                truth |= {(first + q, e, d) for q, e, d in brute_force(data.hashes, sample, RADIUS)}
            candidates: list[Candidate] = [PdqCandidate()]
            if not args.no_faiss:
                candidates += [FaissCandidate("flat"), FaissCandidate("multihash")]
            results = []
            for candidate in candidates:
                print(f"   {candidate.name}", file=sys.stderr, flush=True)
                results.append(measure(candidate, data, truth, Path(tmp)))
            section = table(size, results) + "\n" + targets(size, results[0])
            print(section, flush=True)
            sections.append(section)
            del data
            gc.collect()

    elapsed = time.perf_counter() - overall
    header = [
        "# PDQ index benchmark",
        "",
        f"Run {datetime.date.today().isoformat()} with `make bench-index` (`python -m hashmatch_tools.bench.index --sizes {args.sizes}`), "
        f"{elapsed / 60:.1f} minutes in all.",
        "",
        "How PdqIndex works (multi-index hashing: 11 chunks of 23 bits, each probed within 2 bits; why it is exact; its memory "
        "layout) is the docstring of `shared/hashmatch/hash_set/pdq_index.py`.",
        "",
        f"Machine: {os.cpu_count()} cores (nproc), {platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"{faiss_version}; a shared machine, so absolute times drift "
        "and the ratios, measured in the same run on the same data, are the figures to compare.",
        "",
        f"Data per size: random 256-bit hashes, {CLUSTERED_SHARE:.0%} of entries replaced by scenes of video-like frames "
        f"(each frame its scene's centre with 0-{SCENE_FLIPS} bits flipped; scene lengths log-normal around 300 frames, 20-5,000, "
        f"plus {LONG_SCENES} scenes of {LONG_SCENE_FRAMES:,} near-identical frames), and {QUERIES_SINGLE + 2 * QUERIES_BATCH} queries, "
        f"each with {PLANTED_PER_QUERY} planted entries at distances spread evenly over 0..{RADIUS}: {QUERIES_SINGLE} single queries and "
        f"a mixed batch of {QUERIES_BATCH}, in both {SCENE_QUERY_SHARE:.0%} made from a scene frame with 0-8 bits flipped (they return "
        f"the scene, up to {LONG_SCENE_FRAMES:,} entries) and the rest random; and a plain batch of {QUERIES_BATCH} random queries "
        "(an upload that matches nothing but its planted entries, the common case).",
        "",
        f"Radius {RADIUS} (PDQ's match threshold), inclusive; FAISS's binary range_search keeps distances strictly below its radius, "
        f"so it is given {RADIUS + 1}. PdqIndex runs on one thread (numpy); IndexBinaryFlat's range_search spreads queries over "
        "the OpenMP threads (one query: one thread); IndexBinaryMultiHash's does so only above 100 queries, so a batch of 100 is one thread.",
        "",
        f"- build: from the packed (N, 4) uint64 array (FAISS: from (N, 32) uint8 codes); load: the snapshot file, already in the page cache, to a searchable index.",
        f"- single: {QUERIES_SINGLE} queries one at a time (median, 95th percentile); batch: {QUERIES_BATCH} queries in one call, median of {BATCH_REPEATS}.",
        "- recall: planted (query, entry) pairs found, over all single and batch queries.",
        f"- exact: the (query, entry, distance) set for the first {EXACTNESS_SAMPLE // 2} queries of each batch equals a numpy brute-force scan's.",
        "",
    ]
    report = "\n".join(header + sections)
    if args.out:
        Path(args.out).write_text(report)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
