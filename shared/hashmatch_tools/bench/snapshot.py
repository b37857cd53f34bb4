"""The matcher's hash set from the indexer's snapshot in S3 against the old way (a consistent table scan), in one run on the local stack.

Four parts, all over real HTTP against moto's server (the local stack built from template.yaml):
  1. A table of --table-entries PDQ list entries (imported as an operator imports a list):
     the old way (HashSetTable.load, a scan) and the new (the indexer's rebuild once, then a
     matcher's cold start from the snapshot), then one change: the indexer's run and a warm
     matcher's refresh, against the old way's full reload.
  2. A snapshot of --sizes entries (random hashes plus clustered near-duplicates, as in
     hashmatch_tools.bench.index), written to the snapshot bucket: a matcher's cold start (manifest + snapshot
     GET + ready index) and its memory, one change on top (indexer run, matcher refresh), and the
     indexer folding the changes into a new snapshot (compaction) and writing it.
  3. A cold matcher in a fresh process (cold_matcher.py): the interpreter, the imports, the handler
     module (settings, clients), then the manifest and the snapshot, as a new Lambda container
     pays them, beside part 2's cold start inside this warm process.
  4. Freshness end to end, in a stack whose indexer runs on its stream as Lambda runs it (the local
     runner's pollers): a list entry written to the table, and the first upload of its hash that a
     running matcher (the handler's own, at the template's HashSetRefreshSeconds) matches, over
     --changes changes at random moments: median, 95th percentile and maximum.
The table part stays at a size moto fills and scans in minutes (its consistent scan is far slower
than DynamoDB's, so the old way's figures are moto's; the run prints its cost per item); the snapshot part
does not need the table to hold its entries (the matcher never reads them from it).
Usage: python -m hashmatch_tools.bench.snapshot [--table-entries 20000] [--sizes 1000000] [--changes 20] [--out docs/snapshot-bench.md]
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set.indexer import Acceptance, SnapshotIndexer
from hashmatch.aws.hash_set.signing import ManifestSigner
from hashmatch.aws.hash_set.live import LiveHashSet, version_from_table
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.hash_set.snapshot import HashSetSnapshot
from hashmatch.vocabulary import Action
from hashmatch_tools.bench.blocks import README, Provenance, write_block, write_headline
from hashmatch_tools.bench.cold_matcher import run_cold
from hashmatch_tools.bench.index import make_data  # the same data as the index bench
from hashmatch_tools.local.runner import local_pipeline
from hashmatch_tools.local.stack import LocalStack
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
BLOCK, HEADLINE = "make bench-snapshot", "make bench-snapshot: headline"
COLD_REPEATS = 3
POLL_SECONDS = 0.02  # how often the running matcher is offered the upload: the resolution of the freshness figures

SEED = 20261201
REPEATS = 5
SCAN_REPEATS = 3  # moto's consistent scan is slow: a few runs


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def hex_rows(packed: np.ndarray) -> list[str]:
    raw = packed.astype(">u8").tobytes()
    return [raw[i : i + 32].hex() for i in range(0, len(raw), 32)]


def upload_of(hex_hash: str) -> MediaHashes:
    """A one-frame upload (a picture) with this PDQ hash."""
    return MediaHashes("image", "jpeg", 0.0, 640, 480, "", "", "upload", (FrameHashes(0.0, hex_hash, 100),), 1)


def say(text: str = "") -> None:
    print(text, flush=True)


def manifest_signer(stack) -> ManifestSigner:
    """The stack's manifest signing key, as the indexer signs with it."""
    return ManifestSigner(stack.client("kms"), stack.attribute("ManifestSigningKey", "Arn"))


