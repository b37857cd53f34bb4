"""The `hashmatch` command: hash media files, compare uploads with a reference, match them against hash sets, ask a stack, and the operators' commands.

    hashmatch hash PATH... [--json [--features] | --lookup-request] [--role upload|reference]
    hashmatch compare REFERENCE QUERY... [--json]
    hashmatch index build LIST_OR_MEDIA... -o SNAPSHOT       (hashmatch_tools.offline)
    hashmatch match (--index SNAPSHOT | --hash-list LIST ...) [--hashes FILE] [MEDIA...]
    hashmatch check --hashes FILE                            (hashmatch_tools.lookup_client)
    hashmatch admin COMMAND ...                              (hashmatch_tools.admin: a stack's hash set, restores, holds, dead letters)
    hashmatch review [--port N] ...                          (hashmatch_tools.review: the moderators' desk on 127.0.0.1)

PATH, QUERY, LIST_OR_MEDIA and MEDIA may be folders: their files are taken in sorted order, hidden
ones skipped. What every command promises (exit status 2 and one `hashmatch: error:` line per bad
input, progress on stderr only when it is a terminal, outputs written whole): hashmatch_tools.contract.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from hashmatch import __version__
from hashmatch.errors import MediaError
from hashmatch.matching.local_features.orb import extract_with_insets
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.vocabulary import Role
from hashmatch_tools import admin, lookup_client, offline
from hashmatch_tools.contract import BadInput, CommandParser, Problems, Progress, add_progress_options, reason_of, run, walk
from hashmatch_tools.matching import detail_pictures_of, hash_reference, two_stage_matcher


def _hash_one(path: str, role: Role, progress: Progress) -> MediaHashes:
    if role == Role.REFERENCE:
        return hash_reference(path, progress=progress.fraction)
    return hash_media(path, role=role, progress=progress.fraction)


def _print_hashes_text(path: str, hashes: MediaHashes, with_features: bool) -> None:
    print(f"{path}\t{hashes.kind}\t{hashes.format}\t{hashes.width}x{hashes.height}\t{hashes.duration:.3f}s\tmd5={hashes.md5}\tsha256={hashes.sha256}")
    for frame in hashes.frames:
        extras = "".join(f"\t{name}={value}" for name, value in frame.signals.items())
        print(f"  {frame.timestamp:9.3f}\tpdq={frame.pdq}\tquality={frame.quality}{extras}")
    if with_features:
        for frame in hashes.features:
            print(f"  {frame.timestamp:9.3f}\tlocal features: {len(frame.features)} keypoints")


def command_hash(args: argparse.Namespace) -> int:
    if args.features and args.lookup_request:
        raise BadInput("--features", "a lookup request carries no local features (use --json --features)")
    problems = Problems()
    paths = list(walk(args.paths, problems))
    progress = Progress(sys.stderr, args.progress)
    # Local features only when asked for (a picture's are ~48 KB of base64): those of the frames
    # the second stage would use, whatever the role.
    features = extract_with_insets if args.features else None
    for position, path in enumerate(paths, 1):
        started = progress.step(position, len(paths), path, "hashing")
        try:
            hashes = hash_media(path, role=args.role, features=features, keep_detail_pictures=False, progress=progress.fraction)
        except MediaError as error:
            problems(path, reason_of(error))
            continue
        progress.done(started, hashes)
        if args.lookup_request:
            print(json.dumps({"path": path, **lookup_client.lookup_request_of(hashes).to_dict()}), flush=True)
        elif args.json:
            print(json.dumps({"path": path, **hashes.to_dict(with_variants=False, with_features=args.features)}), flush=True)
        else:
            _print_hashes_text(path, hashes, args.features)
    return problems.status


def command_compare(args: argparse.Namespace) -> int:
    problems = Problems()
    queries = list(walk(args.queries, problems))
    progress = Progress(sys.stderr, args.progress)
    total = 1 + len(queries)
    started = progress.step(1, total, args.reference, "hashing reference")
    try:
        reference = _hash_one(args.reference, Role.REFERENCE, progress)
    except MediaError as error:
        raise BadInput(args.reference, reason_of(error)) from None
    progress.done(started, reference)
    matcher = two_stage_matcher({args.reference: reference}, PDQ_CONFIDENT_MATCH_THRESHOLD)
    if not args.json:
        print("match\tquery%\treference%\tquery")
    for position, path in enumerate(queries, 2):
        started = progress.step(position, total, path, "hashing")
        try:
            query = _hash_one(path, Role.UPLOAD, progress)
        except MediaError as error:
            problems(path, reason_of(error))
            continue
        progress.done(started, query)
        verdict = matcher.verdict(query, args.reference, detail_pictures_of(query))
        if args.json:
            print(json.dumps({"query": path, "reference": args.reference, "query_kind": query.kind, **verdict.to_dict()}), flush=True)
        else:
            word = "MATCH" if verdict.match else "no"
            print(f"{word}\t{verdict.query_match_percent:.1f}\t{verdict.reference_match_percent:.1f}\t{path}", flush=True)
    return problems.status


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="hashmatch", description="Perceptual hashes (PDQ first) of images and videos, and verdicts against a reference or a hash set.")
    parser.add_argument("--version", action="version", version=f"hashmatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
        add_progress_options(sub)

    hash_cmd = commands.add_parser("hash", help="hash media files: kind, MD5, SHA-256 and per-frame PDQ (plus other signals)")
    hash_cmd.add_argument("paths", nargs="+", metavar="PATH", help="media files, or folders of them (walked: files sorted, hidden ones skipped)")
    hash_cmd.add_argument("--role", type=Role, choices=list(Role), default=Role.UPLOAD, help="upload: sparse, fast sampling (default); reference: every distinct frame")
    hash_cmd.add_argument("--lookup-request", action="store_true", help="per file one JSON line: its path and what `hashmatch check --hashes` sends (its distinct PDQ hashes with quality, MD5 and SHA-256; check never sends the path)")
    hash_cmd.add_argument("--features", action="store_true", help="also the local features the second stage matches on (per feature frame its ORB keypoints and descriptors, base64: tens of KB a picture; as keypoint counts in text output)")
    common(hash_cmd)
    hash_cmd.set_defaults(run=command_hash)

    compare_cmd = commands.add_parser("compare", help="one verdict per query: does it contain, or is it contained in, the reference?")
    compare_cmd.add_argument("reference", metavar="REFERENCE", help="one media file")
    compare_cmd.add_argument("queries", nargs="+", metavar="QUERY", help="media files, or folders of them")
    common(compare_cmd)
    compare_cmd.set_defaults(run=command_compare)

    offline.add_commands(commands)
    lookup_client.add_command(commands)

    from hashmatch_tools.review import server as review_server

    review_cmd = commands.add_parser("review", help="the moderators' desk: held uploads and review matches in a browser, on 127.0.0.1 (docs/review.md)")
    review_server.add_arguments(review_cmd)
    review_cmd.set_defaults(run=review_server.run)

    # Listed for --help; main() hands `hashmatch admin ...` to hashmatch_tools.admin before parsing.
    commands.add_parser("admin", help="the operators' commands against a stack: hashset (add, import, export, remove, list, stats, allow, reindex), add-reference, restore, legal-hold, redrive, ... (hashmatch admin --help)", add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["admin"]:
        # Handed over whole, its own options and --help included.
        return admin.main(argv[1:])
    if argv[:1] == ["hashset"]:
        # The former spelling of `hashmatch admin hashset`, still run for the scripts that use it.
        return admin.main(argv)
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
