"""PDQ index speed, memory and recall: hashmatch's PdqIndex beside FAISS's binary indexes, in one run.

Each size gets one data set: random hashes plus clustered near-duplicates (a share of the entries
are scenes of video-like frames a few bits from their scene's centre, a few of them very long),
with matches planted at distances spread over 0..31 for every query, half of them in the worst
spread for PdqIndex's chunks (bits.worst_case_spread: at 31 bits one chunk alone within its
threshold). Every index is built, snapshotted, loaded and queried on the same data and queries in
the same run, with the same threads (batches at 1 thread each and at 2 each: PdqIndex's workers,
FAISS's OpenMP threads), so the ratios hold on a shared, noisy machine where absolute milliseconds
drift. Every index's answer to 1,000 more queries is checked against a numpy brute-force scan.
Usage: python -m hashmatch_tools.bench.index [--sizes 1000000,10000000] [--out docs/index-bench.md]
FAISS (faiss-cpu, installed by `make bench-index` from requirements/bench.txt) is for comparison only: the matcher's index is numpy.
Over 450 lines on purpose: a benchmark's data, runs and report in one file, so the figures it prints can be read against the code that made them.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashmatch.hash_set.pdq_index import PdqIndex
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.bench.bits import flip, flip_random, pdq_index_layout, random_spread, worst_case_spread
from hashmatch_tools.bench.blocks import README, Provenance, write_block, write_headline

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
EXACTNESS_QUERIES = 1000  # more queries, each index's whole answer checked against brute force (a full scan per query)
THREADS = (1, 2)  # every index's batches at each of these thread counts
BLOCK, HEADLINE = "make bench-index", "make bench-index: headline"
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
    """Each row with counts[i] (<= most) distinct bits flipped at random (bits.flip_random)."""
    return flip_random(rows, np.minimum(counts, most), rng)


def plant(queries: np.ndarray, distances: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An entry per query at the given distance, every other one in the worst spread for PdqIndex's chunks."""
    layout = pdq_index_layout(RADIUS)
    return np.stack(
        [flip(query, worst_case_spread(int(d), layout, rng) if i % 2 else random_spread(int(d), rng)) for i, (query, d) in enumerate(zip(queries, distances))]
    ) if len(queries) else np.zeros((0, 4), np.uint64)


@dataclass
class DataSet:
    hashes: np.ndarray
    queries: np.ndarray  # the single queries, then the plain batch, then the mixed batch, then the exactness queries
    planted: list[tuple[int, int]]  # (query position, entry position)
    from_scene: np.ndarray  # per query: made from a scene's frame

    @property
    def exactness(self) -> slice:
        return slice(QUERIES_SINGLE + 2 * QUERIES_BATCH, QUERIES_SINGLE + 2 * QUERIES_BATCH + EXACTNESS_QUERIES)


