"""Shared hash lists as files: the formats partners exchange, read into HashListEntry values and written back.

Pure parsing and writing, streamed line by line: no AWS, no storage. Whoever stores the
entries merges them by `HashListEntry.key`, so the same hash from two sources becomes one
entry with both provenances. The formats, with an example line each, are in docs/hash-lists.md.

Decisions a reader of a hash list should know:
- A 64-hex hash is PDQ wherever the format does not say otherwise (plain lines, the HMA CSV,
  vPDQ). A SHA-256 hash of the whole file is the same width, so it only comes from a format
  that names the signal type: JSON lines.
- PDQ hashes of quality below PDQ_MIN_QUALITY (50) are refused, as `BadLine`s saying so:
  such frames (flat, dark, featureless) hash unstably, vPDQ does not match on them and the
  hash set keeps only usable frames of the media it hashes itself (`MediaHashes.usable_frames`).
  A stored one could only produce false matches. Lines without a quality (plain PDQ, the HMA
  CSV) are taken as they are.
- vPDQ frames of quality below 50 are skipped and counted (`SkippedLine`), not refused: vPDQ
  itself ignores them, so a list that holds them is a valid list.
- TMK+PDQF (the HMA export's `TMK1FVECPDQF|base64...` video hashes) is read into TmkEntry values
  (formats/tmk.py), never as something else: kept and counted.
- A vPDQ file is one video: its entries carry the file's name in their source_id
  (`name#frame_number`), their quality and their time in it, and `listed_video` says which video
  an entry is a frame of. The hash set matches a listed video's frames together, as a video
  (hash_set/snapshot.py), not each frame as a picture of its own.

The formats of the field's other tools (python-threatexchange's file exchange and dataset CSV, HMA
1.0's state files, vPDQ as a JSON signal, TMK) are read and written by the modules of
hash_set/formats/; this module detects a list's format and hands each line to its reader.

Over 450 lines on purpose: each format's reader and writer sit side by side, so that what one reads
the other writes; split by format, every change to a format would touch two modules.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import chain, islice
from collections.abc import Iterable, Iterator
from typing import Any

from hashmatch.hashes import Hash, HashFormatError
from hashmatch.pdq_limits import PDQ_BITS, PDQ_MIN_QUALITY
from hashmatch.vocabulary import ListedSignal

# Detection looks at this many lines with content (blank lines and comments not counted).
DETECTION_LINES = 20
# A bad line is quoted this far in reports: a TMK line runs to hundreds of kilobytes.
BAD_LINE_TEXT_CHARS = 200


class HashListFormat(StrEnum):
    """The file formats `read_hash_list` reads and `write_hash_list` writes."""

    PDQ_LINES = "pdq"  # one PDQ hash (64 hex digits) a line
    HMA_CSV = "hma-csv"  # HMA 1.0 state file: hash,indicator_id,descriptor_id,added_on,tags (the 4-column export read too)
    VPDQ = "vpdq"  # one video's per-frame vPDQ hashes: frame_number,quality,pdq_hex,timestamp_seconds (or hex before quality)
    JSON_LINES = "jsonl"  # one JSON object a line, every field of HashListEntry
    PYTX_FILE = "pytx-file"  # python-threatexchange's file exchange: `<signal type> <signal>` lines
    PYTX_CSV = "pytx-csv"  # `threatexchange dataset -P --csv`: signal_type,signal_str,collab,category,tags
    VPDQ_JSON = "vpdq-json"  # one video's vPDQ signal as python-threatexchange and HMA 2.0 store it: a JSON list


class EntryStatus(StrEnum):
    """ACTIVE entries are matched; ALLOWED entries form an allow-list: matches to them are suppressed."""

    ACTIVE = "active"
    ALLOWED = "allowed"


_HEX_DIGITS = {ListedSignal.PDQ: PDQ_BITS // 4, ListedSignal.MD5: 32, ListedSignal.SHA256: 64}
_TMK_PREFIX = "TMK"  # hex never starts with T, so the prefix cannot be a hash
_WHOLE_NUMBER = re.compile(r"\d+")
_HMA_HEADER_FIRST_FIELD = "hash"


def _signal_kind(value: Any) -> ListedSignal:
    try:
        return ListedSignal(value)
    except ValueError:
        if isinstance(value, str) and "tmk" in value.lower():
            raise ValueError("TMK hashes are not supported") from None
        raise ValueError(f"unknown signal type {value!r:.40}; known: {', '.join(ListedSignal)}") from None


def _normalised_hash(kind: ListedSignal, text: Any) -> str:
    """The hash as lowercase hex, validated for the signal type's width (uppercase and spaces around are accepted)."""
    if isinstance(text, str) and text.strip().startswith(_TMK_PREFIX):
        raise ValueError("TMK hashes are not supported")
    try:
        return str(Hash.from_hex(text, _HEX_DIGITS[kind] * 4))
    except HashFormatError:
        raise ValueError(f"not {_HEX_DIGITS[kind]} hex digits") from None


