"""Retro-match: find the logged uploads (upload_log.py) that newly added references or hash-list entries match.

The same SQL texts (RETRO_CANDIDATES_SQL, then RETRO_ROWS_SQL) run on Amazon Athena over the log in S3 and on DuckDB over the
same Parquet files locally; it narrows the log to candidate uploads, and the Matcher the live
pipeline uses then decides on each candidate with the same thresholds and video percentages.

How the SQL narrows: the new references' frames and digests are written as probes (a small table,
`retro_probes`, one run's rows under its run_id). A logged frame within `threshold` bits (31 of
256) of a reference frame agrees with it within one bit on at least one of the sixteen 16-bit
chunks of the hash (pigeonhole: 31 differing bits cannot put two in every chunk). So each
reference frame is probed with, per chunk, its own value and the sixteen values one bit away,
and a logged frame is a candidate only when one of its chunks equals one of those: an equality
join, as multi-index hashing does in memory. The full Hamming distance (popcount of the XOR of the
four 64-bit words) is computed for those pairs only. Digests (MD5, SHA-256) are equality probes
on the uploads table. The candidates are then written as probes too, and a second query returns
every row of theirs, so that the Matcher sees each upload as the live matcher saw it. Two queries,
so that each reads each table once (Trino evaluates a CTE once per reference).

The SQL uses Trino's functions (bitwise_xor, bitwise_and, bitwise_right_shift, bit_count(x, 64));
DuckDB gets them as macros (DUCKDB_COMPATIBILITY), so the text is the same for both.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, Sequence

from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView, KnownItemState
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.upload_log.records import FRAMES_TABLE, UPLOADS_TABLE, hash_words, words_hex
from hashmatch.vocabulary import MediaKind, Role

PROBES_TABLE = "retro_probes"
CHUNK_BITS = 16
CHUNKS = 256 // CHUNK_BITS
# The chunk radius that makes the equality join exact up to this many bits: (radius + 1) * CHUNKS - 1.
CHUNK_RADIUS = 1
MAX_EXACT_THRESHOLD = (CHUNK_RADIUS + 1) * CHUNKS - 1

PROBE_COLUMNS = (
    ("run_id", "string"),
    ("kind", "string"),  # "pdq" or "digest"
    ("probe", "string"),  # the reference (or entry) key
    ("chunk", "int32"),
    ("value", "int32"),
    ("h0", "int64"),
    ("h1", "int64"),
    ("h2", "int64"),
    ("h3", "int64"),
    ("digest", "string"),
)

_CHUNK_ROWS = ", ".join(f"({c}, {c // 4}, {48 - 16 * (c % 4)})" for c in range(CHUNKS))
_DISTANCE = " + ".join(f"bit_count(bitwise_xor(k.h{w}, p.h{w}), 64)" for w in range(4))

# Which logged uploads are candidates. Parameters: run_id, first day (dt, 'YYYY-MM-DD'), min quality, threshold,
# then run_id and first day twice (MD5, SHA-256: two equality joins, not one join on an OR, which would loop).
# Built once from this module's constants (table names, chunk layout); every value is a bound parameter.
RETRO_CANDIDATES_SQL = f"""
WITH chunks (chunk, word, shift) AS (
  VALUES {_CHUNK_ROWS}
),
probes AS (
  SELECT probe, chunk, value, h0, h1, h2, h3 FROM {PROBES_TABLE} WHERE run_id = ? AND kind = 'pdq'
),
keyed AS (
  SELECT f.upload_id, f.h0, f.h1, f.h2, f.h3, c.chunk,
         bitwise_and(bitwise_right_shift(CASE c.word WHEN 0 THEN f.h0 WHEN 1 THEN f.h1 WHEN 2 THEN f.h2 ELSE f.h3 END, c.shift), 65535) AS value
  FROM {FRAMES_TABLE} f CROSS JOIN chunks c
  WHERE f.dt >= ? AND f.quality >= ?
)
SELECT DISTINCT k.upload_id
FROM keyed k JOIN probes p ON p.chunk = k.chunk AND p.value = k.value
WHERE {_DISTANCE} <= ?
UNION
SELECT u.upload_id
FROM {UPLOADS_TABLE} u JOIN (SELECT digest FROM {PROBES_TABLE} WHERE run_id = ? AND kind = 'digest') d ON u.md5 = d.digest
WHERE u.dt >= ?
UNION
SELECT u.upload_id
FROM {UPLOADS_TABLE} u JOIN (SELECT digest FROM {PROBES_TABLE} WHERE run_id = ? AND kind = 'digest') d ON u.sha256 = d.digest
WHERE u.dt >= ?
""".strip()  # nosec B608

# Every row of the candidates (written as probes of kind 'upload'). Parameters: run_id, first day, run_id, first day.
# Built from the same constants; every value is a bound parameter.
RETRO_ROWS_SQL = f"""
SELECT u.upload_id, u.bucket, u.key, u.version_id, u.etag, u.size, u.uploaded_at, u.hashed_at, u.checked_at,
       u.kind, u.format, u.duration, u.width, u.height, u.md5, u.sha256, u.frames_hashed,
       f.frame, f.variant, f.timestamp, f.quality, f.h0, f.h1, f.h2, f.h3
