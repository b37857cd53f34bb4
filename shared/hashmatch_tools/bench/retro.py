"""Retro-match at scale: a log of --uploads logged uploads drawn from video scenes, with their variant rows, and copies planted at the edge of the threshold.

What it does, in one run:
  1. Writes the log as the log writer does (the same Parquet schema, zstd, one file per day and
     batch of --batch uploads, spread over --days days) into .cache/bench-retro/ (kept for the
     next run when the parameters are the same). Each upload is a video of FRAMES frames from one
     to three scenes; a frame is its scene's centre with 0-6 bits flipped, and scenes recur across
     uploads with a Zipf popularity (re-uploads of popular content), so the log clusters as real
     PDQ hashes do: the hard case for chunk probes, whose equality join meets a whole scene's
     frames at once. Each frame logs 7-9 rows, its own hash and its variants (mirror, rotations,
     uncropped, inner picture), as the matcher logs them; a scene's variants cluster too.
  2. Plants, against a reference video made of its own scenes (and of scenes 44 bits from popular
     scenes of the log, which the chunk probes reach and the distance must turn away):
     copies whose every frame is 28-31 bits from a reference frame, half with the bits at random
     and half in the worst spread for the chunk probes (bits.worst_case_spread: at 31 bits a single
     16-bit chunk is within one bit, at exactly that bit); copies that match by a variant row only
     (a mirrored copy); near misses at 32-35 bits (half at random, which the probes reach, half in
     the worst spread, which they do not); copies of a listed PDQ hash (a picture, 28-31 bits) and
     uploads with a listed SHA-256.
  3. Runs retro_match (its two SQL texts on DuckDB, then the live Matcher) for the new references,
     for each --reference-frames size (the reference's first N frames: 60 is a 1-minute clip at a
     distinct frame a second, 600 ten minutes), and, in the same run, the old way: the same question by brute force in SQL (every logged
     row against every reference frame, no chunk probes). Prints the time of each, their ratio,
     the data the query reads (the compressed Parquet column chunks of the columns it names, per
     table reference: what Athena bills), the recall of each planted kind and the false positives.
Usage: python -m hashmatch_tools.bench.retro [--uploads 1000000] [--reference-frames 60,600] [--out docs/retro-match.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hashmatch.hash_set.snapshot import ENTRY_KIND, KnownItem, KnownItemState
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.upload_log.duckdb_engine import DuckDbEngine
from hashmatch.upload_log.records import FRAME_COLUMNS, FRAMES_TABLE, UPLOAD_COLUMNS, UPLOADS_TABLE, object_key
from hashmatch.upload_log.retro_match import RETRO_CANDIDATES_SQL, RETRO_ROWS_SQL, retro_match
from hashmatch_tools.bench.bits import flip, flip_random, random_spread, retro_layout, worst_case_spread
from hashmatch_tools.bench.blocks import README, Provenance, write_block, write_headline

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
CACHE = ROOT / ".cache" / "bench-retro"
FRAMES = 10  # frames per logged upload
ROWS_PER_FRAME = (7, 9)  # a frame's own hash and its variants: 7-9 rows, as the matcher logs a real upload's
VARIANTS = ROWS_PER_FRAME[1]
SCENE_FLIPS = 6  # a frame is its scene's centre with 0-6 bits flipped
SCENE_POPULARITY = 1.05  # Zipf exponent of how often a scene recurs across uploads
HOT_SCENES = (0, 9, 99, 999)  # popularity ranks of the log's scenes that scenes of the reference sit HOT_DISTANCE bits from
HOT_DISTANCE = 44  # > 31 + 2 * SCENE_FLIPS: no frame of theirs can match, but the chunk probes reach them
COPY_BITS = (28, 31)
NEAR_MISS_BITS = (32, 35)
# The planted copies are cut from the reference's first COPIED_FRAMES frames, so every reference size (its first N frames) holds them.
COPIED_FRAMES = 60
LONGEST_REFERENCE = 600
LAST_DAY = datetime.date(2026, 12, 1)
BLOCK, HEADLINE = "make bench-retro", "make bench-retro: headline"
# Planted kinds: (what must happen to them, how they are made).
SHOULD_MATCH = ("video copies, bits at random", "video copies, worst-case spread", "mirrored video copies (a variant row matches)", "picture copies", "sha256")
MUST_NOT_MATCH = ("near misses, bits at random", "near misses, worst-case spread")

# The old way: every logged row against every reference frame, by brute force, in SQL.
BRUTE_FORCE_SQL = """
SELECT DISTINCT f.upload_id
FROM upload_frames f CROSS JOIN (SELECT DISTINCT h0, h1, h2, h3 FROM retro_probes WHERE run_id = ? AND kind = 'pdq') p
WHERE f.dt >= ? AND f.quality >= ?
  AND bit_count(bitwise_xor(f.h0, p.h0), 64) + bit_count(bitwise_xor(f.h1, p.h1), 64)
    + bit_count(bitwise_xor(f.h2, p.h2), 64) + bit_count(bitwise_xor(f.h3, p.h3), 64) <= ?
