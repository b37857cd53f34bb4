"""`hashmatch hashset ...` (also `python -m hashmatch_tools.admin hashset ...`): the hash set of a stack, from an operator's shell.

    hashmatch hashset [--endpoint-url URL] [--table T] [--features-bucket B] COMMAND ...
      add ITEM              a media file (hashed as a reference) or a hash (64 hex: PDQ, 32: MD5)
      import FILE           a hash list (plain PDQ lines, HMA CSV, vPDQ, JSON lines; docs/hash-lists.md)
      export                every hash-list entry, as JSON lines (or another format) that import reads
      remove ID             a reference by its id, or an entry by its hash or entry id (pdq:<hex>)
      list                  references and entries, one JSON object a line
      stats                 counts by signal type and source
      allow HASH            put a hash on the allow-list (--undo takes it off)
      reindex               rebuild the matchers' snapshot from the whole table (after the
                            indexer's dead-letter queue received a batch); with the
                            reference-features bucket, the local-feature snapshot beside it

The table and buckets default to HASHMATCH_HASH_SET_TABLE, HASHMATCH_REFERENCE_FEATURES_BUCKET and
HASHMATCH_SNAPSHOT_BUCKET (the stack outputs HashSetTableName, ReferenceFeaturesBucketName and
SnapshotBucketName); --endpoint-url (or
AWS_ENDPOINT_URL) points at a local stack, the default AWS chain is used otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from hashmatch.aws.hash_set.entries import ImportReport, entry_id, is_entry_id
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set.indexer import SnapshotIndexer
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.errors import MediaError
from hashmatch.hash_set.lists import HashListEntry, HashListFormat, read_hash_list, write_hash_list
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action
from hashmatch_tools.references import add_reference

EXIT_OK, EXIT_NOT_FOUND, EXIT_BAD_INPUT = 0, 1, 2
_HEX = re.compile(r"[0-9a-fA-F]+")


class ImportProgress:
    """One line on stderr, rewritten in place at most 5 times a second, when stderr is a terminal."""

    def __init__(self, stream: TextIO, name: str, enabled: bool | None):
        self.stream, self.name = stream, name
        self.enabled = stream.isatty() if enabled is None else enabled
        self._shown = 0.0

    def __call__(self, report: ImportReport, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self._shown < 0.2):
            return
        self._shown = now
        line = f"\r{self.name}: {report.entries:,} entries read, {report.written:,} new, {report.already_there:,} already there, {len(report.bad_lines):,} bad lines"
        print(line, end="\n" if final else "", file=self.stream, flush=True)


def _signal_of(text: str, given: str | None) -> ListedSignal:
    if given:
        return ListedSignal(given)
    return ListedSignal.MD5 if len(text) == 32 else ListedSignal.PDQ


def _is_hash(text: str) -> bool:
    return len(text) in (32, 64) and bool(_HEX.fullmatch(text)) and not Path(text).exists()


def command_add(hash_set: HashSetTable, args) -> int:
    if _is_hash(args.item):
        entry = HashListEntry(signal_type=_signal_of(args.item, args.signal_type), hash=args.item, labels=tuple(args.label or ()), source=args.source, added_by=args.added_by)
        new = hash_set.entries.add(entry, action=args.action, added_by=args.added_by)
        print(json.dumps({"entry_id": entry_id(entry.signal_type, entry.hash), "new": new}))
        return EXIT_OK
    if args.pictures is None:
        print("hashmatch: note: no --pictures-bucket: reviewers will see no pictures of this reference beside its matches", file=sys.stderr)
    try:
        reference = add_reference(
            hash_set, args.item, label=", ".join(args.label or ()) or Path(args.item).name, source=args.source, action=args.action, reference_id=args.reference_id, pictures=args.pictures
        )
    except (MediaError, ValueError) as error:
        print(f"hashmatch: error: {args.item}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(reference.to_dict()))
    return EXIT_OK


def command_import(hash_set: HashSetTable, args) -> int:
    name = "stdin" if args.file == "-" else args.file
    try:
        stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", errors="replace", newline="")
    except OSError as error:
        print(f"hashmatch: error: {name}: {error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    progress = ImportProgress(sys.stderr, name, args.progress)
    try:
        with stream:
            found = read_hash_list(stream, args.source or Path(name).stem, HashListFormat(args.format) if args.format else None, name=Path(name).name)
            report = hash_set.entries.import_entries(found, action=args.action, added_by=args.added_by or "", progress=progress)
    except ValueError as error:  # the format could not be told from the content
        print(f"hashmatch: error: {name}: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    progress(report, final=True)
    for bad in report.bad_lines:
        print(f"hashmatch: {name}:{bad.line_number}: {bad.reason}", file=sys.stderr)
    print(json.dumps({"file": name, **report.to_dict()}))
    return EXIT_BAD_INPUT if report.bad_lines else EXIT_OK


def command_export(hash_set: HashSetTable, args) -> int:
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    try:
        for line in write_hash_list(hash_set.entries.export(), HashListFormat(args.format)):
            out.write(line)
    finally:
        if args.output:
            out.close()
    return EXIT_OK


def command_remove(hash_set: HashSetTable, args) -> int:
    text = args.id
    # A reference's default id is its media's SHA-256, 64 hex digits like a PDQ hash: references first.
    is_reference = not is_entry_id(text) and hash_set.reference(text) is not None
    if not is_reference and (is_entry_id(text) or _is_hash(text)):
        kind, value = text.split(":", 1) if is_entry_id(text) else (_signal_of(text, args.signal_type), text)
        removed = hash_set.entries.remove(kind, value, args.source)
        print(json.dumps({"entry_id": entry_id(kind, value), "provenances_removed": removed}))
        return EXIT_OK if removed else EXIT_NOT_FOUND
    if hash_set.features is None:
        print("hashmatch: error: removing a reference needs --features-bucket (its local features are there)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not hash_set.remove_reference(text):
        print(f"hashmatch: error: no reference or entry {text}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if args.pictures is not None:
        args.pictures.delete(text)
    print(json.dumps({"reference_id": text, "removed": True}))
    return EXIT_OK


def command_list(hash_set: HashSetTable, args) -> int:
    if args.what in ("all", "references"):
        for reference in hash_set.references():
            print(json.dumps({"type": "reference", **reference.to_dict()}))
    if args.what in ("all", "entries"):
        for stored in sorted(hash_set.entries.all().values(), key=lambda stored: stored.entry_id):
            print(json.dumps({"type": "entry", **stored.to_dict()}))
    return EXIT_OK


def command_stats(hash_set: HashSetTable, args) -> int:
    references = hash_set.references()
    print(json.dumps({"version": hash_set.version(), "references": len(references), "reference_frames": sum(r.frames for r in references), **hash_set.entries.stats()}, indent=2))
    return EXIT_OK


def command_allow(hash_set: HashSetTable, args) -> int:
    kind, value = args.hash.split(":", 1) if is_entry_id(args.hash) else (_signal_of(args.hash, args.signal_type), args.hash)
    if args.undo:
        done = hash_set.entries.disallow(kind, value)
        print(json.dumps({"entry_id": entry_id(kind, value), "allowed": False, "was_allowed": done}))
        return EXIT_OK if done else EXIT_NOT_FOUND
    if not args.reason:
        print("hashmatch: error: allow needs --reason (it is kept with the allow-list entry)", file=sys.stderr)
        return EXIT_BAD_INPUT
    hash_set.entries.allow(kind, value, allowed_by=args.added_by, reason=args.reason)
    print(json.dumps({"entry_id": entry_id(kind, value), "allowed": True}))
    return EXIT_OK


def command_reindex(hash_set: HashSetTable, args) -> int:
    if not args.snapshot_bucket:
        print("hashmatch: error: reindex needs --snapshot-bucket or HASHMATCH_SNAPSHOT_BUCKET (stack output SnapshotBucketName)", file=sys.stderr)
        return EXIT_BAD_INPUT
    started = time.perf_counter()
    outcome = SnapshotIndexer(hash_set, SnapshotStore(args.s3, args.snapshot_bucket)).rebuild()
    manifest = outcome.manifest
    if hash_set.features is None:
        print("hashmatch: note: no --features-bucket: the local-feature snapshot is left as it was (matchers read the features of references it lacks one by one)", file=sys.stderr)
    summary = {"sequence": manifest.sequence, "snapshot_frames": manifest.snapshot_frames, "local_feature_snapshot": manifest.features.key if manifest.features else None}
    print(json.dumps({**summary, "seconds": round(time.perf_counter() - started, 2)}))
    return EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--table", default=os.environ.get("HASHMATCH_HASH_SET_TABLE"), help="the hash-set table (stack output HashSetTableName; default $HASHMATCH_HASH_SET_TABLE)")
    parser.add_argument("--features-bucket", default=os.environ.get("HASHMATCH_REFERENCE_FEATURES_BUCKET"), help="the reference-features bucket, for media references (default $HASHMATCH_REFERENCE_FEATURES_BUCKET)")
    parser.add_argument("--snapshot-bucket", default=os.environ.get("HASHMATCH_SNAPSHOT_BUCKET"), help="the snapshot bucket, for reindex (default $HASHMATCH_SNAPSHOT_BUCKET)")
    parser.add_argument(
        "--pictures-bucket",
        default=os.environ.get("HASHMATCH_REFERENCE_PICTURES_BUCKET"),
        help="the reference-pictures bucket, where a media reference's frames are kept small for reviewers (stack output ReferencePicturesBucketName; default $HASHMATCH_REFERENCE_PICTURES_BUCKET)",
    )
    parser.add_argument("--added-by", default=getpass.getuser(), help="who is changing the hash set (default: your user name)")
    commands = parser.add_subparsers(dest="hashset_command", required=True)
    actions = list(Action)

    add = commands.add_parser("add", help="add a media file (hashed as a reference) or one hash")
    add.add_argument("item", metavar="FILE_OR_HASH")
    add.add_argument("--label", action="append", help="what it is, as matches report it (repeatable)")
    add.add_argument("--source", required=True, help="where it comes from (a hash-sharing list, a referral)")
    add.add_argument("--action", type=Action, choices=actions, default=Action.QUARANTINE, help="what a match recommends (default quarantine)")
    add.add_argument("--signal-type", choices=[str(kind) for kind in ListedSignal], help="for a hash: default pdq for 64 hex digits, md5 for 32")
    add.add_argument("--reference-id", help="for a media file: default its SHA-256")
    add.set_defaults(operation=command_add)

    imported = commands.add_parser("import", help="import a hash list; bad lines are reported, good ones land exactly once")
    imported.add_argument("file", metavar="FILE", help="the list, or - for standard input")
    imported.add_argument("--format", choices=[str(f) for f in HashListFormat], help="default: recognised from the content")
    imported.add_argument("--source", help="the list's name in provenances (default: the file name without extension)")
    imported.add_argument("--action", type=Action, choices=actions, default=Action.REVIEW, help="what a match to these entries recommends (default review: third-party lists bring false positives)")
    shown = imported.add_mutually_exclusive_group()
    shown.add_argument("--progress", dest="progress", action="store_true", default=None, help="progress on stderr (default: when it is a terminal)")
    shown.add_argument("--no-progress", dest="progress", action="store_false")
    imported.set_defaults(operation=command_import)

    exported = commands.add_parser("export", help="write every hash-list entry in a format import reads")
    exported.add_argument("--format", choices=[str(f) for f in HashListFormat], default=str(HashListFormat.JSON_LINES), help="default jsonl (the only one that keeps every field)")
    exported.add_argument("-o", "--output", help="a file (default: standard output)")
    exported.set_defaults(operation=command_export)

    remove = commands.add_parser("remove", help="remove a reference (by id) or an entry (by hash or entry id)")
    remove.add_argument("id", metavar="ID")
    remove.add_argument("--source", help="for an entry: only this source's provenance")
    remove.add_argument("--signal-type", choices=[str(kind) for kind in ListedSignal])
    remove.set_defaults(operation=command_remove)

    listed = commands.add_parser("list", help="references and entries, one JSON object a line")
    listed.add_argument("what", nargs="?", choices=("all", "references", "entries"), default="all")
    listed.set_defaults(operation=command_list)

    stats = commands.add_parser("stats", help="counts by signal type and source")
    stats.set_defaults(operation=command_stats)

    allow = commands.add_parser("allow", help="put a hash on the allow-list: matches to it are suppressed")
    allow.add_argument("hash", metavar="HASH")
    allow.add_argument("--reason", help="why (required to allow)")
    allow.add_argument("--signal-type", choices=[str(kind) for kind in ListedSignal])
    allow.add_argument("--undo", action="store_true", help="take it off the allow-list")
    allow.set_defaults(operation=command_allow)

    reindex = commands.add_parser("reindex", help="rebuild the matchers' snapshot from the whole table (a consistent scan)")
    reindex.set_defaults(operation=command_reindex)


def run(args: argparse.Namespace) -> int:
    import boto3

    if not args.table:
        print("hashmatch: error: which hash set? --table or HASHMATCH_HASH_SET_TABLE (stack output HashSetTableName)", file=sys.stderr)
        return EXIT_BAD_INPUT
    session = boto3.session.Session(region_name=args.region)
    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    args.s3 = session.client("s3", **options)
    features = ReferenceFeaturesBucket(args.s3, args.features_bucket) if args.features_bucket else None
    args.pictures = ReferencePictures(args.s3, args.pictures_bucket) if args.pictures_bucket else None
    hash_set = HashSetTable(session.resource("dynamodb", **options).Table(args.table), features)
    return args.operation(hash_set, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hashmatch hashset", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