FROM {UPLOADS_TABLE} u
LEFT JOIN (
  SELECT upload_id, frame, variant, timestamp, quality, h0, h1, h2, h3 FROM {FRAMES_TABLE}
  WHERE dt >= ? AND upload_id IN (SELECT probe FROM {PROBES_TABLE} WHERE run_id = ? AND kind = 'upload')
) f ON f.upload_id = u.upload_id
WHERE u.dt >= ? AND u.upload_id IN (SELECT probe FROM {PROBES_TABLE} WHERE run_id = ? AND kind = 'upload')
ORDER BY u.upload_id, f.frame, f.variant
""".strip()  # nosec B608

# DuckDB's spelling of the Trino functions RETRO_CANDIDATES_SQL uses (system.main.bit_count is DuckDB's own).
DUCKDB_COMPATIBILITY = (
    "CREATE OR REPLACE MACRO bitwise_xor(a, b) AS xor(a, b)",
    "CREATE OR REPLACE MACRO bitwise_and(a, b) AS a & b",
    "CREATE OR REPLACE MACRO bitwise_right_shift(a, b) AS a >> b",
    # DuckDB counts into a TINYINT, Trino into a BIGINT: four counts of 64 bits overflow the first.
    "CREATE OR REPLACE MACRO bit_count(x, bits) AS CAST(system.main.bit_count(x) AS BIGINT)",
)


class QueryEngine(Protocol):
    """Where retro-match's SQL runs: Athena (hashmatch.aws.athena.AthenaEngine) or DuckDB (hashmatch.upload_log.duckdb_engine.DuckDbEngine)."""

    def put_probes(self, run_id: str, part: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Make `rows` the run's probes of this part ("references" or "candidates"), replacing what an earlier call put there."""

    def query(self, sql: str, parameters: Sequence[Any]) -> list[dict]: ...


def _chunk_values(words: Sequence[int]) -> list[tuple[int, int]]:
    values = []
    for chunk in range(CHUNKS):
        word = words[chunk // 4] & 0xFFFFFFFFFFFFFFFF
        values.append((chunk, (word >> (48 - 16 * (chunk % 4))) & 0xFFFF))
    return values


def probe_rows(states: Iterable[KnownItemState], run_id: str) -> list[dict]:
    """The probes for these references: per PDQ frame and chunk its value and every value one bit away; per digest one row."""
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()
    for state in states:
        key = state.key
        frames, digests = list(state.frames), list(state.digests)
        if state.item.is_entry:
            # A hash-list entry's hash is its key: "pdq:<hex>", "md5:<hex>", "sha256:<hex>".
            kind, _, value = key.partition(":")
            if kind == "pdq":
                frames.append((0.0, value))
            else:
                digests.append((kind, value))
        for _, pdq in frames:
            if (key, pdq) in seen:
                continue
            seen.add((key, pdq))
            words = hash_words(pdq)
            for chunk, value in _chunk_values(words):
                for flipped in [value] + [value ^ (1 << bit) for bit in range(CHUNK_BITS)]:
                    rows.append({"run_id": run_id, "kind": "pdq", "probe": key, "chunk": chunk, "value": flipped, "h0": words[0], "h1": words[1], "h2": words[2], "h3": words[3], "digest": None})
        for _, digest in digests:
            rows.append({"run_id": run_id, "kind": "digest", "probe": key, "chunk": None, "value": None, "h0": None, "h1": None, "h2": None, "h3": None, "digest": digest})
    return rows


def candidate_row(run_id: str, upload_id: str) -> dict:
    """A candidate upload as a probe row (kind 'upload'), which RETRO_ROWS_SQL reads its rows by."""
    return {"run_id": run_id, "kind": "upload", "probe": upload_id, "chunk": None, "value": None, "h0": None, "h1": None, "h2": None, "h3": None, "digest": None}


def run_id_of(states: Sequence[KnownItemState], since_day: str) -> str:
    """A run's id: the same references over the same window give the same id (a re-run reuses its probes)."""
    text = "\n".join(sorted(f"{s.key}:{len(s.frames)}:{len(s.digests)}" for s in states)) + f"\n{since_day}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoggedUpload:
    """A candidate upload as the log has it: its identity and times (`upload`) and its hashes."""

    upload: dict
    hashed_at: str | None
    checked_at: str
    hashes: MediaHashes


def logged_uploads(rows: Iterable[Mapping[str, Any]]) -> list[LoggedUpload]:
    """The query's rows (one per frame hash of a candidate upload) as uploads; rows repeated by a retried log batch count once."""
    grouped: dict[str, tuple[Mapping[str, Any], dict[int, dict[int, tuple[float, int, str]]]]] = {}
    for row in rows:
        description, frames = grouped.setdefault(str(row["upload_id"]), (row, {}))
        if row.get("frame") is None:
            continue
        words = [int(row[f"h{w}"]) for w in range(4)]
        frames.setdefault(int(row["frame"]), {})[int(row["variant"])] = (float(row["timestamp"]), int(row["quality"]), words_hex(words))
    uploads = []
    for upload_id, (row, frames) in grouped.items():
        frame_hashes = []
        for index in sorted(frames):
            variants = frames[index]
            timestamp, quality, own = variants.get(0, next(iter(variants.values())))
            frame_hashes.append(FrameHashes(timestamp=timestamp, pdq=own, quality=quality, variants=tuple(variants[v][2] for v in sorted(variants) if v != 0)))
        hashes = MediaHashes(
            kind=MediaKind(row["kind"]),
            format=row.get("format") or "",
            duration=float(row.get("duration") or 0.0),
            width=int(row.get("width") or 0),
            height=int(row.get("height") or 0),
            md5=row.get("md5") or "",
            sha256=row.get("sha256") or "",
            role=Role.UPLOAD,
            frames=tuple(frame_hashes),
            frames_sampled=int(row.get("frames_hashed") or len(frame_hashes)),
        )
        upload = {name: row.get(name) for name in ("bucket", "key", "version_id", "etag", "size", "uploaded_at")}
        upload["upload_id"] = upload_id
        if upload["size"] is not None:
            upload["size"] = int(upload["size"])
        uploads.append(LoggedUpload(upload, row.get("hashed_at"), str(row.get("checked_at")), hashes))
    return uploads


@dataclass(frozen=True)
class RetroMatch:
    """A logged upload the new references match: the Matcher's verdicts, best first, by reference key."""

    logged: LoggedUpload
    matches: list[tuple[str, Any]]  # (reference key, Verdict)


@dataclass(frozen=True)
class RetroMatchRun:
    run_id: str
    candidates: int
    matches: list[RetroMatch]
    snapshot: HashSetSnapshot


def retro_match(
    engine: QueryEngine,
    states: Sequence[KnownItemState],
    since_day: str,
    threshold: int,
) -> RetroMatchRun:
    """Logged uploads since `since_day` (inclusive) that these references match, decided by the live Matcher (PDQ and digests)."""
    if threshold > MAX_EXACT_THRESHOLD:
        raise ValueError(f"the chunk probes find every pair within {MAX_EXACT_THRESHOLD} bits, not {threshold}")
    states = [state for state in states if state is not None]
    snapshot = HashSetSnapshot.of_states(states)
    run_id = run_id_of(states, since_day)
    probes = probe_rows(states, run_id)
    if not probes:
        return RetroMatchRun(run_id, 0, [], snapshot)
    engine.put_probes(run_id, "references", probes)
    found_ids = sorted({str(row["upload_id"]) for row in engine.query(RETRO_CANDIDATES_SQL, [run_id, since_day, PRIMARY_SIGNAL.min_quality, threshold, run_id, since_day, run_id, since_day])})
    if not found_ids:
        return RetroMatchRun(run_id, 0, [], snapshot)
    engine.put_probes(run_id, "candidates", [candidate_row(run_id, upload_id) for upload_id in found_ids])
    candidates = logged_uploads(engine.query(RETRO_ROWS_SQL, [since_day, run_id, since_day, run_id]))
    # Local features need pictures the log does not keep: the Matcher here has PDQ and the digests.
    matcher = hash_set_matcher(HashSetView(snapshot), threshold)
    found = []
    for logged in candidates:
        result = matcher.match(logged.hashes, None)
        if result.matches:
            found.append(RetroMatch(logged, [(str(key), verdict) for key, verdict in result.matches]))
    return RetroMatchRun(run_id, len(candidates), found, snapshot)


RETRO_NAMESPACE = uuid.UUID("6f2d3c1e-8a4b-5d7e-9f10-2a3b4c5d6e7f")


def retro_match_id(upload_id: str, reference_keys: Iterable[str]) -> str:
    """The match_id of a retro-match: the same upload and references give the same id, whoever runs it and how often."""
    return str(uuid.uuid5(RETRO_NAMESPACE, upload_id + "\n" + "\n".join(sorted(reference_keys))))
