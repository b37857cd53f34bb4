"""python-threatexchange's list formats: its file exchange and its dataset CSV, read into entries and written back.

- The file exchange (`LocalFileSignalExchangeAPI`, and what `threatexchange dataset -P -S` prints):
  one signal a line, `<signal type name> <signal>`, everything after the first space being the
  signal (a vPDQ signal is a JSON list with spaces in it).
- The dataset CSV (`threatexchange dataset -P --csv`): a header
  `signal_type,signal_str,collab,category,tags` and one row per signal and collaboration;
  `category` is the collaboration's opinion (POSITIVE_CLASS, NEGATIVE_CLASS, INVESTIGATION_SEED,
  DISPUTED), `tags` separated by spaces.

Signal type names are python-threatexchange's: `pdq`; `video_md5` and `video_sha256` (its MD5 and
SHA-256 types are video-only; hashmatch's digests are of any file, and are written under these
names); `vpdq` (one video's frames, vpdq.py). TMK has no type in python-threatexchange; a line
naming `video_tmk_pdqf` (the old ThreatExchange name) is read as TMK. The signal types it has that
hashmatch does not match (URLs, text, ...) are skipped and counted, as python-threatexchange skips
types it was not given; a dataset row whose opinion is NEGATIVE_CLASS (the collaboration says the
content is not what the list is for) is skipped too.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

from hashmatch.hash_set.formats import vpdq
from hashmatch.hash_set.formats.tmk import TMK_SIGNAL, TmkEntry
from hashmatch.hash_set.lists import EntryStatus, HashListEntry, LineSkipped
from hashmatch.vocabulary import ListedSignal

SIGNAL_NAMES = {ListedSignal.PDQ: "pdq", ListedSignal.MD5: "video_md5", ListedSignal.SHA256: "video_sha256"}
VPDQ_NAME = "vpdq"
TMK_NAMES = ("video_tmk_pdqf",)
# python-threatexchange's other signal types (built in and its extensions): valid lines, not hashmatch's to match.
OTHER_NAMES = frozenset({"url", "url_md5", "raw_text", "trend_query", "text_tlsh", "pdq_ocr", "photodna", "video_tmk"})
KNOWN_NAMES = frozenset(SIGNAL_NAMES.values()) | {VPDQ_NAME, *TMK_NAMES} | OTHER_NAMES
_KINDS = {name: kind for kind, name in SIGNAL_NAMES.items()}
DATASET_COLUMNS = ("signal_type", "signal_str", "collab", "category", "tags")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Opinion:
    """python-threatexchange's opinion categories (SignalOpinionCategory), and the labels HMA gives them."""

    POSITIVE = "POSITIVE_CLASS"
    NEGATIVE = "NEGATIVE_CLASS"
    SEED = "INVESTIGATION_SEED"
    DISPUTED = "DISPUTED"
    # HMA 1.0's rollup tags (SimpleDescriptorRollup): what an opinion becomes among an entry's labels.
    LABELS = {POSITIVE: "true_positive", DISPUTED: "disputed"}


def is_signal_line(text: str) -> bool:
    """`<known signal type name> <signal>`."""
    name, space, signal = text.partition(" ")
    return bool(space) and name in KNOWN_NAMES and bool(signal.strip())


def is_dataset_line(fields: list[str]) -> bool:
    """The dataset CSV's header, or a row of it (a known type name first, five columns)."""
    return tuple(field.strip() for field in fields) == DATASET_COLUMNS or (len(fields) == 5 and fields[0].strip() in KNOWN_NAMES)


def _signal(name: str, signal: str, source: str, video: str, labels: tuple[str, ...] = (), source_id: str | None = None) -> list:
    if name in _KINDS:
        return [HashListEntry(signal_type=_KINDS[name], hash=signal, labels=labels, source=source, source_id=source_id)]
    if name == VPDQ_NAME:
        return vpdq.read_signal(signal, source, video, labels)
    if name in TMK_NAMES:
        return [TmkEntry(hash=signal, labels=labels, source=source, source_id=source_id)]
    if name in OTHER_NAMES:
        raise LineSkipped(f"signal type {name}: not one hashmatch matches")
    if _NAME.fullmatch(name):
        raise ValueError(f"unknown signal type {name!r:.40}; known: {', '.join(sorted(KNOWN_NAMES))}")
    raise ValueError("not `<signal type> <signal>`")


