"""Retro-match at scale: --uploads synthetic uploads (10 frames each) in a local upload hash log, a reference with planted copies.

What it does, in one run:
  1. Writes the log as the log writer does (the same Parquet schema, zstd, one file per day and
     batch of --batch uploads, spread over --days days) into .cache/bench-retro/ (kept for the
     next run when the parameters are the same). Frames are random 256-bit hashes (quality 50-100),
     which is the hard case for the chunk probes: real PDQ hashes cluster, random ones do not.
  2. Plants copies of a reference video (10 consecutive frames of its first 60, every frame 0-30 bits away: these must match),
     near misses of it (each frame 36-60 bits away: these must not), copies of a listed PDQ hash
     (a picture, 0-30 bits) and uploads with a listed SHA-256.
  3. Runs retro_match (its two SQL texts on DuckDB, then the live Matcher) for the new references,
     for each --reference-frames size (the reference's first N frames: 60 is a 1-minute clip at a
     distinct frame a second, 600 ten minutes), and, in the same run, the old way: the same question by brute force in SQL (every logged
     frame against every reference frame, no chunk probes). Prints the time of each, their ratio,
     the data the query reads (the compressed Parquet column chunks of the columns it names, per
     table reference: what Athena bills), the recall of the planted uploads and the false positives.
Usage: python -m hashmatch_tools.bench.retro [--uploads 1000000] [--reference-frames 60,600] [--out docs/retro-match.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
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

from hashmatch.upload_log.duckdb_engine import DuckDbEngine
from hashmatch.upload_log.retro_match import RETRO_CANDIDATES_SQL, RETRO_ROWS_SQL, retro_match
from hashmatch.hash_set.snapshot import ENTRY_KIND, KnownItemState, KnownItem
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.upload_log.records import FRAME_COLUMNS, FRAMES_TABLE, UPLOAD_COLUMNS, UPLOADS_TABLE, hash_words, object_key

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
CACHE = ROOT / ".cache" / "bench-retro"
FRAMES = 10
# The planted copies are cut from the reference's first COPIED_FRAMES frames, so every reference size (its first N frames) holds them.
COPIED_FRAMES = 60
LONGEST_REFERENCE = 600
LAST_DAY = datetime.date(2026, 12, 1)
START, END = "<!-- make bench-retro: start -->", "<!-- make bench-retro: end -->"

# The old way: every logged frame against every reference frame, by brute force, in SQL.
BRUTE_FORCE_SQL = """
SELECT DISTINCT f.upload_id
FROM upload_frames f CROSS JOIN (SELECT DISTINCT h0, h1, h2, h3 FROM retro_probes WHERE run_id = ? AND kind = 'pdq') p
WHERE f.dt >= ? AND f.quality >= ?
  AND bit_count(bitwise_xor(f.h0, p.h0), 64) + bit_count(bitwise_xor(f.h1, p.h1), 64)
    + bit_count(bitwise_xor(f.h2, p.h2), 64) + bit_count(bitwise_xor(f.h3, p.h3), 64) <= ?