def _normalised_time(value: Any) -> str:
    """An ISO 8601 time with a time zone, in datetime.isoformat's form (so equal times compare equal)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"time {value!r:.40} is not ISO 8601") from None
    else:
        raise ValueError("a time must be an ISO 8601 string")
    if moment.tzinfo is None:
        raise ValueError(f"time {value!s:.40} has no time zone")
    return moment.isoformat()


normalised_time = _normalised_time  # for the formats of hash_set/formats


@dataclass(frozen=True, kw_only=True)
class HashListEntry:
    """One hash of a hash list, with one provenance (source, source_id).

    Validated when made: `hash` is stored as lowercase hex of the signal type's width, `labels`
    as a tuple, `added_at` as an ISO 8601 time with a time zone in `datetime.isoformat` form.
    `quality` and `timestamp` (seconds into the video) belong to PDQ hashes of video frames
    (vPDQ); a PDQ quality below 50 is refused, see the module's docstring. `added_at`,
    `added_by` and `status` are for the hash set's own bookkeeping; the HMA CSV's timestamp
    (when the source added the hash) is read into `added_at`.
    """

    signal_type: ListedSignal
    hash: str
    labels: tuple[str, ...] = ()
    source: str
    source_id: str | None = None
    quality: int | None = None
    timestamp: float | None = None
    added_at: str | None = None
    added_by: str | None = None
    status: EntryStatus = EntryStatus.ACTIVE

    def __post_init__(self) -> None:
        def set_field(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # frozen: normalising in place is the one way

        kind = _signal_kind(self.signal_type)
        set_field("signal_type", kind)
        set_field("hash", _normalised_hash(kind, self.hash))
        if isinstance(self.labels, str) or not isinstance(self.labels, Iterable):
            raise ValueError("labels must be a list of strings")
        labels = tuple(self.labels)
        if not all(isinstance(label, str) and label.strip() for label in labels):
            raise ValueError("every label must be a non-empty string")
        set_field("labels", labels)
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("source must be a non-empty string")
        for name in ("source_id", "added_by"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string when given")
        if self.quality is not None:
            if kind is not ListedSignal.PDQ:
                raise ValueError(f"only PDQ hashes have a quality, not {kind}")
            if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not 0 <= self.quality <= 100:
                raise ValueError(f"quality {self.quality!r:.20} is not a whole number from 0 to 100")
            if self.quality < PDQ_MIN_QUALITY:
                raise ValueError(
                    f"PDQ quality {self.quality} is below {PDQ_MIN_QUALITY}: vPDQ does not match on such frames"
                )
        if self.timestamp is not None:
            if isinstance(self.timestamp, bool) or not isinstance(self.timestamp, (int, float)):
                raise ValueError(f"timestamp {self.timestamp!r:.20} is not a number of seconds")
            if not math.isfinite(self.timestamp) or self.timestamp < 0:
                raise ValueError(f"timestamp {self.timestamp!r:.20} is not a time in a video")
            set_field("timestamp", float(self.timestamp))
        if self.added_at is not None:
            set_field("added_at", _normalised_time(self.added_at))
        try:
            set_field("status", EntryStatus(self.status))
        except ValueError:
            raise ValueError(f"unknown status {self.status!r:.40}; known: {', '.join(EntryStatus)}") from None

    @property
    def key(self) -> tuple[ListedSignal, str]:
        """The identity under which entries merge: one hash is one entry, whatever its sources."""
        return (self.signal_type, self.hash)

    @property
    def provenance(self) -> tuple[str, str | None]:
        """Where this entry came from: the list's name and the id the list gives it (if any)."""
        return (self.source, self.source_id)

    @property
    def listed_video(self) -> str | None:
        """The video this entry is a frame of (a vPDQ list's file name, from `name#frame_number`), None for a hash of its own."""
        if self.signal_type is not ListedSignal.PDQ or self.timestamp is None or not self.source_id:
            return None
        name, separator, frame = self.source_id.rpartition("#")
        return name if separator and name and _WHOLE_NUMBER.fullmatch(frame) else None