class Bench:
    def __init__(self, stack: LocalStack):
        self.stack = stack
        self.s3 = stack.client("s3")
        self.store = SnapshotStore(self.s3, stack.ref("SnapshotBucket"))
        # The indexer signs each manifest as the template's IndexHashSetFunction does; matchers believe no other.
        self.signer = manifest_signer(stack)
        self.hash_set = HashSetTable(stack.table("HashSetTable"))
        self.rows: list[tuple[str, ...]] = []
        self.headline: list[str] = []

    def fresh(self) -> LiveHashSet:
        return LiveHashSet(self.store, self.hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD, refresh_seconds=0)

    def add_entry(self, hex_hash: str, source: str) -> str:
        self.hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=hex_hash, labels=("bench",), source=source), action=Action.QUARANTINE)
        return f"pdq:{hex_hash}"

    # ------------------------------------------------------------ part 1: the table

    def table_part(self, count: int, rng: np.random.Generator) -> None:
        say(f"== {count:,} entries in the table (imported as a list)")
        rows = hex_rows(make_data(count, rng, exactness_queries=0).hashes)
        started = time.perf_counter()
        report = self.hash_set.entries.import_entries((HashListEntry(signal_type=ListedSignal.PDQ, hash=h, source="bench list") for h in rows), action=Action.REVIEW)
        say(f"imported {report.written:,} entries in {time.perf_counter() - started:.0f} s")

        scan_seconds = []
        for _ in range(SCAN_REPEATS):
            gc.collect()
            seconds, loaded = timed(lambda: version_from_table(self.hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD))
            scan_seconds.append(seconds)
        probe = f"pdq:{rows[0]}"
        assert probe in loaded
        del loaded
        indexer = SnapshotIndexer(self.hash_set, self.store, signer=self.signer)
        rebuild_seconds, outcome = timed(indexer.rebuild)
        cold = []
        for _ in range(REPEATS):
            gc.collect()
            matcher = self.fresh()
            seconds, loaded = timed(matcher.get)
            cold.append(seconds)
        assert probe in loaded and matcher.source == "snapshot"
        old, new = statistics.median(scan_seconds), statistics.median(cold)
        say(f"matcher cold start: old (table scan) {old:.3f} s, new (snapshot) {new:.3f} s: {old / new:.0f}x; indexer's one-off rebuild {rebuild_seconds:.2f} s")
        self.rows.append((f"{count:,} (table)", "matcher cold start", f"{old:.3f} s (scan: {1000 * old / count:.2f} ms an item on moto)", f"{new:.3f} s", f"{old / new:.0f}x"))

        # One change: the old way reloads the whole table, the new way reads the changes.
        changed = self.add_entry(rng.bytes(32).hex(), "bench change")
        apply_seconds, _ = timed(lambda: indexer.apply([changed]))
        refresh_seconds, loaded = timed(matcher.get)
        assert changed in loaded
        reload_seconds, loaded = timed(lambda: version_from_table(self.hash_set, PDQ_CONFIDENT_MATCH_THRESHOLD))
        assert changed in loaded
        del loaded
        say(f"one change: indexer {apply_seconds * 1000:.0f} ms, warm matcher refresh {refresh_seconds * 1000:.1f} ms; old way's reload {reload_seconds:.3f} s: {reload_seconds / refresh_seconds:.0f}x")
        self.rows.append((f"{count:,} (table)", "a change, in a warm matcher", f"{reload_seconds:.3f} s (scan)", f"{refresh_seconds * 1000:.1f} ms (+ indexer {apply_seconds * 1000:.0f} ms)", f"{reload_seconds / refresh_seconds:.0f}x"))

    # ------------------------------------------------------------ part 2: a large snapshot

    def snapshot_part(self, size: int, rng: np.random.Generator) -> None:
        say(f"== a snapshot of {size:,} entries")
        data = make_data(size, rng, exactness_queries=0)
        frames = FrameIndex()
        frames.add_still(data.hashes)
        snapshot = HashSetSnapshot({}, frames, {}, [(("bench",), "bench list", Action.REVIEW)], np.zeros(size, np.uint32))
        serialise_seconds, body = timed(snapshot.to_bytes)
        del snapshot, frames
        gc.collect()
        indexer = SnapshotIndexer(self.hash_set, self.store, signer=self.signer)
        # Part 1's table set is replaced by a synthetic one: a sharp shrink of its quarantine items, accepted as an operator would.
        manifest = indexer.publish(HashSetSnapshot.from_bytes(body), accept=Acceptance("bench", "a synthetic snapshot replaces the table's set"))
        say(f"snapshot: {len(body) / 1e6:.1f} MB ({len(body) / size:.0f} bytes an entry), built and serialised in {serialise_seconds:.2f} s")
        del body
        gc.collect()

        cold, first = [], []
        query = upload_of(hex_rows(data.queries[:1])[0])
        for _ in range(REPEATS):
            gc.collect()
            matcher = self.fresh()
            seconds, loaded = timed(matcher.get)
            cold.append(seconds)
            first.append(timed(lambda: loaded.match(query))[0])
            del loaded, matcher
        # Memory on a run of its own: tracemalloc sees numpy's buffers and the body read from S3.
        gc.collect()
        tracemalloc.start()
        matcher = self.fresh()
        loaded = matcher.get()
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del loaded, matcher
        say(f"matcher cold start (manifest + {manifest.snapshot_frames:,}-entry snapshot over HTTP + ready index): median {statistics.median(cold):.3f} s, "
            f"max {max(cold):.3f} s; held {held / 1e6:.0f} MB (peak {peak / 1e6:.0f} MB); first upload matched {statistics.median(first) * 1000:.1f} ms after")
        self.rows.append((f"{size:,}", "matcher cold start in this warm process (to a ready index)", "", f"{statistics.median(cold):.3f} s (max {max(cold):.3f} s)", ""))
        self.rows.append((f"{size:,}", "first upload matched after it", "", f"{statistics.median(first) * 1000:.1f} ms", ""))
        self.rows.append((f"{size:,}", "matcher memory for the hash set", "", f"{held / 1e6:.0f} MB held, {peak / 1e6:.0f} MB peak", ""))
        self.headline.append(
            f"- {size:,}-entry snapshot: a new LiveHashSet in a process that has already imported everything and holds a warm S3 client is ready in "
            f"{statistics.median(cold):.3f} s (median of {REPEATS}), holding {held / 1e6:.0f} MB"
        )

        matcher = self.fresh()
        matcher.get()
        changed = self.add_entry(hex_rows(data.queries[1:2])[0], "bench change")
        apply_seconds, _ = timed(lambda: indexer.apply([changed]))
        refresh_seconds, loaded = timed(matcher.get)
        assert changed in loaded and matcher.snapshot is not None
        say(f"one change: indexer {apply_seconds * 1000:.0f} ms, warm matcher refresh {refresh_seconds * 1000:.1f} ms (the snapshot is kept)")
        self.rows.append((f"{size:,}", "a change, in a warm matcher", "", f"{refresh_seconds * 1000:.1f} ms (+ indexer {apply_seconds * 1000:.0f} ms)", ""))

        indexer.compact_after = 0
        compact_seconds, outcome = timed(lambda: indexer.apply([changed]))
        assert outcome.compacted
        reload_seconds, loaded = timed(matcher.get)
        assert changed in loaded
        # The indexer's memory for a compaction, on a run of its own (its last snapshot already held).
        another = self.add_entry(hex_rows(data.queries[2:3])[0], "bench change")
        gc.collect()
        tracemalloc.start()
        indexer.apply([another])
        _, compact_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        say(f"compaction (changes folded into a new snapshot, index rebuilt, written): {compact_seconds:.2f} s, "
            f"peak {compact_peak / 1e6:.0f} MB beside the snapshot held; each warm matcher then reloads in {reload_seconds:.3f} s")
        self.rows.append((f"{size:,}", "compaction: new snapshot written", "", f"{compact_seconds:.2f} s, {compact_peak / 1e6:.0f} MB peak", ""))
        self.rows.append((f"{size:,}", "a warm matcher takes the new snapshot", "", f"{reload_seconds:.3f} s", ""))
        del loaded, matcher
        gc.collect()


    # ------------------------------------------------------------ part 3: a cold matcher in a fresh process

    def cold_process_part(self, size: int) -> None:
        say(f"== a cold matcher in a fresh process, the {size:,}-entry snapshot")
        runs = [run_cold(self.stack) for _ in range(COLD_REPEATS)]
        assert all(run["source"] == "snapshot" for run in runs)
        phases = {name: statistics.median(run["phases"][name] for run in runs) for name in runs[0]["phases"]}
        reads = {name: statistics.median(run["hash_set"][name] for run in runs) for name in runs[0]["hash_set"]}
        wall = statistics.median(run["wall"] for run in runs)
        cpu = statistics.median(run["cpu"] for run in runs)
        peak = max(run["peak_mb"] for run in runs)
        parts = "; ".join(f"{name} {seconds:.3f} s" for name, seconds in {**phases, **{k: v for k, v in reads.items() if v > 0.0005}}.items())
        say(f"fresh process to a ready hash set: median {phases['interpreter'] + phases['imports'] + phases['handler module (settings, clients, Checker)'] + phases['hash set ready']:.2f} s "
            f"(whole process {wall:.2f} s wall, {cpu:.2f} s CPU, peak {peak:.0f} MB; median of {COLD_REPEATS}): {parts}")
        ready = phases["interpreter"] + phases["imports"] + phases["handler module (settings, clients, Checker)"] + phases["hash set ready"]
        self.rows.append((f"{size:,}", "cold matcher, fresh process: interpreter + imports + handler module + hash set", "", f"{ready:.2f} s ({phases['interpreter']:.2f} + {phases['imports']:.2f} + {phases['handler module (settings, clients, Checker)']:.2f} + {phases['hash set ready']:.2f})", ""))
        self.rows.append((f"{size:,}", "of which manifest / snapshot read and loaded", "", f"{reads['manifest']:.3f} s / {reads['snapshot']:.3f} s", ""))
        self.rows.append((f"{size:,}", "cold matcher process: CPU, peak memory", "", f"{cpu:.2f} s CPU, {peak:.0f} MB", ""))
        self.headline.append(f"- a cold matcher in a fresh process, {size:,}-entry snapshot: ready in {ready:.2f} s (interpreter {phases['interpreter']:.2f} s, imports {phases['imports']:.2f} s, handler module {phases['handler module (settings, clients, Checker)']:.2f} s, hash set {phases['hash set ready']:.2f} s), peak {peak:.0f} MB")


