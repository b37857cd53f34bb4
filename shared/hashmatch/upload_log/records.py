"""The upload hash log: every checked upload's hashes, kept so that a hash added later can find it (retro-match).

No pictures, only hashes. Two tables of Parquet files, partitioned by the day the upload was
checked (`dt=YYYY-MM-DD`, Hive style), which Athena reads through the Glue tables of
template.yaml and DuckDB reads locally (retro_match.py):

  uploads        one row per checked upload: its identity (upload_id, bucket, key, version_id,
                 etag, size), times, media description, MD5 and SHA-256
  upload_frames  one row per PDQ hash of a sampled frame: the frame's own hash (variant 0) and the
                 hashes of its variants (mirrored and rotated, uncropped, inner picture: 1, 2, ...),
                 with the frame's index, timestamp and quality; the 256 bits as four signed 64-bit
                 words h0..h3, most significant first, which SQL can XOR and count

The matcher sends each checked upload to the log queue as log messages (`log_messages`); the
log writer turns a batch of them into one Parquet file per table and day (`parquet_files`).
This module needs the standard library only (pyarrow when writing Parquet), so the log writer's
package is pyarrow and nothing of the matcher's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:
    from hashmatch.model import MediaHashes

LOG_MESSAGE_TYPE = "hashmatch.upload-log"
LOG_MESSAGE_VERSION = 1
UPLOADS_TABLE = "uploads"
FRAMES_TABLE = "upload_frames"
# A log message stays under this many bytes of frames (SQS takes 256 KiB and more): a long video is sent in parts.
MAX_FRAME_BYTES_PER_MESSAGE = 160 * 1024
HEX_DIGITS = 64

UPLOAD_COLUMNS = (
    ("upload_id", "string"),
    ("bucket", "string"),
    ("key", "string"),
    ("version_id", "string"),
    ("etag", "string"),
    ("size", "int64"),
    ("uploaded_at", "string"),
    ("hashed_at", "string"),
    ("checked_at", "string"),
    ("kind", "string"),
    ("format", "string"),
    ("duration", "float64"),
    ("width", "int32"),
    ("height", "int32"),
    ("md5", "string"),
    ("sha256", "string"),
    ("frames_hashed", "int32"),
    # Coverage (issue 27): seconds of the main picture the hashed frames stand for, and the largest share of any of the
    # upload's pictures that none does (0 when wholly covered; over hashing.MAX_UNCOVERED_SHARE the upload was held).
    ("covered_seconds", "float64"),
    ("uncovered_share", "float64"),
)
FRAME_COLUMNS = (
    ("upload_id", "string"),
    ("version_id", "string"),
    ("frame", "int32"),
    ("variant", "int32"),
    ("track", "int32"),  # which of the upload's pictures (video stream, cover art, page) the frame is of; 0 the main one
    ("timestamp", "float64"),
    ("quality", "int32"),
    ("h0", "int64"),
    ("h1", "int64"),
    ("h2", "int64"),
    ("h3", "int64"),
)


class LogMessageError(ValueError):
    """A log message that is not one this module wrote (wrong type or version, a bad hash)."""


def hash_words(pdq_hex: str) -> tuple[int, int, int, int]:
    """A 256-bit PDQ hash (64 hex digits) as four signed 64-bit words, most significant first."""
    if len(pdq_hex) != HEX_DIGITS:
        raise LogMessageError(f"a PDQ hash has {HEX_DIGITS} hex digits, not {len(pdq_hex)}")
    words = []
    for start in range(0, HEX_DIGITS, 16):
        word = int(pdq_hex[start : start + 16], 16)
        words.append(word - (1 << 64) if word >= 1 << 63 else word)
    return tuple(words)  # type: ignore[return-value]


def words_hex(words: Sequence[int]) -> str:
    """The inverse of hash_words."""
    return "".join(f"{word & 0xFFFFFFFFFFFFFFFF:016x}" for word in words)


def day_of(timestamp: str) -> str:
    """The log partition (dt) of an ISO 8601 time: its date."""
    return timestamp[:10]


def log_messages(upload: Mapping[str, Any], hashes: "MediaHashes", hashed_at: str, checked_at: str) -> list[dict]:
    """The log messages for one checked upload: its description in each, its frames spread over as many parts as their size needs.

    `upload` is the upload's identity (Upload.to_dict()). A frame travels as
    [index, timestamp, quality, hex], hex being its own PDQ hash followed by its variants'.
    """
    media = {
        "kind": str(hashes.kind),
        "format": hashes.format,
        "duration": round(float(hashes.duration), 3),
        "width": int(hashes.width),
        "height": int(hashes.height),
        "md5": hashes.md5,
        "sha256": hashes.sha256,
        "frames_hashed": len(hashes.frames),
        "hashed_at": hashed_at,
        "covered_seconds": round(float(hashes.covered_seconds if hashes.covered_seconds is not None else hashes.duration), 3),
        "uncovered_share": round(max((track.uncovered_share for track in hashes.tracks), default=_main_uncovered_share(hashes)), 4),
    }
    parts: list[list[list]] = [[]]
    size = 0
    for index, frame in enumerate(hashes.frames):
        row = [index, round(float(frame.timestamp), 3), int(frame.quality), frame.pdq + "".join(frame.variants)]
        if frame.track:
            row.append(int(frame.track))
        row_size = len(row[3]) + 32
        if parts[-1] and size + row_size > MAX_FRAME_BYTES_PER_MESSAGE:
            parts.append([])
            size = 0
        parts[-1].append(row)
        size += row_size
    return [
        {
            "message_type": LOG_MESSAGE_TYPE,
            "message_version": LOG_MESSAGE_VERSION,
            "checked_at": checked_at,
            "part": number,
            "parts": len(parts),
            "upload": dict(upload),
            "media": media,
            "frames": frames,
        }
        for number, frames in enumerate(parts)
    ]


def _main_uncovered_share(hashes: "MediaHashes") -> float:
    if not hashes.duration or hashes.covered_seconds is None:
        return 0.0
    return max(0.0, 1.0 - float(hashes.covered_seconds) / float(hashes.duration))


def send_batches(bodies: Sequence[str], count: int, size: int) -> list[list[str]]:
    """Message bodies in order, grouped for batch sends of at most `count` messages and `size` characters in all."""
    batches: list[list[str]] = []
    total = 0
    for body in bodies:
        if not batches or len(batches[-1]) == count or total + len(body) > size:
            batches.append([])
            total = 0
        batches[-1].append(body)
        total += len(body)
    return batches


@dataclass(frozen=True)
class LogRows:
    """A batch of log messages as table rows, by day."""

    uploads: dict[str, list[dict]]
    frames: dict[str, list[dict]]


def log_rows(messages: Iterable[Mapping[str, Any]]) -> LogRows:
    """The rows of these log messages; raises LogMessageError on one this module did not write."""
    uploads: dict[str, list[dict]] = {}
    frames: dict[str, list[dict]] = {}
    for message in messages:
        if message.get("message_type") != LOG_MESSAGE_TYPE or message.get("message_version") != LOG_MESSAGE_VERSION:
            raise LogMessageError(f"not a {LOG_MESSAGE_TYPE} message, version {LOG_MESSAGE_VERSION}")
        try:
            upload, media, checked_at = message["upload"], message["media"], str(message["checked_at"])
            day = day_of(checked_at)
            upload_id, version_id = str(upload["upload_id"]), upload.get("version_id")
            if message.get("part", 0) == 0:
                uploads.setdefault(day, []).append(
                    {
                        "upload_id": upload_id,
                        "bucket": upload.get("bucket"),
                        "key": upload.get("key"),
                        "version_id": version_id,
                        "etag": upload.get("etag"),
                        "size": upload.get("size"),
                        "uploaded_at": upload.get("uploaded_at"),
                        "hashed_at": media.get("hashed_at"),
                        "checked_at": checked_at,
                        "kind": media["kind"],
                        "format": media.get("format", ""),
                        "duration": float(media.get("duration", 0.0)),
                        "width": int(media.get("width", 0)),
                        "height": int(media.get("height", 0)),
                        "md5": media.get("md5", ""),
                        "sha256": media.get("sha256", ""),
                        "frames_hashed": int(media.get("frames_hashed", 0)),
                        "covered_seconds": float(media["covered_seconds"]) if media.get("covered_seconds") is not None else None,
                        "uncovered_share": float(media["uncovered_share"]) if media.get("uncovered_share") is not None else None,
                    }
                )
            day_frames = frames.setdefault(day, [])
            for index, timestamp, quality, digits, *rest in message["frames"]:
                if len(digits) % HEX_DIGITS:
                    raise LogMessageError(f"frame {index}: {len(digits)} hex digits is not a whole number of PDQ hashes")
                for variant, start in enumerate(range(0, len(digits), HEX_DIGITS)):
                    h0, h1, h2, h3 = hash_words(digits[start : start + HEX_DIGITS])
                    day_frames.append(
                        {
                            "upload_id": upload_id,
                            "version_id": version_id,
                            "frame": int(index),
                            "variant": variant,
                            "track": int(rest[0]) if rest else 0,
                            "timestamp": float(timestamp),
                            "quality": int(quality),
                            "h0": h0,
                            "h1": h1,
                            "h2": h2,
                            "h3": h3,
                        }
                    )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, LogMessageError):
                raise
            raise LogMessageError(f"malformed log message: {error!r}") from None
    return LogRows(uploads, frames)


def _arrow_schema(columns: Sequence[tuple[str, str]]):
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in columns])


def parquet_bytes(rows: list[dict], table: str) -> bytes:
    """One Parquet file (zstd) of rows of `table` (uploads or upload_frames)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = UPLOAD_COLUMNS if table == UPLOADS_TABLE else FRAME_COLUMNS
    arrow = pa.Table.from_pylist(rows, schema=_arrow_schema(columns))
    sink = pa.BufferOutputStream()
    pq.write_table(arrow, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def object_key(table: str, day: str, batch_id: str) -> str:
    """Where a batch's file of one table and day goes: `<table>/dt=<day>/<batch>.parquet`."""
    return f"{table}/dt={day}/{batch_id}.parquet"


def batch_id(message_ids: Iterable[str]) -> str:
    """A name for a batch from its messages' ids: a retried batch overwrites its own files rather than adding copies."""
    return hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:32]


def parquet_files(rows: LogRows, batch: str) -> dict[str, bytes]:
    """The batch's Parquet files by object key: one per table and day."""
    files = {}
    for day, day_rows in rows.uploads.items():
        files[object_key(UPLOADS_TABLE, day, batch)] = parquet_bytes(day_rows, UPLOADS_TABLE)
    for day, day_rows in rows.frames.items():
        if day_rows:
            files[object_key(FRAMES_TABLE, day, batch)] = parquet_bytes(day_rows, FRAMES_TABLE)
    return files