@dataclass(frozen=True)
class BadLine:
    """A line of a hash list that was not read: its number (1-based), why, and its text (cut to 200 characters)."""

    line_number: int
    reason: str
    text: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", self.text[:BAD_LINE_TEXT_CHARS])


@dataclass(frozen=True)
class SkippedLine:
    """A valid line of a hash list that holds nothing hashmatch matches (a vPDQ frame of quality below 50, a URL
    signal): counted, not an error. Its number, why, and its text (cut to 200 characters)."""

    line_number: int
    reason: str
    text: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", self.text[:BAD_LINE_TEXT_CHARS])


class LineSkipped(Exception):
    """Raised by a format's reader for a line to skip (SkippedLine), where ValueError makes a BadLine."""


# ---------------------------------------------------------------------------------------------
# Detection


def _is_hex(text: str, digits: int) -> bool:
    return len(text) == digits and all(c in "0123456789abcdefABCDEF" for c in text)


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _is_time_or_empty(text: str) -> bool:
    if not text.strip() or text.strip() == "mine":  # HMA's added_on for its own opinions (formats/hma.py)
        return True
    try:
        _normalised_time(text)
    except ValueError:
        return False
    return True


def _csv_fields(text: str) -> list[str]:
    if '"' not in text:
        # Unquoted, which is every export seen: also spares the csv module's field-size limit
        # (128 KiB), which a TMK line exceeds.
        return text.split(",")
    try:
        return next(csv.reader([text]), [])
    except csv.Error as error:
        raise ValueError(f"not a CSV line: {error}") from None


def _format_of_line(text: str) -> HashListFormat | None:
    """The format one line with content belongs to, or None when it fits none (bad or a header)."""
    from hashmatch.hash_set.formats import pytx, vpdq

    if text.startswith("{"):
        return HashListFormat.JSON_LINES
    if text.startswith("["):
        return HashListFormat.VPDQ_JSON
    if pytx.is_signal_line(text):
        return HashListFormat.PYTX_FILE
    if "," not in text:
        return HashListFormat.PDQ_LINES if _is_hex(text, 64) else None
    if vpdq.is_frame_line(text.split(",")):
        return HashListFormat.VPDQ
    try:
        fields = _csv_fields(text)  # quoted fields may hold commas
    except ValueError:
        return None
    if pytx.is_dataset_line(fields):
        return HashListFormat.PYTX_CSV
    first = fields[0].strip() if fields else ""
    if (
        len(fields) >= 4
        and (_is_hex(first, 64) or _is_hex(first, 32) or first.startswith(_TMK_PREFIX))
        and _is_time_or_empty(fields[-2])
    ):
        return HashListFormat.HMA_CSV
    return None


def _content(text: str, line_number: int) -> str:
    """The line without its newline, surrounding spaces and (on line 1) a byte-order mark; '' for a comment."""
    cleaned = text.strip()
    if line_number == 1:
        cleaned = cleaned.lstrip("\ufeff").strip()
    return "" if cleaned.startswith("#") else cleaned


