"""Offline matching for operators: `hashmatch index build` writes a hash-set snapshot, `hashmatch match` matches media or raw hashes against one.

    hashmatch index build LIST_OR_MEDIA... -o SNAPSHOT [--format F] [--progress | --no-progress]
    hashmatch match (--index SNAPSHOT | --hash-list LIST [--hash-list LIST ...]) [--hashes FILE] [MEDIA...]
                    [--threshold N] [--json] [--progress | --no-progress]

A hash list's format is recognised from its content (docs/hash-lists.md), --format overriding;
a file that is media (sniffed from its bytes) is hashed as a reference; a folder stands for its
files (sorted, hidden ones skipped). Exit status as for `compare`: 0 when everything ran, 2 when
an input could not be read (each bad line or file reported on stderr, the rest still processed).
`index build` writes the snapshot whole, and nothing at all when no entry or media was read.

--threshold goes from 0 to 31 bits: the snapshot's PDQ index finds matches exactly up to the
radius it was built for (31, the stack's largest PdqMatchThreshold too). Every query is reported
with its nearest distance: the PDQ bits between it (for media, any of its usable frames and the
variants the matcher searches) and the closest PDQ hash of the set, whatever the threshold. The
sub-linear index answers only within its radius, so that distance is found by brute force over
every PDQ hash of the set.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from hashmatch.errors import MediaError
from hashmatch.hash_set.brute_force import pack
from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.hash_set.formats.tmk import TmkEntry
from hashmatch.hash_set.lists import BadLine, HashListEntry, HashListFormat, SkippedLine, read_hash_list, write_hash_list
from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.matching.local_features.stage import LocalFeatureStage
from hashmatch.media.hashing import hash_media
from hashmatch.media.sniff import sniff
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import Role
from hashmatch_tools.contract import EXIT_BAD_INPUT, BadInput, Problems, Progress, WholeFile, add_progress_options, note, reason_of, walk
from hashmatch_tools.matching import detail_pictures_of, hash_reference

# The largest --threshold: the radius a snapshot's PDQ index is built for, within which it is exact.
MAX_THRESHOLD = FrameIndex().radius
# Query hashes x entries compared per step of the nearest-distance search: bounds its temporaries (11 bytes a pair) to about 22 MB.
_NEAREST_PAIRS = 2 * 1024 * 1024


def pdq_threshold(text: str) -> int:
    """--threshold: a whole number of PDQ bits from 0 to MAX_THRESHOLD."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of PDQ bits") from None
    if not 0 <= value <= MAX_THRESHOLD:
        raise argparse.ArgumentTypeError(f"{value} is not within 0..{MAX_THRESHOLD}: the PDQ index finds matches exactly up to {MAX_THRESHOLD} bits, as the stack's matcher and retro-match do")
    return value


def _is_media(path: Path) -> bool:
    with open(path, "rb") as head:
        return sniff(head.read(512)) is not None


FEATURES_SUFFIX = ".features"  # beside a snapshot: its media references' local features (the second stage), as `index build` writes them


@dataclass
class ReadLists:
    """What hash lists held beside their PDQ and digest entries: TMK entries (matched where tmkpy is) and lines skipped."""

    tmk: list[TmkEntry] = field(default_factory=list)
    skipped: int = 0


def _list_entries(path: Path, format: str | None, problems: Problems, read: ReadLists) -> Iterator[HashListEntry]:
    with open(path, encoding="utf-8", errors="replace", newline="") as lines:
        for found in read_hash_list(lines, path.stem, HashListFormat(format) if format else None, name=path.name):
            if isinstance(found, BadLine):
                problems(f"{path}:{found.line_number}", found.reason)
            elif isinstance(found, SkippedLine):
                read.skipped += 1
            elif isinstance(found, TmkEntry):
                read.tmk.append(found)
            else:
                yield found


@dataclass
class OfflineHashSet:
    """A hash set read or built here: the snapshot, its media's local features (the second stage) when it has them, and its TMK entries."""

    snapshot: HashSetSnapshot
    features: LocalFeatureStage | None = None
    tmk: list[TmkEntry] = field(default_factory=list)