def make_data(size: int, rng: np.random.Generator, exactness_queries: int = EXACTNESS_QUERIES) -> DataSet:
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

    total_queries = QUERIES_SINGLE + 2 * QUERIES_BATCH + exactness_queries
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
    hashes[targets] = plant(queries[owners], distances, rng)
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
    plain_batch_ms: float = 0.0  # at 1 thread
    batch_ms: float = 0.0  # at 1 thread
    batches_ms: dict[int, tuple[float, float]] = field(default_factory=dict)  # threads -> (plain, mixed) batch ms
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
    def search(self, queries: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def memory(self, size: int, rss_growth: int) -> tuple[float, str]: ...  # bytes per entry beyond the hash, how measured
    def close(self) -> None: ...


class PdqCandidate(Candidate):
    name = "hashmatch PdqIndex (numpy)"
    loader = "pdq"

    def build(self, hashes):
        self.index = PdqIndex.build(hashes, radius=RADIUS)

    def snapshot(self, path):
        self.index.write(path)

    def load(self, path):
        self.index = PdqIndex.read(path)

    def search(self, queries, threads=1):
        return self.index.search(queries, RADIUS, workers=threads)

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

    def search(self, queries, threads=1):
        self.faiss.omp_set_num_threads(threads)
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
    for threads in THREADS:  # the same batches, every index with the same threads
        medians = []
        for name, first in batches.items():
            batch = data.queries[first : first + QUERIES_BATCH]
            candidate.search(batch, threads)  # a first call per thread count: pools and plans are set up, not timed
            batch_times = []
            for _ in range(BATCH_REPEATS):
                started = time.perf_counter()
                q, e, d = candidate.search(batch, threads)
                batch_times.append(time.perf_counter() - started)
            found.update((first + int(a), int(b)) for a, b in zip(q, e))
            medians.append(float(np.median(batch_times)) * 1000)
            if threads == 1 and name == "plain":
                result.plain_results_per_query = len(q) / len(batch)
            if threads == 1 and name == "mixed":
                result.results_per_query = len(q) / len(batch)
        result.batches_ms[threads] = (medians[0], medians[1])
    result.plain_batch_ms, result.batch_ms = result.batches_ms[1]

    # Exactness: the whole answer to EXACTNESS_QUERIES more queries (in batches of QUERIES_BATCH) against brute force.
    first = data.exactness.start
    got: set[tuple[int, int, int]] = set()
    for start in range(data.exactness.start, data.exactness.stop, QUERIES_BATCH):
        q, e, d = candidate.search(data.queries[start : start + QUERIES_BATCH], max(THREADS))
        got.update((start - first + int(a), int(b), int(c)) for a, b, c in zip(q, e, d))
        found.update((start + int(a), int(b)) for a, b in zip(q, e))

    planted = [(qp, ep) for qp, ep in data.planted if qp < len(singles) or qp >= QUERIES_SINGLE]
    result.recall = sum((qp, ep) in found for qp, ep in planted) / len(planted)
    missing, extra = len(truth - got), len(got - truth)
    result.exact = f"yes, {EXACTNESS_QUERIES:,} queries" if not missing and not extra else f"NO ({missing} missing, {extra} extra of {len(truth):,})"
    candidate.close()
    gc.collect()
    return result


def table(size: int, results: list[Result]) -> str:
    ours = results[0]
    batch_columns = " | ".join(f"batch of 100, plain / mixed, ms, {t} thread{'s' if t > 1 else ''} each" for t in THREADS)
    lines = [
        f"### {size:,} entries",
        "",
        f"| index | build s | load s | snapshot MB | memory B/entry beyond hash | single median ms | single p95 ms | {batch_columns} | recall of planted | exact vs brute force |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(THREADS) + "---:|---|",
    ]
    for r in results:
        batches = " | ".join(f"{r.batches_ms[t][0]:.1f} / {r.batches_ms[t][1]:.1f}" for t in THREADS)
        lines.append(
            f"| {r.name} | {r.build_s:.2f} | {r.load_s:.3f} | {r.snapshot_bytes / 1e6:.0f} | {r.bytes_per_entry:.1f} | "
            f"{r.single_median_ms:.3f} | {r.single_p95_ms:.2f} | {batches} | {r.recall:.2%} | {r.exact} |"
        )
    ratio_columns = " | ".join(f"batch plain / mixed, {t} thread{'s' if t > 1 else ''}" for t in THREADS)
    lines += ["", "Ratios, other / PdqIndex, at equal threads (above 1: PdqIndex is faster or smaller):", ""]
    lines += [
        f"| versus | build | load | memory beyond hash | single median | single p95 | {ratio_columns} |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(THREADS),
    ]
    for r in results[1:]:
        memory = "- (stores only the hash)" if r.bytes_per_entry <= 0.5 else f"{r.bytes_per_entry / ours.bytes_per_entry:.2f}"
        batches = " | ".join(f"{r.batches_ms[t][0] / ours.batches_ms[t][0]:.1f} / {r.batches_ms[t][1] / ours.batches_ms[t][1]:.1f}" for t in THREADS)
        lines.append(
            f"| {r.name} | {r.build_s / ours.build_s:.2f} | {r.load_s / ours.load_s:.2f} | {memory} | "
            f"{r.single_median_ms / ours.single_median_ms:.1f} | {r.single_p95_ms / ours.single_p95_ms:.1f} | {batches} |"
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
            f"- batch of 100 queries <= 50 ms (one thread): plain batch {verdict(ours.plain_batch_ms, 50, 'ms')}; "
            f"mixed batch {verdict(ours.batch_ms, 50, 'ms')}",
            f"- one query <= 1 ms: median {verdict(ours.single_median_ms, 1, 'ms')}; 95th percentile {verdict(ours.single_p95_ms, 1, 'ms')} "
            f"(those return {ours.slowest_answers[0]:,}-{ours.slowest_answers[1]:,} entries each); queries made from no scene: "
            f"median {verdict(ours.unrelated_median_ms, 1, 'ms')}, 95th percentile {verdict(ours.unrelated_p95_ms, 1, 'ms')}",
            f"- recall of planted entries within 31 bits (half in the worst spread for its chunks): {ours.recall:.2%}; exact vs brute force: {ours.exact}",
            f"- memory beyond the hash <= 64 B per entry: {verdict(ours.bytes_per_entry, 64, 'B')}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.index", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated entry counts")
    parser.add_argument("--out", default=str(ROOT / "docs" / "index-bench.md"), help="markdown file whose make bench-index block is rewritten ('' for none)")
    parser.add_argument("--no-faiss", action="store_true", help="measure PdqIndex only")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    provenance = Provenance.capture(ROOT)
    command = "python -m hashmatch_tools.bench.index " + " ".join(sys.argv[1:] if argv is None else argv)

    try:
        import faiss

        faiss_version = f"faiss-cpu {faiss.__version__}"
    except ImportError:
        if not args.no_faiss:
            raise
        faiss_version = "no FAISS"

    sections, headline = [], []
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        for size in sizes:
            print(f"== {size:,} entries: making data", file=sys.stderr, flush=True)
            rng = np.random.default_rng(SEED + size)
            data = make_data(size, rng)
            print(f"   brute force over {EXACTNESS_QUERIES:,} queries", file=sys.stderr, flush=True)
            exact = data.queries[data.exactness]
            truth = brute_force(data.hashes, exact, RADIUS)
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
            ours = results[0]
            others = "; ".join(
                f"{r.name} {r.batches_ms[1][0]:.1f} / {r.batches_ms[max(THREADS)][0]:.1f} ms" for r in results[1:]
            )
            headline.append(
                f"- {size:,} entries: a batch of 100 unmatched upload hashes in {ours.batches_ms[1][0]:.1f} ms on one thread, "
                f"{ours.batches_ms[max(THREADS)][0]:.1f} ms on {max(THREADS)} ({others}, the same threads); one hash {ours.single_median_ms:.2f} ms median, "
                f"{ours.single_p95_ms:.2f} ms p95; {ours.bytes_per_entry:.1f} B per entry beyond the hash; recall {ours.recall:.2%}; exact on {EXACTNESS_QUERIES:,} queries: {ours.exact}"
            )
            del data
            gc.collect()

    layout = pdq_index_layout(RADIUS)
    header = [
        f"numpy {np.__version__}, {faiss_version}. PdqIndex: {layout.chunks} chunks of {layout.bits} bits, probed within "
        f"{'/'.join(str(t) for t in sorted(set(layout.thresholds), reverse=True))} bits (the docstring of `shared/hashmatch/hash_set/pdq_index.py` says why it is exact).",
        "",
        f"Data per size: random 256-bit hashes, {CLUSTERED_SHARE:.0%} of entries replaced by scenes of video-like frames "
        f"(each frame its scene's centre with 0-{SCENE_FLIPS} bits flipped; scene lengths log-normal around 300 frames, 20-5,000, "
        f"plus {LONG_SCENES} scenes of {LONG_SCENE_FRAMES:,} near-identical frames), and {QUERIES_SINGLE + 2 * QUERIES_BATCH + EXACTNESS_QUERIES:,} queries, "
        f"each with {PLANTED_PER_QUERY} planted entries at distances spread evenly over 0..{RADIUS}, every other one in the worst spread for PdqIndex's chunks: "
        f"{QUERIES_SINGLE} single queries and a mixed batch of {QUERIES_BATCH}, in both {SCENE_QUERY_SHARE:.0%} made from a scene frame with 0-8 bits flipped (they return "
        f"the scene, up to {LONG_SCENE_FRAMES:,} entries) and the rest random; a plain batch of {QUERIES_BATCH} random queries "
        f"(an upload that matches nothing but its planted entries, the common case); and {EXACTNESS_QUERIES:,} more, mixed alike, for exactness.",
        "",
        f"Radius {RADIUS} (PDQ's match threshold), inclusive; FAISS's binary range_search keeps distances strictly below its radius, "
        f"so it is given {RADIUS + 1}. Threads are the same for every index: single queries on one thread; batches at "
        + " and ".join(str(t) for t in THREADS)
        + " thread(s) each (PdqIndex's `workers`, FAISS's `omp_set_num_threads`; IndexBinaryMultiHash's range_search spreads over its threads only above 100 queries).",
        "",
        "- build: from the packed (N, 4) uint64 array (FAISS: from (N, 32) uint8 codes); load: the snapshot file, already in the page cache, to a searchable index.",
        f"- single: {QUERIES_SINGLE} queries one at a time (median, 95th percentile); batch: {QUERIES_BATCH} queries in one call, median of {BATCH_REPEATS}.",
        "- recall: planted (query, entry) pairs found, over all single, batch and exactness queries.",
        f"- exact: each index's whole (query, entry, distance) answer to the {EXACTNESS_QUERIES:,} exactness queries equals a numpy brute-force scan's.",
        "",
    ]
    report = "\n".join(header + sections)
    if args.out:
        write_block(Path(args.out), BLOCK, report, provenance, command, title="PDQ index benchmark")
        headline_text = "PdqIndex beside FAISS, at equal threads:\n\n" + "\n".join(headline)
        write_block(Path(args.out), HEADLINE, headline_text, provenance, command)
        write_headline(HEADLINE, headline_text, provenance, command, [README])
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
