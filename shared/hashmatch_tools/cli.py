"""The `hashmatch` command: hash media files, compare uploads with a reference, manage a stack's hash set."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Sequence, TextIO

from hashmatch import __version__
from hashmatch.errors import MediaError
from hashmatch.matching.local_features.orb import extract_with_insets
from hashmatch_tools.matching import two_stage_matcher
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch_tools import admin, hashset, lookup_client, offline
from hashmatch_tools.matching import detail_pictures_of, hash_reference
from hashmatch.vocabulary import Role

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class Progress:
    """Progress lines on stderr: shown on a terminal (or with --progress), never mixed into stdout."""

    def __init__(self, stream: TextIO, enabled: bool | None):
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled

    def step(self, position: int, total: int, path: str, what: str) -> float:
        if self.enabled:
            print(f"[{position}/{total}] {what} {path} ...", file=self.stream, flush=True)
        self._last = time.monotonic()
        return self._last

    def fraction(self, done: float) -> None:
        """Within one long video: a percentage line at most every 2 seconds."""
        now = time.monotonic()
        if self.enabled and now - getattr(self, "_last", now) >= 2.0:
            print(f"      {100 * done:.0f} %", file=self.stream, flush=True)
            self._last = now

    def done(self, started: float, hashes: MediaHashes) -> None:
        if self.enabled:
            took = time.monotonic() - started
            print(f"      {hashes.kind}, {hashes.duration:.1f} s, {len(hashes.frames)} frames hashed in {took:.2f} s", file=self.stream, flush=True)


def _error(path: str, error: Exception) -> None:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    print(f"hashmatch: error: {path}: {message}", file=sys.stderr, flush=True)


def _hash_one(path: str, role: Role, progress: Progress) -> MediaHashes:
    if role == Role.REFERENCE:
        return hash_reference(path, progress=progress.fraction)
    return hash_media(path, role=role, progress=progress.fraction)


def _print_hashes_text(path: str, hashes: MediaHashes) -> None:
    print(f"{path}\t{hashes.kind}\t{hashes.format}\t{hashes.width}x{hashes.height}\t{hashes.duration:.3f}s\tmd5={hashes.md5}\tsha256={hashes.sha256}")
    for frame in hashes.frames:
        extras = "".join(f"\t{name}={value}" for name, value in frame.signals.items())
        print(f"  {frame.timestamp:9.3f}\tpdq={frame.pdq}\tquality={frame.quality}{extras}")


def command_hash(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr, args.progress)
    status = EXIT_OK
    for position, path in enumerate(args.paths, 1):
        started = progress.step(position, len(args.paths), path, "hashing")
        try:
            # Printed with the local features of the frames the second stage would use, whatever the role.
            # Local features only where they are printed (--json): a lookup request has none.
            features = None if args.lookup_request else extract_with_insets
            hashes = hash_media(path, role=args.role, features=features, keep_detail_pictures=False, progress=progress.fraction)
        except MediaError as error:
            _error(path, error)
            status = EXIT_BAD_INPUT
            continue
        progress.done(started, hashes)
        if args.lookup_request:
            print(json.dumps(lookup_client.lookup_request_of(hashes).to_dict()), flush=True)
        elif args.json:
            print(json.dumps({"path": path, **hashes.to_dict(with_variants=False)}), flush=True)
        else:
            _print_hashes_text(path, hashes)
    return status


def command_compare(args: argparse.Namespace) -> int:
    progress = Progress(sys.stderr, args.progress)
    total = 1 + len(args.queries)
    started = progress.step(1, total, args.reference, "hashing reference")
    try:
        reference = _hash_one(args.reference, Role.REFERENCE, progress)
    except MediaError as error:
        _error(args.reference, error)
        return EXIT_BAD_INPUT
    progress.done(started, reference)
    matcher = two_stage_matcher({args.reference: reference}, PDQ_CONFIDENT_MATCH_THRESHOLD)
    if not args.json:
        print("match\tquery%\treference%\tquery")
    status = EXIT_OK
    for position, path in enumerate(args.queries, 2):
        started = progress.step(position, total, path, "hashing")
        try:
            query = _hash_one(path, Role.UPLOAD, progress)
        except MediaError as error:
            _error(path, error)
            status = EXIT_BAD_INPUT
            continue
        progress.done(started, query)
        verdict = matcher.verdict(query, args.reference, detail_pictures_of(query))
        if args.json:
            print(json.dumps({"query": path, "reference": args.reference, "query_kind": query.kind, **verdict.to_dict()}), flush=True)
        else:
            word = "MATCH" if verdict.match else "no"
            print(f"{word}\t{verdict.query_match_percent:.1f}\t{verdict.reference_match_percent:.1f}\t{path}", flush=True)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashmatch", description="Perceptual hashes (PDQ first) of images and videos, and verdicts against a reference.")
    parser.add_argument("--version", action="version", version=f"hashmatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
        shown = sub.add_mutually_exclusive_group()
        shown.add_argument("--progress", dest="progress", action="store_true", default=None, help="show progress on stderr (default: when stderr is a terminal)")
        shown.add_argument("--no-progress", dest="progress", action="store_false", help="never show progress")

    hash_cmd = commands.add_parser("hash", help="hash media files: kind, MD5, SHA-256 and per-frame PDQ (plus other signals)")
    hash_cmd.add_argument("paths", nargs="+", metavar="PATH")
    hash_cmd.add_argument("--role", type=Role, choices=list(Role), default=Role.UPLOAD, help="upload: sparse, fast sampling (default); reference: every distinct frame")
    hash_cmd.add_argument("--lookup-request", action="store_true", help="per file one JSON line with only what `hashmatch check --hashes` sends: its distinct PDQ hashes (with quality), MD5 and SHA-256")
    common(hash_cmd)
    hash_cmd.set_defaults(run=command_hash)

    compare_cmd = commands.add_parser("compare", help="one verdict per query: does it contain, or is it contained in, the reference?")
    compare_cmd.add_argument("reference", metavar="REFERENCE")
    compare_cmd.add_argument("queries", nargs="+", metavar="QUERY")
    common(compare_cmd)
    compare_cmd.set_defaults(run=command_compare)

    offline.add_commands(commands)
    lookup_client.add_command(commands)

    hashset_cmd = commands.add_parser("hashset", help="the hash set of a stack: add, import, export, remove, list, stats, allow")
    hashset.add_arguments(hashset_cmd)
    hashset_cmd.set_defaults(run=hashset.run)

    from hashmatch_tools.review import server as review_server

    review_cmd = commands.add_parser("review", help="the moderators' desk: held uploads and review matches in a browser, on 127.0.0.1 (docs/review.md)")
    review_server.add_arguments(review_cmd)
    review_cmd.set_defaults(run=review_server.run)

    # Listed for --help; main() hands `hashmatch admin ...` to hashmatch_tools.admin before parsing.
    commands.add_parser("admin", help="the operators' commands (as python -m hashmatch_tools.admin): add-reference, restore, redrive, ...", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["admin"]:
        # Handed over whole, its own options and --help included.
        return admin.main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("hashmatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