def snapshot_of(paths: Sequence[str], format: str | None, problems: Problems, progress: Progress) -> OfflineHashSet | None:
    """Hash lists and media files (folders walked) into one snapshot, the media hashed as references with their local
    features (so the second stage can run); unreadable inputs are reported and left out. None when nothing was read."""
    entries: list[HashListEntry] = []
    media: dict[str, MediaHashes] = {}
    read = ReadLists()
    files = list(walk(paths, problems))
    for position, name in enumerate(files, 1):
        path = Path(name)
        started = progress.step(position, len(files), name, "reading")
        try:
            if _is_media(path):
                hashes = hash_reference(path, progress=progress.fraction)
                progress.done(started, hashes)
                # Keyed by file name, as matches report it; by its path when a walked folder holds two of that name.
                media[path.name if path.name not in media else name] = hashes
                continue
            bad_lines, kept = problems.count, (len(read.tmk), read.skipped)
            found = list(_list_entries(path, format, problems, read))
            if not found and problems.count == bad_lines and kept == (len(read.tmk), read.skipped):
                problems(name, "no hash-list entry in it")
            entries.extend(found)
        except MediaError as error:
            problems(name, f"{error.reason}: {reason_of(error)}")
        except (OSError, ValueError) as error:
            problems(name, reason_of(error))
    if read.skipped:
        note(f"{read.skipped:,} list lines skipped, counted and not errors: vPDQ frames below quality 50, signals hashmatch does not match")
    if not entries and not media and not read.tmk:
        return None
    features = LocalFeatureStage.of_references(media) if any(hashes.features for hashes in media.values()) else None
    return OfflineHashSet(HashSetSnapshot.build(entries, media), features, read.tmk)


def command_index_build(args: argparse.Namespace) -> int:
    output = WholeFile(args.output, "-o")
    beside = WholeFile(args.output + FEATURES_SUFFIX, "-o")
    tmk_file = WholeFile(args.output + TMK_SUFFIX, "-o")
    problems = Problems()
    progress = Progress(sys.stderr, args.progress)
    built = snapshot_of(args.lists, args.format, problems, progress)
    if built is None:
        note(f"{args.output}: not written: no hash-list entry or media was read")
        return EXIT_BAD_INPUT
    progress.line(f"writing {args.output} ...")
    snapshot = built.snapshot
    output.write_bytes(snapshot.to_bytes())
    # Beside it, what the second stage needs (the media references' local features) and the TMK entries; an old file of either goes.
    for extra, content in ((beside, _features_bytes(built.features)), (tmk_file, "".join(write_hash_list(built.tmk, HashListFormat.JSON_LINES)).encode() if built.tmk else None)):
        if content is not None:
            extra.write_bytes(content)
        else:
            extra.path.unlink(missing_ok=True)
    summary = {"snapshot": args.output, "references": len(snapshot.references), "pdq_frames": len(snapshot.frames)}
    summary |= {str(stage): len(found) for stage, found in snapshot.digests.items()}
    summary |= {"local_feature_frames": len(built.features) if built.features else 0, "tmk": len(built.tmk)}
    print(json.dumps(summary), flush=True)
    return problems.status


TMK_SUFFIX = ".tmk.jsonl"  # beside a snapshot: its TMK entries (JSON lines), for `match` where tmkpy is installed


def _features_bytes(features: LocalFeatureStage | None) -> bytes | None:
    if features is None or not len(features):
        return None
    out = io.BytesIO()
    features.index.save(out, {"written_by": "hashmatch index build"})
    return out.getvalue()


def _entry(snapshot: HashSetSnapshot, key: str, entry_hash: str, distance: int, entry: int | None = None) -> dict:
    reference = snapshot.describe(key, entry)
    return {"hash": entry_hash, "distance": distance, "labels": list(reference.labels), "source": reference.source, "reference": key}