"""


def words(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=(n, 4), dtype=np.int64, endpoint=True)


def flip(hashes: np.ndarray, bits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row of `hashes` (n x 4 int64) with bits[i] distinct random bits flipped."""
    out = hashes.view(np.uint64).copy()
    for i, count in enumerate(bits):
        for bit in rng.choice(256, size=int(count), replace=False):
            out[i, bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out.view(np.int64)


def as_hex(row: np.ndarray) -> str:
    return "".join(f"{int(w) & 0xFFFFFFFFFFFFFFFF:016x}" for w in row)


def build_log(directory: Path, uploads: int, days: int, batch: int, seed: int) -> dict:
    """The synthetic log plus the planted uploads; returns what was planted (upload ids by kind) and the references."""
    rng = np.random.default_rng(seed)
    reference = words(rng, LONGEST_REFERENCE)
    listed_pdq = words(rng, 1)[0]
    listed_sha256 = "5a" * 32
    planted_copies = max(uploads // 10_000, 20)
    planted = {"video copies": [], "video near misses": [], "picture copies": [], "sha256": []}
    ids = np.array([f"s3://bench-uploads/u{i:08d}.mp4" for i in range(uploads)], dtype=object)
    # Which uploads are planted: spread over the whole log.
    chosen = rng.choice(uploads, size=4 * planted_copies, replace=False)
    kinds = {"video copies": chosen[:planted_copies], "video near misses": chosen[planted_copies : 2 * planted_copies], "picture copies": chosen[2 * planted_copies : 3 * planted_copies], "sha256": chosen[3 * planted_copies :]}
    for name, members in kinds.items():
        planted[name] = sorted(ids[members].tolist())
    frame_hashes = words(rng, uploads * FRAMES)
    for upload in kinds["video copies"]:
        start = rng.integers(0, COPIED_FRAMES - FRAMES)
        frame_hashes[upload * FRAMES : (upload + 1) * FRAMES] = flip(reference[start : start + FRAMES], rng.integers(0, 31, FRAMES), rng)
    for upload in kinds["video near misses"]:
        start = rng.integers(0, COPIED_FRAMES - FRAMES)
        frame_hashes[upload * FRAMES : (upload + 1) * FRAMES] = flip(reference[start : start + FRAMES], rng.integers(36, 61, FRAMES), rng)
    for upload in kinds["picture copies"]:
        frame_hashes[upload * FRAMES] = flip(listed_pdq[None, :], rng.integers(0, 31, 1), rng)[0]
    quality = rng.integers(50, 101, uploads * FRAMES, dtype=np.int32)
    sha256 = np.array([f"{i:064x}" for i in range(uploads)], dtype=object)
    sha256[kinds["sha256"]] = listed_sha256
    day_of = (np.arange(uploads) * days // uploads).astype(np.int64)
    written = 0
    for first in range(0, uploads, batch):
        last = min(first + batch, uploads)
        day = (LAST_DAY - datetime.timedelta(days=days - 1 - int(day_of[first]))).isoformat()
        rows = slice(first * FRAMES, last * FRAMES)
        upload_index = np.repeat(np.arange(first, last), FRAMES)
        id_dictionary = pa.array(ids[first:last].tolist(), pa.string())
        frame_ids = pc.take(id_dictionary, pa.array(upload_index - first))
        frame_numbers = np.tile(np.arange(FRAMES, dtype=np.int32), last - first)
        variant_numbers = np.zeros(len(upload_index), np.int32)
        # A picture is one frame: its ten rows are the frame's own hash and nine variants.
        pictures = np.isin(upload_index, kinds["picture copies"])
        variant_numbers[pictures], frame_numbers[pictures] = frame_numbers[pictures], 0
        frames = pa.table(
            {
                "upload_id": frame_ids,
                "version_id": pa.nulls(len(upload_index), pa.string()),
                "frame": pa.array(frame_numbers),
                "variant": pa.array(variant_numbers),
                "timestamp": pa.array(np.tile(np.arange(FRAMES, dtype=np.float64) * 2.0, last - first)),
                "quality": pa.array(quality[rows]),
                **{f"h{w}": pa.array(frame_hashes[rows, w]) for w in range(4)},
            },
            schema=pa.schema([(n, getattr(pa, k)()) for n, k in FRAME_COLUMNS]),
        )
        count = last - first
        kinds_column = np.where(np.isin(np.arange(first, last), kinds["picture copies"]), "image", "video")
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
                "kind": pa.array(kinds_column.tolist()),
                "format": pa.array(["mp4"] * count),
                "duration": pa.array(np.full(count, 2.0 * FRAMES)),
                "width": pa.array(np.full(count, 1280, np.int32)),
                "height": pa.array(np.full(count, 720, np.int32)),
                "md5": pa.array([""] * count),
                "sha256": pa.array(sha256[first:last].tolist()),
                "frames_hashed": pa.array(np.full(count, FRAMES, np.int32)),
            },
            schema=pa.schema([(n, getattr(pa, k)()) for n, k in UPLOAD_COLUMNS]),
        )
        for table, data in ((FRAMES_TABLE, frames), (UPLOADS_TABLE, described)):
            path = directory / object_key(table, day, f"batch{first:08d}")
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(data, path, compression="zstd")
        written += count
        if sys.stderr.isatty():
            print(f"\r  writing the log: {written:,} / {uploads:,} uploads", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return {
        "planted": planted,
        "reference": [as_hex(row) for row in reference],
        "listed_pdq": as_hex(listed_pdq),
        "listed_sha256": listed_sha256,
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.retro", description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=10_000, help="uploads per log file (the log writer's batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-frames", type=lambda text: [int(n) for n in text.split(",")], default=[60, 600], help=f"reference sizes to run, comma-separated (at most {LONGEST_REFERENCE})")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: every CPU)")
    parser.add_argument("--no-lookup", action="store_true", help="skip the lookup API's latency (hashmatch_tools.bench.lookup)")
    parser.add_argument("--out", type=Path, help="write the table between the make bench-retro marks of this file")
    args = parser.parse_args()

    directory = CACHE / f"u{args.uploads}-d{args.days}-b{args.batch}-r{LONGEST_REFERENCE}"
    manifest = directory / "planted.json"
    if not manifest.exists():
        shutil.rmtree(directory, ignore_errors=True)
        started = time.perf_counter()
        planted = build_log(directory, args.uploads, args.days, args.batch, seed=11)
        manifest.write_text(json.dumps(planted))
        print(f"log written in {time.perf_counter() - started:.1f} s: {args.uploads:,} uploads, {args.uploads * FRAMES:,} frame hashes, {args.days} days")
    planted = json.loads(manifest.read_text())
    files = sorted(directory.rglob("*.parquet"))
    log_bytes = sum(path.stat().st_size for path in files)
    since_day = (LAST_DAY - datetime.timedelta(days=args.days - 1)).isoformat()

    listed_pdq = KnownItemState(KnownItem(f"pdq:{planted['listed_pdq']}", ("listed",), "bench list", ENTRY_KIND))
    listed_sha = KnownItemState(KnownItem(f"sha256:{planted['listed_sha256']}", ("listed",), "bench list", ENTRY_KIND))
    should = set(planted["planted"]["video copies"]) | set(planted["planted"]["picture copies"]) | set(planted["planted"]["sha256"])
    pdq_should = set(planted["planted"]["video copies"]) | set(planted["planted"]["picture copies"])
    engine = DuckDbEngine(directory, threads=args.threads or None)
    scanned = scanned_bytes(directory, since_day)
    athena_bytes = scanned[FRAMES_TABLE] + scanned[UPLOADS_TABLE]
    lines = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, DuckDB threads {args.threads or 'all'}; {datetime.date.today().isoformat()}.",
        "",
        f"Log: {args.uploads:,} uploads ({FRAMES} frames each, {args.uploads * FRAMES:,} frame hashes, {args.days} days), {len(files):,} Parquet files, {log_bytes / 1e6:,.1f} MB.",
        f"Planted: {len(planted['planted']['video copies'])} video copies, {len(planted['planted']['picture copies'])} picture copies (a listed PDQ hash), {len(planted['planted']['sha256'])} uploads with a listed SHA-256; {len(planted['planted']['video near misses'])} video near misses (36-60 bits a frame) that must not match.",
        f"Data the two queries read (Athena's bill: the named columns, compressed, per query): {athena_bytes / 1e6:,.1f} MB (upload_frames {scanned[FRAMES_TABLE] / 1e6:,.1f} MB, uploads {scanned[UPLOADS_TABLE] / 1e6:,.1f} MB), about ${athena_bytes / 1e12 * 5:.4f} at 5 USD per TB.",
        "",
        f"| new references | probe rows | retro-match (chunk probes + Matcher, median of {args.repeats}) | old way: brute force in SQL | old / new | candidates | recall of planted | false positives (near misses matched) | brute force recall (PDQ-planted) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ok = True
    for size in args.reference_frames:
        reference = KnownItemState(KnownItem(f"bench-reference-{size}", ("known video",), "bench", "video", duration=2.0 * size), frames=tuple((2.0 * i, h) for i, h in enumerate(planted["reference"][:size])))
        states = [reference, listed_pdq, listed_sha]
        new_seconds, run = timed(lambda: retro_match(engine, states, since_day, PDQ_CONFIDENT_MATCH_THRESHOLD), args.repeats)
        probes = engine.query("SELECT count(*) AS n FROM retro_probes WHERE run_id = ? AND kind <> 'upload'", [run.run_id])[0]["n"]
        old_seconds, brute = timed(lambda: {row["upload_id"] for row in engine.query(BRUTE_FORCE_SQL, [run.run_id, since_day, 50, PDQ_CONFIDENT_MATCH_THRESHOLD])}, 1)
        matched = {m.logged.upload["upload_id"] for m in run.matches}
        recall = len(matched & should) / len(should)
        false_positives = matched - should
        near_misses = set(planted["planted"]["video near misses"]) & matched
        brute_recall = len(brute & pdq_should) / len(pdq_should)
        ok = ok and recall == 1.0 and not false_positives
        lines.append(
            f"| a {size}-frame video, a PDQ hash, a SHA-256 | {probes:,} | **{new_seconds:.2f} s** | {old_seconds:.2f} s | **{old_seconds / new_seconds:.1f}x** | {run.candidates} "
            f"| **{recall:.0%}** ({len(matched & should)} of {len(should)}) | **{len(false_positives)}** ({len(near_misses)}) | {brute_recall:.0%} |"
        )
        print(lines[-1], flush=True)
    if not args.no_lookup:
        lookup = subprocess.run([sys.executable, "-m", "hashmatch_tools.bench.lookup"], capture_output=True, text=True, timeout=1800)
        lines += ["", "Lookup API (`python -m hashmatch_tools.bench.lookup`, warm, local stack over HTTP):", "", "```", lookup.stdout.strip() or lookup.stderr.strip()[-2000:], "```"]
    text = "\n".join(lines)
    print(text)
    if args.out:
        document = args.out.read_text()
        before, _, rest = document.partition(START)
        _, _, after = rest.partition(END)
        args.out.write_text(f"{before}{START}\n{text}\n{END}{after}")
    engine.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
