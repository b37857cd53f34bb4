"""Offline matching for operators: `hashmatch index build` writes a hash-set snapshot, `hashmatch match` matches media or raw hashes against one.

    hashmatch index build LIST_OR_MEDIA... -o SNAPSHOT [--format F]
    hashmatch match (--index SNAPSHOT | --hash-list LIST [--hash-list LIST ...]) [--hashes FILE] [MEDIA...] [--json]

A hash list's format is recognised from its content (docs/hash-lists.md), --format overriding;
a file that is media (sniffed from its bytes) is hashed as a reference. Exit status as for
`compare`: 0 when everything ran, 2 when an input could not be read (each bad line or file
reported on stderr; the rest still processed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

from hashmatch.errors import MediaError
from hashmatch.hash_set.lists import BadLine, HashListEntry, HashListFormat, read_hash_list
from hashmatch.media.sniff import sniff
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.vocabulary import Role

EXIT_OK, EXIT_BAD_INPUT = 0, 2


class Problems:
    """Bad inputs, reported on stderr as they are met; the exit status follows them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, where: str, reason: str) -> None:
        self.count += 1
        print(f"hashmatch: {where}: {reason}", file=sys.stderr, flush=True)

    @property
    def status(self) -> int:
        return EXIT_BAD_INPUT if self.count else EXIT_OK


def _is_media(path: Path) -> bool:
    with open(path, "rb") as head:
        return sniff(head.read(512)) is not None


def _list_entries(path: Path, format: str | None, problems: Problems) -> Iterator[HashListEntry]:
    with open(path, encoding="utf-8", errors="replace", newline="") as lines:
        for found in read_hash_list(lines, path.stem, HashListFormat(format) if format else None, name=path.name):
            if isinstance(found, BadLine):
                problems(f"{path}:{found.line_number}", found.reason)
            else:
                yield found


def snapshot_of(paths: list[str], format: str | None, problems: Problems) -> HashSetSnapshot:
    """Hash lists and media files into one snapshot; unreadable inputs are reported and left out."""
    entries: list[HashListEntry] = []
    media: dict[str, MediaHashes] = {}
    for name in paths:
        path = Path(name)
        try:
            if _is_media(path):
                media[path.name] = hash_media(path, role=Role.REFERENCE)
            else:
                entries.extend(_list_entries(path, format, problems))
        except MediaError as error:
            problems(name, f"{error.reason}: {error}")
        except (OSError, ValueError) as error:
            problems(name, str(error).splitlines()[0] if str(error) else type(error).__name__)
    return HashSetSnapshot.build(entries, media)


def command_index_build(args) -> int:
    problems = Problems()
    snapshot = snapshot_of(args.lists, args.format, problems)
    snapshot.write(args.output)
    summary = {"snapshot": args.output, "references": len(snapshot.references), "pdq_frames": len(snapshot.frames)}
    print(json.dumps({**summary, **{str(stage): len(found) for stage, found in snapshot.digests.items()}}), flush=True)
    return problems.status


def _entry(snapshot: HashSetSnapshot, key: str, entry_hash: str, distance: int, entry: int | None = None) -> dict:
    reference = snapshot.describe(key, entry)
    return {"hash": entry_hash, "distance": distance, "labels": list(reference.labels), "source": reference.source, "reference": key}


def _hash_queries(path: str, problems: Problems) -> list[tuple[int, str]]:
    found = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                found.append((number, str(PRIMARY_SIGNAL.parse(text))))
            except ValueError as error:
                problems(f"{path}:{number}", str(error))
    return found


def match_hashes(snapshot: HashSetSnapshot, queries: list[str], threshold: int) -> list[list[dict]]:
    """Every snapshot frame within the threshold of each raw PDQ hash, nearest first."""
    found: list[list[dict]] = [[] for _ in queries]
    query_pos, entry_pos, distances = snapshot.frames.search_entries(queries, threshold)
    for q, e, d in zip(query_pos.tolist(), entry_pos.tolist(), distances.tolist()):
        found[q].append(_entry(snapshot, str(snapshot.frames.key_of(e)), snapshot.frames.hash_of(e), d, e))
    return [sorted(matches, key=lambda m: (m["distance"], m["hash"], m["reference"])) for matches in found]