def read_signal_line(text: str, source: str, name: str, number: int) -> list:
    """A file-exchange line: its entries (one, or a video's frames), or LineSkipped / ValueError."""
    type_name, _, signal = text.partition(" ")
    if not signal.strip():
        raise ValueError("not `<signal type> <signal>`: no signal after the type")
    return _signal(type_name, signal.strip(), source, f"{name}:{number}")


def read_dataset_line(text: str, source: str, name: str, number: int) -> list:
    """A dataset CSV row (nothing for the header): its collaboration is its source, its opinion a label."""
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as error:
        raise ValueError(f"not a CSV line: {error}") from None
    if tuple(field.strip() for field in fields) == DATASET_COLUMNS:
        return []
    if len(fields) != len(DATASET_COLUMNS):
        raise ValueError(f"{len(fields)} fields, expected {','.join(DATASET_COLUMNS)}")
    type_name, signal, collab, category, tags = (field.strip() for field in fields)
    if category == Opinion.NEGATIVE:
        raise LineSkipped(f"opinion {Opinion.NEGATIVE}: the collaboration says it is not what the list is for")
    labels = tuple(tags.split()) + ((Opinion.LABELS[category],) if category in Opinion.LABELS else ())
    return _signal(type_name, signal, collab or source, f"{name}:{number}", tuple(dict.fromkeys(labels)))


# ---------------------------------------------------------------------------------------------
# Writing


def _writable(entry) -> None:
    if entry.status is not EntryStatus.ACTIVE:
        # Re-imported, an allow-list entry would come back as one that matches.
        raise ValueError(f"python-threatexchange's formats cannot carry {entry.status} entries; use jsonl")


def _signals(entries: Iterable) -> Iterator[tuple[str, str, object]]:
    """(type name, signal, an entry it stands for) for each entry, a listed video's frames as one vPDQ signal at the end."""
    hashes, tmk = [], []
    for entry in entries:
        _writable(entry)
        (tmk if isinstance(entry, TmkEntry) else hashes).append(entry)
    others, by_video = vpdq.videos(hashes)
    for entry in others:
        yield SIGNAL_NAMES[entry.signal_type], entry.hash, entry
    for entry in tmk:
        yield TMK_NAMES[0], entry.hash, entry
    for frames in by_video.values():
        yield VPDQ_NAME, vpdq.signal_of(frames), frames[0]


def write_signal_lines(entries: Iterable) -> Iterator[str]:
    """`<type> <signal>` lines: what LocalFileSignalExchangeAPI and `threatexchange dataset -S` read and write."""
    for name, signal, _ in _signals(entries):
        yield f"{name} {signal}"


def _category(labels: Iterable[str]) -> str:
    held = set(labels)
    if Opinion.LABELS[Opinion.DISPUTED] in held:
        return Opinion.DISPUTED
    if Opinion.LABELS[Opinion.POSITIVE] in held:
        return Opinion.POSITIVE
    return Opinion.SEED


def write_dataset(entries: Iterable) -> Iterator[str]:
    """`threatexchange dataset -P --csv`'s header and rows: the source is the collaboration, the labels the tags."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="")

    def row(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield row(DATASET_COLUMNS)
    for name, signal, entry in _signals(entries):
        if any(len(label.split()) != 1 for label in entry.labels):
            raise ValueError(f"the dataset CSV separates tags by spaces: cannot carry {entry.labels!r:.80}")
        yield row([name, signal, entry.source, _category(entry.labels), " ".join(entry.labels)])


__all__ = ["DATASET_COLUMNS", "KNOWN_NAMES", "Opinion", "SIGNAL_NAMES", "TMK_NAMES", "TMK_SIGNAL", "VPDQ_NAME"]