def detect_format(first_lines: Iterable[str]) -> HashListFormat:
    """The format of a hash list, from its first lines (blank lines and `#` comments skipped).

    Each of the first DETECTION_LINES lines with content is classified on its own; lines that fit
    no format (a header, a bad line) are ignored and the others must agree. ValueError when no
    line fits a format or the lines disagree: the caller then names the format.
    """
    formats: set[HashListFormat] = set()
    examined = 0
    for number, line in enumerate(first_lines, start=1):
        text = _content(line, number)
        if not text:
            continue
        examined += 1
        found = _format_of_line(text)
        if found is not None:
            formats.add(found)
        if examined >= DETECTION_LINES:
            break
    if len(formats) == 1:
        return formats.pop()
    choices = "|".join(HashListFormat)
    if not formats:
        what = f"its first {examined} lines fit" if examined else "it has no lines with content, so"
        raise ValueError(
            f"cannot tell the format of this hash list: {what} no known format; name it (--format {choices})"
        )
    mixed = ", ".join(sorted(formats))
    raise ValueError(f"cannot tell the format of this hash list: its first lines mix {mixed}; name it (--format {choices})")


# ---------------------------------------------------------------------------------------------
# Reading


def _read_pdq_line(text: str, source: str, name: str) -> HashListEntry:
    if _is_hex(text, 32):
        raise ValueError("not 64 hex digits (32 look like MD5; plain lines are PDQ, use hma-csv or jsonl)")
    return HashListEntry(signal_type=ListedSignal.PDQ, hash=text, source=source)


def _read_hma_line(text: str, source: str, name: str) -> Any:
    from hashmatch.hash_set.formats import hma
    from hashmatch.hash_set.formats.tmk import TMK_SIGNAL, TmkEntry

    fields = _csv_fields(text)
    first = fields[0].strip() if fields else ""
    if len(fields) < 4:
        raise ValueError(f"{len(fields)} fields, expected hash,indicator_id,[descriptor_id,]timestamp,tags")
    named = hma.signal_type_of_file(name)
    # Both forms: the 4-column export and HMA's 5-column state file (one more id between the first
    # id and the time): the time and the labels are counted from the end.
    timestamp = fields[-2].strip()
    provenance = dict(labels=tuple(fields[-1].split()), source=source, source_id=fields[1].strip() or None, added_at=timestamp if timestamp and timestamp != hma.MINE else None)
    if first.startswith(_TMK_PREFIX):
        return TmkEntry(hash=first, **provenance)
    if _is_hex(first, 64):
        kind = ListedSignal.SHA256 if named == ListedSignal.SHA256 else ListedSignal.PDQ
    elif _is_hex(first, 32):
        kind = ListedSignal.MD5
    else:
        raise ValueError("not a PDQ (64 hex digits), MD5 (32 hex digits) or TMK hash")
    if named == TMK_SIGNAL or (named is not None and named != kind):
        raise ValueError(f"a {kind} hash in a file whose name says {named}")
    return HashListEntry(signal_type=kind, hash=first, **provenance)


def _read_vpdq_line(text: str, source: str, name: str) -> HashListEntry:
    from hashmatch.hash_set.formats import vpdq

    return vpdq.read_frame_line(text, source, name)


_JSON_FIELDS = (
    "signal_type", "hash", "labels", "source", "source_id", "quality", "timestamp", "added_at", "added_by", "status",
)
_JSON_REQUIRED = ("signal_type", "hash")


def _read_json_line(text: str, source: str, name: str) -> HashListEntry:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(data) - set(_JSON_FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r:.40}")
    for required in _JSON_REQUIRED:
        if data.get(required) is None:
            raise ValueError(f"missing field {required!r}")
    values = {key: value for key, value in data.items() if value is not None}
    if not isinstance(values.get("labels", []), list):
        raise ValueError("labels must be a list of strings")
    values.setdefault("source", source)  # a line names its own source when the list merges several
    if isinstance(values["signal_type"], str) and "tmk" in values["signal_type"].lower():
        from hashmatch.hash_set.formats.tmk import TmkEntry

        if {"quality", "timestamp"} & set(values):
            raise ValueError("a TMK hash has no quality or timestamp")
        return TmkEntry(**{key: value for key, value in values.items() if key != "signal_type"})
    return HashListEntry(**values)