def match_media(snapshot: HashSetSnapshot, hashes: MediaHashes, threshold: int) -> list[dict]:
    result = hash_set_matcher(HashSetView(snapshot), threshold).match(hashes)
    matches = []
    for key, verdict in result.matches:
        behind = [m for m in result.frame_matches.get(key, []) if m.distance is not None]
        best = min(behind, key=lambda m: m.distance, default=None)
        at = best.entry if best is not None else None
        entry_hash = snapshot.frames.hash_of(at) if at is not None else key.split(":", 1)[-1]
        entry = _entry(snapshot, str(key), entry_hash, verdict.best_distance or 0, at)
        entry["signal_type"] = str(verdict.stage)
        if hashes.kind == "video":
            entry.update(query_match_percent=verdict.query_match_percent, reference_match_percent=verdict.reference_match_percent, rule=str(verdict.rule))
        matches.append(entry)
    return matches


def _print(query: str, matches: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"query": query, "matches": matches}), flush=True)
    elif not matches:
        print(f"no\t-\t{query}", flush=True)
    else:
        for found in matches:
            print(f"MATCH\t{found['distance']}\t{query}\t{found['hash']}\t{','.join(found['labels'])}\t{found['source']}", flush=True)


def command_match(args) -> int:
    problems = Problems()
    if args.index:
        try:
            snapshot = HashSetSnapshot.read(args.index)
        except (OSError, ValueError) as error:
            print(f"hashmatch: error: {args.index}: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        snapshot = snapshot_of(args.hash_list, args.format, problems)
    if not args.hashes and not args.media:
        print("hashmatch: error: nothing to match: give --hashes FILE and/or MEDIA files", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.hashes:
        queries = _hash_queries(args.hashes, problems)
        for (_, query), matches in zip(queries, match_hashes(snapshot, [q for _, q in queries], args.threshold)):
            _print(query, matches, args.json)
    for path in args.media:
        try:
            hashes = hash_media(path)
        except MediaError as error:
            problems(path, f"{error.reason}: {error}")
            continue
        _print(path, match_media(snapshot, hashes, args.threshold), args.json)
    return problems.status


def add_commands(commands) -> None:
    index_cmd = commands.add_parser("index", help="hash-set snapshots for offline matching")
    index_commands = index_cmd.add_subparsers(dest="index_command", required=True)
    build = index_commands.add_parser("build", help="write a snapshot from hash lists and/or media files")
    build.add_argument("lists", nargs="+", metavar="LIST_OR_MEDIA")
    build.add_argument("-o", "--output", required=True, metavar="SNAPSHOT")
    build.add_argument("--format", choices=[str(f) for f in HashListFormat], help="the hash lists' format (default: recognised from the content)")
    build.set_defaults(run=command_index_build)

    match = commands.add_parser("match", help="match media files or raw PDQ hashes against a snapshot or hash lists")
    source = match.add_mutually_exclusive_group(required=True)
    source.add_argument("--index", metavar="SNAPSHOT", help="a snapshot from `hashmatch index build`")
    source.add_argument("--hash-list", action="append", metavar="LIST", help="a hash list (or reference media) to match against, read now; repeat it for several")
    match.add_argument("--hashes", metavar="FILE", help="raw PDQ hashes to match, one 64-hex hash a line")
    match.add_argument("media", nargs="*", metavar="MEDIA")
    match.add_argument("--format", choices=[str(f) for f in HashListFormat], help="the hash lists' format (default: recognised)")
    match.add_argument("--threshold", type=int, default=PRIMARY_SIGNAL.match_threshold, help=f"PDQ bits (default {PRIMARY_SIGNAL.match_threshold})")
    match.add_argument("--json", action="store_true", help="one JSON object per query: query, matches (hash, distance, labels, source, ...)")
    match.set_defaults(run=command_match)