def _hash_queries(path: str, problems: Problems) -> list[tuple[int, str]]:
    found = []
    before = problems.count
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                try:
                    found.append((number, str(PRIMARY_SIGNAL.parse(text))))
                except ValueError as error:
                    problems(f"{path}:{number}", reason_of(error))
    except OSError as error:
        problems(path, reason_of(error))
        return []
    if not found and problems.count == before:
        problems(path, "no PDQ hash in it (one 64-hex hash a line)")
    return found


def nearest_distances(frames: FrameIndex, queries: Sequence[Sequence[str]]) -> list[int | None]:
    """For each query (a group of hashes: one raw hash, or a picture's frames with their variants), the fewest bits to any PDQ hash of the index.

    Brute force over every hash, whatever the distance (the sub-linear index answers only within
    its radius); None for a query without hashes or an index without frames.
    """
    flat = [hash_hex for group in queries for hash_hex in group]
    if not flat or not len(frames):
        return [None] * len(queries)
    # One 64-bit word at a time over contiguous columns: a block's temporaries are 11 bytes a pair, not 32.
    columns, wanted = np.ascontiguousarray(frames.packed.T), pack(flat, frames.bits)
    best = np.full(len(flat), frames.bits + 1, np.int32)
    entry_step = min(columns.shape[1], _NEAREST_PAIRS)
    query_step = max(1, _NEAREST_PAIRS // entry_step)
    for first_entry in range(0, columns.shape[1], entry_step):
        block = columns[:, first_entry : first_entry + entry_step]
        for first in range(0, len(wanted), query_step):
            asked = wanted[first : first + query_step]
            distances = np.zeros((len(asked), block.shape[1]), np.uint16)
            for word in range(block.shape[0]):
                distances += np.bitwise_count(asked[:, word, None] ^ block[word][None, :])
            best[first : first + query_step] = np.minimum(best[first : first + query_step], distances.min(axis=1))
    found: list[int | None] = []
    at = 0
    for group in queries:
        found.append(int(best[at : at + len(group)].min()) if group else None)
        at += len(group)
    return found


def match_hashes(snapshot: HashSetSnapshot, queries: list[str], threshold: int) -> list[list[dict]]:
    """Every snapshot frame within the threshold of each raw PDQ hash, nearest first."""
    found: list[list[dict]] = [[] for _ in queries]
    query_pos, entry_pos, distances = snapshot.frames.search_entries(queries, threshold)
    for q, e, d in zip(query_pos.tolist(), entry_pos.tolist(), distances.tolist()):
        found[q].append(_entry(snapshot, str(snapshot.frames.key_of(e)), snapshot.frames.hash_of(e), d, e))
    return [sorted(matches, key=lambda m: (m["distance"], m["hash"], m["reference"])) for matches in found]


def match_media(built: OfflineHashSet, hashes: MediaHashes, threshold: int) -> list[dict]:
    """The upload's matches as `compare` decides them: exact digests, PDQ, then (when the hash set has them) the media references' local features."""
    snapshot = built.snapshot
    later = [built.features] if built.features is not None else []
    result = hash_set_matcher(HashSetView(snapshot), threshold, later).match(hashes, detail_pictures_of(hashes) if later else None)
    matches = []
    for key, verdict in result.matches:
        behind = [m for m in result.frame_matches.get(key, []) if m.distance is not None]
        best = min(behind, key=lambda m: m.distance, default=None)
        at = best.entry if best is not None else None
        entry_hash = snapshot.frames.hash_of(at) if at is not None else key.split(":", 1)[-1]
        entry = _entry(snapshot, str(key), entry_hash, verdict.best_distance or 0, at)
        entry["signal_type"] = str(verdict.stage)
        if verdict.best_inliers is not None:
            entry["inliers"] = verdict.best_inliers
        if hashes.kind == "video":
            entry.update(query_match_percent=verdict.query_match_percent, reference_match_percent=verdict.reference_match_percent, rule=str(verdict.rule))
        matches.append(entry)
    return matches


def _print(query: str, matches: list[dict], nearest: int | None, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"query": query, "matches": matches, "nearest_distance": nearest}), flush=True)
    elif not matches:
        print(f"no\t{'-' if nearest is None else nearest}\t{query}", flush=True)
    else:
        for found in matches:
            distance = "-" if found["distance"] is None else found["distance"]  # a TMK match has scores, not a distance
            print(f"MATCH\t{distance}\t{query}\t{found['hash']}\t{','.join(found['labels'])}\t{found['source']}", flush=True)