def _readers() -> dict[HashListFormat, Any]:
    """Each format's reader: (text, source, name, line number) -> an entry, or several (a video's frames)."""
    from hashmatch.hash_set.formats import pytx

    def plain(read):
        return lambda text, source, name, number: read(text, source, name)

    return {
        HashListFormat.PDQ_LINES: plain(_read_pdq_line),
        HashListFormat.HMA_CSV: plain(_read_hma_line),
        HashListFormat.VPDQ: plain(_read_vpdq_line),
        HashListFormat.JSON_LINES: plain(_read_json_line),
        HashListFormat.PYTX_FILE: pytx.read_signal_line,
        HashListFormat.PYTX_CSV: pytx.read_dataset_line,
    }


def _read_signal_file(lines: Iterable[tuple[int, str]], source: str, name: str) -> Iterator[Any]:
    """A vpdq-json file: one video's signal, a JSON list that may span lines (indented); read whole (a video's frames)."""
    from hashmatch.hash_set.formats import vpdq

    lines = list(lines)
    first = lines[0][0]
    try:
        found = vpdq.read_signal(" ".join(text for _, text in lines), source, name)
    except ValueError as error:
        yield BadLine(first, str(error), lines[0][1])
        return
    for item in found:
        yield SkippedLine(first, str(item), lines[0][1]) if isinstance(item, LineSkipped) else item


def read_hash_list(
    lines: Iterable[str],
    source: str,
    format: HashListFormat | str | None = None,
    *,
    name: str | None = None,
) -> Iterator[Any]:
    """Each line of a hash list as a HashListEntry (or a TmkEntry), a SkippedLine, or a BadLine saying why it was not read.

    Streams: at most DETECTION_LINES lines are held, to detect the format when `format` is None
    (ValueError, at the first `next`, when it cannot be told); a vpdq-json file (one video) is
    read whole. Blank lines and `#` comments are skipped, and so is a header line of the HMA CSV
    (first field `hash`) or the dataset CSV; bad content never raises. A line may give several
    entries (a vPDQ signal: a video's frames). `source` names the list (JSON lines and the
    dataset CSV may name their own); `name` is the file's name, which vPDQ entries carry in their
    source_id as `name#frame_number` (default: `source`; `name:line#frame_number` for a signal
    on a line of a file exchange). Lines are numbered from 1, counting every line.
    """
    numbered = ((number, _content(line, number)) for number, line in enumerate(lines, start=1))
    content = ((number, text) for number, text in numbered if text)
    head = list(islice(content, DETECTION_LINES))
    if not head:
        return
    chosen = HashListFormat(format) if format is not None else detect_format(text for _, text in head)
    vpdq_name = name if name is not None else source
    if chosen is HashListFormat.VPDQ_JSON:
        yield from _read_signal_file(chain(head, content), source, vpdq_name)
        return
    reader = _readers()[chosen]
    for position, (number, text) in enumerate(chain(head, content)):
        is_header = text.split(",")[0].strip().lower() == _HMA_HEADER_FIRST_FIELD
        if position == 0 and chosen is HashListFormat.HMA_CSV and is_header:
            continue
        try:
            found = reader(text, source, vpdq_name, number)
        except LineSkipped as skipped:
            yield SkippedLine(number, str(skipped), text)
        except (ValueError, TypeError) as error:
            # TypeError too: JSON values of a wrong type must become a reason, never an exception.
            yield BadLine(number, str(error), text)
        else:
            for item in found if isinstance(found, list) else [found]:
                yield SkippedLine(number, str(item), text) if isinstance(item, LineSkipped) else item


# ---------------------------------------------------------------------------------------------
# Writing


def _cannot_carry(entry: Any, format: HashListFormat, kinds: tuple[str, ...]) -> None:
    """Refuse what would read back as something else; fields a format has no place for are left out."""
    if entry.signal_type not in kinds:
        reads_as = "PDQ" if _HEX_DIGITS.get(entry.signal_type) == 64 else "bad lines"
        raise ValueError(f"the {format} format cannot carry {entry.signal_type} hashes (it would read them back as {reads_as}); use jsonl")
    if entry.status is not EntryStatus.ACTIVE:
        # Re-imported, an allow-list entry would come back as one that matches.
        raise ValueError(f"the {format} format cannot carry {entry.status} entries; use jsonl")