"""


# How many (logged row, probe) pairs the chunk probes' equality join produces, and from how many uploads, before the
# distance is computed: how hard the data is for the probes (clustered rows meet a probe together). Its CTEs are
# retro-match's own; parameters: run_id, first day, min quality.
PROBE_HITS_SQL = (
    RETRO_CANDIDATES_SQL.split("SELECT DISTINCT k.upload_id", 1)[0]
    + "SELECT count(*) AS hits, count(DISTINCT k.upload_id) AS uploads FROM keyed k JOIN probes p ON p.chunk = k.chunk AND p.value = k.value"
)


def as_hex(row: np.ndarray) -> str:
    return "".join(f"{int(w):016x}" for w in np.asarray(row, dtype=np.uint64))


def _random_words(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2**64, size=(*shape, 4), dtype=np.uint64)


class LogModel:
    """The scenes the log's uploads are drawn from, the reference and what is planted, fixed by the seed."""

    def __init__(self, uploads: int, seed: int):
        rng = np.random.default_rng([seed, 0])
        self.seed = seed
        self.uploads = uploads
        self.scenes = max(2_000, uploads // 4)
        # Per scene: its own centre and a centre per variant (a mirrored or rotated frame is another hash, clustered in its turn).
        self.centres = _random_words(rng, (self.scenes, VARIANTS))
        weights = 1.0 / np.arange(1, self.scenes + 1) ** SCENE_POPULARITY
        self.popularity = weights / weights.sum()
        # The reference: scenes of 3-30 frames; its first scenes HOT_DISTANCE bits from popular scenes of the log.
        frames, scene_centres = [], []
        while len(frames) < LONGEST_REFERENCE:
            length = int(rng.integers(3, 31))
            if len(scene_centres) < len(HOT_SCENES):
                centre = flip(self.centres[HOT_SCENES[len(scene_centres)], 0], random_spread(HOT_DISTANCE, rng))
            else:
                centre = _random_words(rng, ())
            scene_centres.append(centre)
            frames.extend(flip_random(np.repeat(centre[None, :], length, axis=0), rng.integers(0, SCENE_FLIPS + 1, length), rng))
        self.reference = np.array(frames[:LONGEST_REFERENCE], dtype=np.uint64)
        self.listed_pdq = _random_words(rng, ())
        self.listed_sha256 = "5a" * 32
        each = max(uploads // 20_000, 10)
        kinds = SHOULD_MATCH + MUST_NOT_MATCH
        chosen = rng.choice(uploads, size=each * len(kinds), replace=False)
        self.planted = {kind: np.sort(chosen[i * each : (i + 1) * each]) for i, kind in enumerate(kinds)}
        self.kind_of = {int(u): kind for kind, members in self.planted.items() for u in members}

    def batch(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows of uploads [first, last): (upload index, frame, variant, quality, hash) per row, in the log's order."""
        rng = np.random.default_rng([self.seed, 1, first])
        count = last - first
        scenes_per_upload = rng.integers(1, 4, count)
        picks = rng.choice(self.scenes, size=(count, 3), p=self.popularity)
        frame_scene = picks[np.repeat(np.arange(count), FRAMES), (np.tile(np.arange(FRAMES), count) * np.repeat(scenes_per_upload, FRAMES)) // FRAMES]
        rows_per_frame = rng.integers(ROWS_PER_FRAME[0], ROWS_PER_FRAME[1] + 1, count * FRAMES)
        frame_of_row = np.repeat(np.arange(count * FRAMES), rows_per_frame)
        variant = np.arange(len(frame_of_row)) - np.repeat(np.cumsum(rows_per_frame) - rows_per_frame, rows_per_frame)
        hashes = flip_random(self.centres[frame_scene[frame_of_row], variant], rng.integers(0, SCENE_FLIPS + 1, len(frame_of_row)), rng)
        quality = rng.integers(50, 101, count * FRAMES, dtype=np.int32)[frame_of_row]
        upload = first + frame_of_row // FRAMES
        frame = (frame_of_row % FRAMES).astype(np.int32)
        starts = np.searchsorted(upload, np.arange(first, last + 1))
        for position in np.flatnonzero(np.isin(np.arange(first, last), list(self.kind_of))):
            rows = slice(starts[position], starts[position + 1])
            self._plant(first + position, frame[rows], variant[rows], hashes[rows])
        # A picture is one frame: its own hash and variants.
        keep = ~(np.isin(upload, self.planted["picture copies"]) & (frame > 0))
        return upload[keep], frame[keep], variant[keep].astype(np.int32), quality[keep], hashes[keep]

    def _plant(self, number: int, frame: np.ndarray, variant: np.ndarray, hashes: np.ndarray) -> None:
        """Overwrite a planted upload's rows (views of them): its own hashes (or a variant's) at the planted distance from the reference."""
        kind = self.kind_of[number]
        rng = np.random.default_rng([self.seed, 2, number])
        if kind == "sha256":
            return
        worst = "worst-case" in kind
        low, high = NEAR_MISS_BITS if kind.startswith("near misses") else COPY_BITS
        row_variant = 1 if kind.startswith("mirrored") else 0
        start = int(rng.integers(0, COPIED_FRAMES - FRAMES))
        frames = range(1) if kind == "picture copies" else range(FRAMES)
        near_miss = kind.startswith("near misses")
        for f in frames:
            source = self.listed_pdq if kind == "picture copies" else self.reference[start + f]
            at_edge = worst and f % 2 == 0 and not near_miss and kind != "picture copies"
            for _attempt in range(1000):
                bits = int(rng.integers(low, high + 1))
                # Worst-case copies sit at 31 bits in half their frames: the edge, reached through one chunk at exactly one bit.
                if at_edge:
                    bits = high
                spread = worst_case_spread(bits, retro_layout(), rng) if worst or (kind == "picture copies" and number % 2 == 0) else random_spread(bits, rng)
                planted = flip(source, spread)
                if self._placed(planted, low, near_miss, at_edge) or kind == "picture copies":
                    break
            else:
                raise RuntimeError(f"{kind}: no frame placed as planned after 1000 draws")
            row = np.flatnonzero((frame == f) & (variant == row_variant))[0]
            hashes[row] = planted


    def _placed(self, planted: np.ndarray, low: int, near_miss: bool, at_edge: bool) -> bool:
        """Whether a planted frame is where it is said to be against every frame of the reference (a scene's frames are a
        few bits apart, so a frame placed against one may sit closer to its neighbour): a near miss at least `low` bits
        from all of them; a worst-case copy at the edge within 31 bits of none closer than 31, and reachable from each
        such frame through one 16-bit chunk only."""
        differing = self.reference ^ planted
        distances = np.bitwise_count(differing).sum(axis=1)
        if near_miss:
            return int(distances.min()) >= low
        if not at_edge:
            return True
        within = distances <= COPY_BITS[1]
        if int(distances.min()) != COPY_BITS[1]:
            return False
        # The sixteen 16-bit chunks are the 16-bit fields of the four words (their order does not matter here).
        chunk_bits = np.bitwise_count(np.ascontiguousarray(differing[within]).view(np.uint16)).reshape(-1, 16)
        return bool(((chunk_bits <= 1).sum(axis=1) == 1).all())


def build_log(directory: Path, uploads: int, days: int, batch: int, seed: int) -> dict:
    """The log and the planted uploads; returns what was planted (upload ids by kind), the references and the log's size."""
    model = LogModel(uploads, seed)
    ids = np.array([f"s3://bench-uploads/u{i:08d}.mp4" for i in range(uploads)], dtype=object)
    day_of = (np.arange(uploads) * days // uploads).astype(np.int64)
    pictures = set(model.planted["picture copies"].tolist())
    listed = set(model.planted["sha256"].tolist())
    rows_written = 0
    for first in range(0, uploads, batch):
        last = min(first + batch, uploads)
        day = (LAST_DAY - datetime.timedelta(days=days - 1 - int(day_of[first]))).isoformat()
        upload, frame, variant, quality, hashes = model.batch(first, last)
        id_dictionary = pa.array(ids[first:last].tolist(), pa.string())
        signed = hashes.view(np.int64)
        frames = pa.table(
            {
                "upload_id": pc.take(id_dictionary, pa.array(upload - first)),
                "version_id": pa.nulls(len(upload), pa.string()),
                "frame": pa.array(frame),
                "variant": pa.array(variant),
                "track": pa.array(np.zeros(len(upload), np.int32)),  # every frame of the main picture (video stream)
                "timestamp": pa.array(frame.astype(np.float64) * 2.0),
                "quality": pa.array(quality),
                **{f"h{w}": pa.array(np.ascontiguousarray(signed[:, w])) for w in range(4)},
            },
            schema=pa.schema([(n, getattr(pa, k)()) for n, k in FRAME_COLUMNS]),
        )
        count = last - first
        numbers = np.arange(first, last)
        kinds_column = ["image" if n in pictures else "video" for n in numbers.tolist()]
        sha256 = [model.listed_sha256 if n in listed else f"{n:064x}" for n in numbers.tolist()]
        described = pa.table(
            {
                "upload_id": id_dictionary,
                "bucket": pa.array(["bench-uploads"] * count),
                "key": pa.array([i.split("/", 3)[3] for i in ids[first:last]]),
                "version_id": pa.nulls(count, pa.string()),
                "etag": pa.array(["e"] * count),
                "size": pa.array(np.full(count, 1_000_000, np.int64)),
                "uploaded_at": pa.array([f"{day}T00:00:00Z"] * count),
                "hashed_at": pa.array([f"{day}T00:00:01Z"] * count),
                "checked_at": pa.array([f"{day}T00:00:02Z"] * count),
                "kind": pa.array(kinds_column),
                "format": pa.array(["mp4"] * count),
                "duration": pa.array(np.full(count, 2.0 * FRAMES)),
                "width": pa.array(np.full(count, 1280, np.int32)),
                "height": pa.array(np.full(count, 720, np.int32)),
                "md5": pa.array([""] * count),
                "sha256": pa.array(sha256),
                "frames_hashed": pa.array(np.full(count, FRAMES, np.int32)),
                "covered_seconds": pa.array(np.full(count, 2.0 * FRAMES)),  # wholly covered, as most uploads are
                "uncovered_share": pa.array(np.zeros(count)),
            },
            schema=pa.schema([(n, getattr(pa, k)()) for n, k in UPLOAD_COLUMNS]),
        )
        for table, data in ((FRAMES_TABLE, frames), (UPLOADS_TABLE, described)):
            path = directory / object_key(table, day, f"batch{first:08d}")
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, path, compression="zstd")
        rows_written += len(upload)
        print(f"\r  writing the log: {last:,} / {uploads:,} uploads, {rows_written:,} rows", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {
        "planted": {kind: sorted(ids[members].tolist()) for kind, members in model.planted.items()},
        "reference": [as_hex(row) for row in model.reference],
        "listed_pdq": as_hex(model.listed_pdq),
        "listed_sha256": model.listed_sha256,
        "rows": rows_written,
    }


def scanned_bytes(directory: Path, since_day: str) -> dict[str, int]:
    """What Athena would read for one retro-match, by table: per query, the compressed column chunks of the columns it names, in the window.

    An estimate from the Parquet footers; the second query is counted as a full read of its columns
    (row-group pruning by upload_id would make it less).
    """
    found = {UPLOADS_TABLE: 0, FRAMES_TABLE: 0}
    for sql in (RETRO_CANDIDATES_SQL, RETRO_ROWS_SQL):
        named = set(re.findall(r"\b[a-z_0-9]+\b", sql))
        for table in found:
            for path in (directory / table).glob("dt=*/*.parquet"):
                if path.parent.name[3:] < since_day:
                    continue
                metadata = pq.ParquetFile(path).metadata
                for group in range(metadata.num_row_groups):
                    for column in range(metadata.num_columns):
                        chunk = metadata.row_group(group).column(column)
                        if chunk.path_in_schema in named:
                            found[table] += chunk.total_compressed_size
    return found


def timed(function, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.retro", description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=10_000, help="uploads per log file (the log writer's batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-frames", type=lambda text: [int(n) for n in text.split(",")], default=[60, 600], help=f"reference sizes to run, comma-separated (at most {LONGEST_REFERENCE})")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: every CPU)")
    parser.add_argument("--no-lookup", action="store_true", help="skip the lookup API's latency (hashmatch_tools.bench.lookup)")
    parser.add_argument("--out", type=Path, help="write the table between the make bench-retro marks of this file")
    args = parser.parse_args(argv)
    provenance = Provenance.capture(ROOT)
    command = "python -m hashmatch_tools.bench.retro " + " ".join(sys.argv[1:] if argv is None else argv)

    directory = CACHE / f"v2-u{args.uploads}-d{args.days}-b{args.batch}-r{LONGEST_REFERENCE}"
    manifest = directory / "planted.json"
    log_seconds = None
    if not manifest.exists():
        shutil.rmtree(directory, ignore_errors=True)
        started = time.perf_counter()
        planted = build_log(directory, args.uploads, args.days, args.batch, seed=11)
        manifest.write_text(json.dumps(planted))
        log_seconds = time.perf_counter() - started
        print(f"log written in {log_seconds:.1f} s: {args.uploads:,} uploads, {planted['rows']:,} rows, {args.days} days")
    planted = json.loads(manifest.read_text())
    files = sorted(directory.rglob("*.parquet"))
    log_bytes = sum(path.stat().st_size for path in files)
    since_day = (LAST_DAY - datetime.timedelta(days=args.days - 1)).isoformat()

    listed_pdq = KnownItemState(KnownItem(f"pdq:{planted['listed_pdq']}", ("listed",), "bench list", ENTRY_KIND))
    listed_sha = KnownItemState(KnownItem(f"sha256:{planted['listed_sha256']}", ("listed",), "bench list", ENTRY_KIND))
    kinds = {kind: set(planted["planted"][kind]) for kind in SHOULD_MATCH + MUST_NOT_MATCH}
    should = set().union(*(kinds[kind] for kind in SHOULD_MATCH))
    must_not = set().union(*(kinds[kind] for kind in MUST_NOT_MATCH))
    pdq_should = should - kinds["sha256"]
    engine = DuckDbEngine(directory, threads=args.threads or None)
    scanned = scanned_bytes(directory, since_day)
    athena_bytes = scanned[FRAMES_TABLE] + scanned[UPLOADS_TABLE]
    each = len(kinds[SHOULD_MATCH[0]])
    lines = [
        f"DuckDB {engine.connection.execute('select version()').fetchone()[0]}, threads {args.threads or 'all'}.",
        "",
        f"Log: {args.uploads:,} uploads ({FRAMES} frames each from 1-3 scenes of a pool of {max(2_000, args.uploads // 4):,} recurring with Zipf popularity, "
        f"{ROWS_PER_FRAME[0]}-{ROWS_PER_FRAME[1]} rows a frame: {planted['rows']:,} rows), {args.days} days, {len(files):,} Parquet files, {log_bytes / 1e6:,.1f} MB"
        + (f", written in {log_seconds:.0f} s." if log_seconds is not None else " (written by an earlier run)."),
        f"Planted, {each} uploads of each kind: " + "; ".join(SHOULD_MATCH) + f" (all must match; copies {COPY_BITS[0]}-{COPY_BITS[1]} bits a frame); "
        + "; ".join(MUST_NOT_MATCH) + f" ({NEAR_MISS_BITS[0]}-{NEAR_MISS_BITS[1]} bits a frame: none may match). The reference's first {len(HOT_SCENES)} scenes sit {HOT_DISTANCE} bits "
        f"from the log's scenes of popularity ranks {', '.join(str(r + 1) for r in HOT_SCENES)} (the chunk probes reach their frames, the distance turns them away).",
        f"Data the two queries read (Athena's bill: the named columns, compressed, per query): {athena_bytes / 1e6:,.1f} MB (upload_frames {scanned[FRAMES_TABLE] / 1e6:,.1f} MB, "
        f"uploads {scanned[UPLOADS_TABLE] / 1e6:,.1f} MB), about ${athena_bytes / 1e12 * 5:.4f} at 5 USD per TB.",
        "",
        f"| new references | probe rows | probe hits (rows met by a chunk probe) / their uploads | retro-match (chunk probes + Matcher, median of {args.repeats}) | old way: brute force in SQL | old / new | candidates "
        "| recall of planted | false positives: near misses matched / other uploads matched | brute force: planted PDQ copies found / near misses found |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    per_kind_rows = []
    headline = []
    for size in args.reference_frames:
        reference = KnownItemState(KnownItem(f"bench-reference-{size}", ("known video",), "bench", "video", duration=2.0 * size), frames=tuple((2.0 * i, h) for i, h in enumerate(planted["reference"][:size])))
        states = [reference, listed_pdq, listed_sha]
        new_seconds, run = timed(lambda: retro_match(engine, states, since_day, PDQ_CONFIDENT_MATCH_THRESHOLD), args.repeats)
        probes = engine.query("SELECT count(*) AS n FROM retro_probes WHERE run_id = ? AND kind <> 'upload'", [run.run_id])[0]["n"]
        hits = engine.query(PROBE_HITS_SQL, [run.run_id, since_day, 50])[0]
        old_seconds, brute = timed(lambda: {row["upload_id"] for row in engine.query(BRUTE_FORCE_SQL, [run.run_id, since_day, 50, PDQ_CONFIDENT_MATCH_THRESHOLD])}, 1)
        matched = {m.logged.upload["upload_id"] for m in run.matches}
        recall = len(matched & should) / len(should)
        near_matched = matched & must_not
        others = matched - should - must_not
        ok = ok and recall == 1.0 and not near_matched and not others
        lines.append(
            f"| a {size}-frame video, a PDQ hash, a SHA-256 | {probes:,} | {hits['hits']:,} / {hits['uploads']:,} | **{new_seconds:.2f} s** | {old_seconds:.2f} s | **{old_seconds / new_seconds:.1f}x** | {run.candidates:,} "
            f"| **{recall:.0%}** ({len(matched & should)} of {len(should)}) | **{len(near_matched)}** / {len(others)} | {len(brute & pdq_should)} of {len(pdq_should)} / {len(brute & must_not)} |"
        )
        print(lines[-1], flush=True)
        per_kind_rows.append((size, {kind: len(matched & members) for kind, members in kinds.items()}))
        headline.append(
            f"- a {size}-frame reference: retro-match {new_seconds:.2f} s against brute force in SQL {old_seconds:.2f} s ({old_seconds / new_seconds:.1f}x), "
            f"recall {recall:.0%} of {len(should)} planted uploads, {len(near_matched)} of {len(must_not)} near misses matched, {len(others)} other uploads matched"
        )
    lines += ["", "Matched per planted kind (of " + str(each) + " each):", "", "| planted kind | " + " | ".join(f"{size}-frame reference" for size, _ in per_kind_rows) + " |", "|---|" + "---|" * len(per_kind_rows)]
    for kind in SHOULD_MATCH + MUST_NOT_MATCH:
        lines.append(f"| {kind} ({'must match' if kind in SHOULD_MATCH else 'must not match'}) | " + " | ".join(str(counts[kind]) for _size, counts in per_kind_rows) + " |")
    if not args.no_lookup:
        lookup = subprocess.run([sys.executable, "-m", "hashmatch_tools.bench.lookup"], capture_output=True, text=True, timeout=1800)
        lines += ["", "Lookup API (`python -m hashmatch_tools.bench.lookup`, warm, local stack over HTTP):", "", "```", lookup.stdout.strip() or lookup.stderr.strip()[-2000:], "```"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        write_block(args.out, BLOCK, text, provenance, command)
        headline_text = f"Retro-match over {args.uploads:,} logged uploads ({planted['rows']:,} rows, clustered, variants logged):\n\n" + "\n".join(headline)
        write_block(args.out, HEADLINE, headline_text, provenance, command)
        write_headline(HEADLINE, headline_text, provenance, command, [README])
    engine.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
