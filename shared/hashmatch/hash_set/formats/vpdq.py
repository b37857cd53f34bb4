"""vPDQ: one video's per-frame PDQ hashes, as the field's tools write them, read into listed frames and written back.

Three forms of the same thing:
- the reference tools' lines (C++ `vpdq-hash-video`, the sample hashes): frame_number,quality,pdq_hex,seconds;
- the `vpdq` Python package's README order: frame_number,pdq_hex,quality,seconds;
- the signal as python-threatexchange and HMA 2.0 store it: a JSON list of "pdq_hex,quality,seconds"
  strings, one per frame, no frame numbers, seconds with three significant digits (`{t:.3}`: 12.345
  is written 12.3 and 123.4 as 1.23e+02).

A frame is a PDQ entry with its quality and timestamp, and the source id `VIDEO#frame_number` that
makes the frames of one video one listed video (`HashListEntry.listed_video`); from the JSON form, whose frames have
no numbers, the number is the frame's position in the list. Frames of quality below 50 are
skipped, not refused: vPDQ itself ignores them, so a list that holds them is a valid list
(lists.SkippedLine, counted by the importer).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator

from hashmatch.hash_set.lists import HashListEntry, LineSkipped
from hashmatch.pdq_limits import PDQ_MIN_QUALITY
from hashmatch.vocabulary import ListedSignal

_WHOLE_NUMBER = re.compile(r"\d+")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
# python-threatexchange's VPDQ_TIMESTAMP_PRECISION: the `.3` of its format, three significant digits.
SIGNAL_TIMESTAMP_DIGITS = 3


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def is_frame_line(fields: list[str]) -> bool:
    """A line of either line order: whole number, then quality and 64-hex hash in either order, then seconds."""
    if len(fields) != 4 or not _WHOLE_NUMBER.fullmatch(fields[0]) or not _is_number(fields[3]):
        return False
    return (_WHOLE_NUMBER.fullmatch(fields[1]) and _HEX64.fullmatch(fields[2])) or (_HEX64.fullmatch(fields[1]) and _WHOLE_NUMBER.fullmatch(fields[2])) or False


def frame(pdq: str, quality: int, seconds: float, source: str, video: str, number: int, labels: Iterable[str] = ()) -> HashListEntry:
    """One frame of a listed video; LineSkipped when its quality is below what vPDQ matches on."""
    if quality < PDQ_MIN_QUALITY:
        raise LineSkipped(f"vPDQ frame of quality {quality}, below {PDQ_MIN_QUALITY}: vPDQ does not match on such frames")
    return HashListEntry(signal_type=ListedSignal.PDQ, hash=pdq, labels=tuple(labels), source=source, source_id=f"{video}#{number}", quality=quality, timestamp=seconds)


def read_frame_line(text: str, source: str, video: str) -> HashListEntry:
    """A line of either order (told by where the 64-hex hash is); ValueError saying what is wrong, LineSkipped below quality 50."""
    fields = [part.strip() for part in text.split(",")]
    if len(fields) != 4:
        raise ValueError(f"{len(fields)} fields, expected frame_number,quality,pdq_hex,timestamp_seconds")
    if any(field.startswith("TMK") for field in fields):
        raise ValueError("a TMK hash in a vPDQ list")
    number, quality, pdq, seconds = fields
    if _HEX64.fullmatch(quality) and not _HEX64.fullmatch(pdq):
        pdq, quality = quality, pdq  # the vpdq package's README order: frame_number,pdq_hex,quality,seconds
    if not _WHOLE_NUMBER.fullmatch(number):
        raise ValueError(f"frame number {number!r:.20} is not a whole number")
    if not _WHOLE_NUMBER.fullmatch(quality) or int(quality) > 100:
        raise ValueError(f"quality {quality!r:.20} is not a whole number from 0 to 100")
    if not _is_number(seconds):
        raise ValueError(f"timestamp {seconds!r:.20} is not a number of seconds")
    return frame(pdq, int(quality), float(seconds), source, video, int(number))


def signal_features(signal: str) -> list[tuple[str, int, float]]:
    """The (pdq_hex, quality, seconds) of each frame of a vPDQ signal (the JSON list), checked as python-threatexchange checks them."""
    try:
        items = json.loads(signal or "[]")
    except json.JSONDecodeError as error:
        raise ValueError(f"vPDQ signal: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(items, list):
        raise ValueError("vPDQ signal: not a JSON list of \"pdq_hex,quality,seconds\" strings")
    features = []
    for position, item in enumerate(items):
        parts = item.split(",") if isinstance(item, str) else []
        try:
            pdq, quality, seconds = parts
            quality_number, seconds_number = int(quality), float(seconds)
        except ValueError:
            raise ValueError(f"vPDQ signal: frame {position} is not \"pdq_hex,quality,seconds\": {item!r:.80}") from None
        if not _HEX64.fullmatch(pdq.strip()) or not 0 <= quality_number <= 100 or not (math.isfinite(seconds_number) and seconds_number >= 0):
            raise ValueError(f"vPDQ signal: frame {position} is out of range: {item!r:.80}")
        features.append((pdq.strip().lower(), quality_number, seconds_number))
    return features


def read_signal(signal: str, source: str, video: str, labels: Iterable[str] = ()) -> list[HashListEntry | LineSkipped]:
    """A vPDQ signal as listed frames (numbered by position), the frames below quality 50 as LineSkipped in their place."""
    found: list[HashListEntry | LineSkipped] = []
    for number, (pdq, quality, seconds) in enumerate(signal_features(signal)):
        try:
            found.append(frame(pdq, quality, seconds, source, video, number, labels))
        except LineSkipped as skipped:
            found.append(skipped)
    return found


def frame_number(entry: HashListEntry) -> int:
    return int((entry.source_id or "").rpartition("#")[2])


def signal_timestamp(seconds: float) -> str:
    """Seconds as python-threatexchange writes them in a vPDQ signal: three significant digits."""
    return f"{seconds:.{SIGNAL_TIMESTAMP_DIGITS}}"


def signal_of(frames: Iterable[HashListEntry]) -> str:
    """The vPDQ signal (JSON list) of one video's frames, in frame order."""
    ordered = sorted(frames, key=frame_number)
    return json.dumps([f"{entry.hash},{entry.quality},{signal_timestamp(entry.timestamp)}" for entry in ordered])


def videos(entries: Iterable[HashListEntry]) -> tuple[list[HashListEntry], dict[str, list[HashListEntry]]]:
    """The entries that are no vPDQ frames, and the frames by listed video (in order of first appearance)."""
    others: list[HashListEntry] = []
    by_video: dict[str, list[HashListEntry]] = {}
    for entry in entries:
        video = entry.listed_video
        if video is None:
            others.append(entry)
        else:
            by_video.setdefault(video, []).append(entry)
    return others, by_video


def write_signal_file(entries: Iterable[HashListEntry]) -> Iterator[str]:
    """One video's frames as one line: the vPDQ signal (ValueError for anything but the frames of one video)."""
    others, by_video = videos(entries)
    if others:
        raise ValueError("the vpdq-json format carries the frames of one listed video (quality, timestamp, source id VIDEO#frame)")
    if len(by_video) > 1:
        first, second = list(by_video)[:2]
        raise ValueError(f"a vpdq-json file holds the frames of one video, not of both {first!r:.60} and {second!r:.60}")
    for frames in by_video.values():
        yield signal_of(frames)