def _read_snapshot(args: argparse.Namespace, problems: Problems, progress: Progress) -> OfflineHashSet | None:
    if not args.index:
        return snapshot_of(args.hash_list, args.format, problems, progress)
    progress.line(f"reading {args.index} ...")
    try:
        snapshot = HashSetSnapshot.read(args.index)
    except OSError as error:
        raise BadInput(args.index, reason_of(error)) from None
    except Exception as error:  # whatever a damaged file makes the parser raise (struct, JSON, numpy): the file is the problem
        raise BadInput(args.index, f"not a hash-set snapshot this code reads ({reason_of(error)})") from None
    built = OfflineHashSet(snapshot)
    features = Path(args.index + FEATURES_SUFFIX)
    if features.is_file():
        try:
            built.features = LocalFeatureStage(LocalFeatureIndex.load(features.read_bytes())[0])
        except (OSError, ValueError, KeyError) as error:
            raise BadInput(str(features), f"not a local-feature file this code reads ({reason_of(error)})") from None
    elif snapshot.media():
        note(f"{args.index}: the snapshot has no second stage (no {features.name} beside it): its media references are matched by PDQ and digests only, so copies only local features catch (a large overlay) are missed; build it again with this version's `hashmatch index build`")
    tmk = Path(args.index + TMK_SUFFIX)
    if tmk.is_file():
        with open(tmk, encoding="utf-8") as lines:
            built.tmk = [item for item in read_hash_list(lines, "tmk", HashListFormat.JSON_LINES) if isinstance(item, TmkEntry)]
    return built


def command_match(args: argparse.Namespace) -> int:
    if not args.hashes and not args.media:
        raise BadInput("nothing to match", "give --hashes FILE and/or MEDIA files")
    problems = Problems()
    progress = Progress(sys.stderr, args.progress)
    # The queries first: a missing or empty hashes file is known before a large snapshot is read.
    queries = [query for _, query in _hash_queries(args.hashes, problems)] if args.hashes else []
    built = _read_snapshot(args, problems, progress)
    if built is None:
        note("nothing matched: no hash-list entry or media was read from the --hash-list inputs")
        return EXIT_BAD_INPUT
    snapshot = built.snapshot
    tmk = _TmkMatcher(built.tmk)
    if args.threshold > snapshot.frames.radius:
        raise BadInput("--threshold", f"{args.threshold} is above {snapshot.frames.radius}, the radius this snapshot's PDQ index finds matches exactly within")
    if queries:
        progress.line(f"matching {len(queries)} PDQ hashes against {len(snapshot.frames)} PDQ frames and entries ...")
        found = match_hashes(snapshot, queries, args.threshold)
        unmatched = [position for position, matches in enumerate(found) if not matches]
        # A match's own distance is the nearest (every entry within the threshold is listed); brute force for the others.
        nearest = {position: matches[0]["distance"] for position, matches in enumerate(found) if matches}
        nearest.update(zip(unmatched, nearest_distances(snapshot.frames, [[queries[position]] for position in unmatched])))
        for position, (query, matches) in enumerate(zip(queries, found)):
            _print(query, matches, nearest[position], args.json)
    media = list(walk(args.media, problems))
    for position, path in enumerate(media, 1):
        started = progress.step(position, len(media), path, "hashing")
        try:
            hashes = hash_media(path, progress=progress.fraction)
        except MediaError as error:
            problems(path, f"{error.reason}: {reason_of(error)}")
            continue
        progress.done(started, hashes)
        [nearest_frame] = nearest_distances(snapshot.frames, [[variant for frame in hashes.usable_frames for variant in frame.query_hashes]])
        matches = match_media(built, hashes, args.threshold)
        if hashes.kind == "video" and not matches:
            matches = tmk.matches(path, problems)
        _print(path, matches, nearest_frame, args.json)
    return problems.status