def _seconds(value: float) -> str:
    """Seconds as vPDQ writes them (3 decimals), or exactly when 3 decimals would change the value."""
    short = f"{value:.3f}"
    return short if float(short) == value else repr(value)


def _write_pdq_lines(entries: Iterable[HashListEntry]) -> Iterator[str]:
    for entry in entries:
        _cannot_carry(entry, HashListFormat.PDQ_LINES, (ListedSignal.PDQ,))
        yield entry.hash


def _write_hma_csv(entries: Iterable[Any]) -> Iterator[str]:
    """HMA 1.0's state file rows (formats/hma.py): one signal type a file, since HMA tells the type from the file's name."""
    from hashmatch.hash_set.formats import hma

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")
    kind = None
    for entry in entries:
        _cannot_carry(entry, HashListFormat.HMA_CSV, tuple(hma.INDICATOR_TYPES))
        if kind is not None and entry.signal_type != kind:
            raise ValueError(f"an hma-csv file holds one signal type (HMA reads it from the file name, {hma.state_file_name(kind)}), not both {kind} and {entry.signal_type}")
        kind = entry.signal_type
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(hma.row(entry))
        yield buffer.getvalue()


def _write_vpdq(entries: Iterable[HashListEntry]) -> Iterator[str]:
    from hashmatch.hash_set.formats import vpdq

    video: str | None = None
    for entry in entries:
        _cannot_carry(entry, HashListFormat.VPDQ, (ListedSignal.PDQ,))
        name = entry.listed_video
        if name is None:
            raise ValueError("the vpdq format carries video frames: quality, timestamp and a source_id 'name#frame_number'")
        if video is not None and name != video:
            raise ValueError(f"a vpdq file holds the frames of one video, not of both {video!r:.60} and {name!r:.60}")
        video = name
        yield f"{vpdq.frame_number(entry)},{entry.quality},{entry.hash},{_seconds(entry.timestamp)}"


def _write_json_lines(entries: Iterable[Any]) -> Iterator[str]:
    for entry in entries:
        record = {name: getattr(entry, name, None) for name in _JSON_FIELDS}
        record["signal_type"] = str(entry.signal_type)
        record["labels"] = list(entry.labels)
        yield json.dumps(record)


def _writers() -> dict[HashListFormat, Any]:
    from hashmatch.hash_set.formats import pytx, vpdq

    return {
        HashListFormat.PDQ_LINES: _write_pdq_lines,
        HashListFormat.HMA_CSV: _write_hma_csv,
        HashListFormat.VPDQ: _write_vpdq,
        HashListFormat.JSON_LINES: _write_json_lines,
        HashListFormat.PYTX_FILE: pytx.write_signal_lines,
        HashListFormat.PYTX_CSV: pytx.write_dataset,
        HashListFormat.VPDQ_JSON: vpdq.write_signal_file,
    }


def write_hash_list(entries: Iterable[Any], format: HashListFormat | str) -> Iterator[str]:
    """The entries (HashListEntry, TmkEntry) as lines of `format` (each ending in a newline), which read_hash_list reads back.

    Lossless in JSON lines. The other formats leave out the fields they have no place for
    (plain PDQ lines keep only the hash; the HMA CSV hash, ids, added_at and labels; vPDQ the
    frame number, quality, hash and timestamp; python-threatexchange's the signal and, in its
    CSV, the source and labels) and raise ValueError, at the entry, for what would read back as
    something else: a signal type the format cannot name, an `allowed` entry, labels with spaces
    where spaces separate them, vPDQ frames without quality, timestamp or frame number, the
    frames of two videos in one vPDQ file, two signal types in one HMA file. The source is the
    reader's to give (`source=`), except in JSON lines and the dataset CSV.
    """
    for line in _writers()[HashListFormat(format)](entries):
        yield line + "\n"