def freshness(size: int, changes: int, rng: np.random.Generator) -> tuple[list[float], float, float]:
    """Part 4: seconds from a table write to the first upload a running matcher matches, per change; and the refresh
    interval and stream batching window the template sets (a stack of its own, its indexer polled as Lambda polls it)."""
    say(f"== freshness end to end: {changes} changes, a {size:,}-entry snapshot")
    data = make_data(size, rng, exactness_queries=0)
    frames = FrameIndex()
    frames.add_still(data.hashes)
    snapshot = HashSetSnapshot({}, frames, {}, [(("bench",), "bench list", Action.REVIEW)], np.zeros(size, np.uint32))
    del data, frames
    seconds: list[float] = []
    logs = io.StringIO()
    with local_pipeline(log_stream=logs) as (stack, runner):
        hash_set = HashSetTable(stack.table("HashSetTable"))
        SnapshotIndexer(hash_set, SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket")), signer=manifest_signer(stack)).publish(snapshot)
        del snapshot
        live = runner.module("MatchHashesFunction").checker.hash_set  # the handler's own live copy: the template's refresh interval
        refresh = float(live.refresh_seconds)
        window = float(stack.template["Resources"]["IndexHashSetFunction"]["Properties"]["Events"]["HashSetChanges"]["Properties"].get("MaximumBatchingWindowInSeconds", 0))
        live.get()
        runner.start(functions=["IndexHashSetFunction"])
        try:
            for change in range(changes):
                time.sleep(random.Random(change).uniform(0, refresh))  # a random moment of the matcher's refresh cycle
                hex_hash = rng.bytes(32).hex()
                upload = upload_of(hex_hash)
                hash_set.entries.add(HashListEntry(signal_type=ListedSignal.PDQ, hash=hex_hash, labels=("bench",), source="bench change"), action=Action.QUARANTINE)
                written = time.perf_counter()
                while not live.get().matcher.match(upload).matches:
                    if time.perf_counter() - written > 120:
                        raise TimeoutError(f"change {change} not matched after 120 s")
                    time.sleep(POLL_SECONDS)
                seconds.append(time.perf_counter() - written)
                print(f"  change {change + 1}: matched {seconds[-1]:.2f} s after the write", file=sys.stderr, flush=True)
        finally:
            runner.stop()
    return seconds, refresh, window


NOTES = """
- Old way: `version_from_table` (aws/hash_set/live.py), a consistent scan of the hash-set table into the matcher, which is
  what a matcher did on every cold start and after every change before the snapshot. New way:
  `LiveHashSet.get()`, the manifest and the snapshot read from S3, the index ready to search.
- The table rows hold PDQ list entries imported as an operator imports a list. moto's consistent scan and its Query walk the
  whole table, so the old way's figures and the indexer's are moto's; DynamoDB reads 1 MB pages and queries one partition.
  The snapshot rows do not need the table to hold their entries: the snapshot is written to the snapshot bucket directly,
  and the matcher never reads the table.
- Data of the snapshot rows: as in `docs/index-bench.md`, random hashes with 30 % scenes of
  near-identical video frames, one (labels, source, action) group.
- Cold start in this process: a new LiveHashSet to a loaded hash set, median and maximum of several, in a process that has
  already imported everything and holds a warm S3 client. Memory: what tracemalloc sees held after a cold start (numpy's
  buffers and the body read from S3 included), on a run of its own.
- Cold matcher in a fresh process (`hashmatch_tools.bench.cold_matcher`): what a new Lambda container pays before its first
  upload is matched: the interpreter's start, the imports, the handler module (settings, boto3 clients, the Checker), then
  the manifest and the snapshot over HTTP. The whole process's wall and CPU time are taken by this process. The
  snapshots here hold PDQ entries only, so there is no local-feature snapshot to read and map: that load, at 1,000 to
  100,000 reference feature frames, is in `docs/second-stage-bench.md`.
- A change (part 2): one entry added in the table, the indexer's run for it called here (read the manifest and the
  changes, read the partition, write the changes and the manifest), then a warm matcher's next check.
- Freshness end to end (part 4): the indexer runs on the table's stream, polled by the local runner as Lambda polls it
  (the runner does not wait the template's MaximumBatchingWindowInSeconds, which AWS may add); the matcher is the handler
  module's own LiveHashSet, at the template's HashSetRefreshSeconds, offered an upload with the new hash until it matches.
  Each change is written at a random moment of the refresh cycle.
- Compaction: the indexer folding the changes into a new snapshot (patch, rebuild the PDQ index,
  serialise, write to S3) once they pass COMPACT_AFTER_CHANGES; then every warm matcher reads the
  new snapshot at its next check. Peak memory: tracemalloc's, beside the snapshot the indexer holds.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--table-entries", type=int, default=20_000)
    parser.add_argument("--sizes", default="1000000", help="snapshot sizes, comma-separated (default 1000000)")
    parser.add_argument("--changes", type=int, default=20, help="changes timed end to end (part 4)")
    parser.add_argument("--out", type=Path, help="write the table into this file's make bench-snapshot block")
    args = parser.parse_args(argv)
    provenance = Provenance.capture(ROOT)
    command = "python -m hashmatch_tools.bench.snapshot " + " ".join(sys.argv[1:] if argv is None else argv)
    rng = np.random.default_rng(SEED)
    sizes = [int(text) for text in args.sizes.split(",")]
    with LocalStack() as stack:
        bench = Bench(stack)
        bench.table_part(args.table_entries, rng)
        for size in sizes:
            bench.snapshot_part(size, rng)
            bench.cold_process_part(size)
    seconds, refresh, window = freshness(sizes[-1], args.changes, rng)
    ordered = sorted(seconds)
    p95 = float(np.percentile(ordered, 95))
    bench.rows.append((f"{sizes[-1]:,}", f"freshness: table write to the first upload matched ({len(seconds)} changes, refresh every {refresh:g} s)", "",
                       f"median {statistics.median(ordered):.2f} s, p95 {p95:.2f} s, max {ordered[-1]:.2f} s", ""))
    bench.headline.append(
        f"- freshness end to end ({len(seconds)} changes, a running matcher refreshing every {refresh:g} s as the template sets it): a list entry written to the table "
        f"is matched {statistics.median(ordered):.2f} s later (median), {p95:.2f} s at the 95th percentile, {ordered[-1]:.2f} s at most "
        f"(AWS may add the stream's batching window, up to {window:g} s)"
    )
    table = io.StringIO()
    table.write("| entries | what | old way | snapshot | ratio |\n|---|---|---|---|---|\n")
    for row in bench.rows:
        table.write("| " + " | ".join(row) + " |\n")
    say()
    say(table.getvalue())
    if args.out:
        body = "Local stack: moto over HTTP on 127.0.0.1.\n\n" + table.getvalue() + "\nFreshness per change, seconds: " + ", ".join(f"{value:.2f}" for value in seconds) + "\n" + NOTES
        write_block(args.out, BLOCK, body, provenance, command, title="The hash set's snapshot: matcher cold start and freshness")
        headline = "The hash set's snapshot in a stack:\n\n" + "\n".join(bench.headline)
        write_block(args.out, HEADLINE, headline, provenance, command)
        write_headline(HEADLINE, headline, provenance, command, [README])
    return 0


if __name__ == "__main__":
    sys.exit(main())