class _TmkMatcher:
    """The hash set's TMK entries, matched against videos PDQ did not match, where tmkpy is installed (hashmatch_tools.tmk); said once when it is not."""

    def __init__(self, entries: list[TmkEntry]):
        self.entries = entries
        self._listed = None
        self._told = False

    def matches(self, path: str, problems: Problems) -> list[dict]:
        if not self.entries:
            return []
        from hashmatch_tools import tmk

        why = tmk.available()
        if why is not None:
            if not self._told:
                note(f"{len(self.entries)} TMK+PDQF entries are not matched: {why}")
                self._told = True
            return []
        if self._listed is None:
            self._listed = [tmk.entry_vectors(entry) for entry in self.entries]
        try:
            found = tmk.match_tmk(tmk.video_vectors(path), self.entries, self._listed)
        except (OSError, ValueError) as error:
            problems(path, reason_of(error))
            return []
        return [
            {"hash": f"tmk:{m.entry.digest}", "distance": None, "labels": list(m.entry.labels), "source": m.entry.source, "reference": f"tmk:{m.entry.digest}", "signal_type": "tmk", "tmk_level_1": round(m.level_1, 4), "tmk_level_2": round(m.level_2, 4)}
            for m in found
        ]


def add_commands(commands) -> None:
    index_cmd = commands.add_parser("index", help="hash-set snapshots for offline matching")
    index_commands = index_cmd.add_subparsers(dest="index_command", required=True)
    build = index_commands.add_parser("build", help="write a snapshot from hash lists and/or media files (written whole; nothing when nothing was read)")
    build.add_argument("lists", nargs="+", metavar="LIST_OR_MEDIA", help="hash lists and media files, or folders of them (walked: files sorted, hidden ones skipped)")
    build.add_argument("-o", "--output", required=True, metavar="SNAPSHOT", help="the snapshot file to write")
    build.add_argument("--format", choices=[str(f) for f in HashListFormat], help="the hash lists' format (default: recognised from the content)")
    add_progress_options(build)
    build.set_defaults(run=command_index_build)

    match = commands.add_parser(
        "match",
        help="match media files or raw PDQ hashes against a snapshot or hash lists",
        description=(
            "Prints MATCH<TAB>distance<TAB>query<TAB>hash<TAB>labels<TAB>source per match, or no<TAB>nearest<TAB>query. "
            "The nearest distance is the PDQ bits between the query (for media, any of its usable frames and the variants the matcher searches) "
            "and the closest PDQ hash of the set, whatever the threshold: found by brute force over every PDQ hash of the set."
        ),
    )
    source = match.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", metavar="SNAPSHOT", help="a snapshot from `hashmatch index build`")
    source.add_argument("--hash-list", action="append", metavar="LIST", help="a hash list (or reference media, or a folder of them) to match against, read now; repeat it for several")
    match.add_argument("--hashes", metavar="FILE", help="raw PDQ hashes to match, one 64-hex hash a line")
    match.add_argument("media", nargs="*", metavar="MEDIA", help="media files, or folders of them")
    match.add_argument("--format", choices=[str(f) for f in HashListFormat], help="the hash lists' format (default: recognised)")
    match.add_argument(
        "--threshold",
        type=pdq_threshold,
        default=PRIMARY_SIGNAL.match_threshold,
        help=f"PDQ bits, 0 to {MAX_THRESHOLD} (default {PRIMARY_SIGNAL.match_threshold}): the index finds matches exactly up to {MAX_THRESHOLD}",
    )
    match.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per query: query, matches (hash, distance, labels, source, ...) and nearest_distance (the PDQ bits to the closest hash of the set, whatever the threshold)",
    )
    add_progress_options(match)
    match.set_defaults(run=command_match)
