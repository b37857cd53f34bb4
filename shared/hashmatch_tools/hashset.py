"""`hashmatch admin hashset ...`: the hash set of a stack, from an operator's shell.

    hashmatch admin hashset [--endpoint-url URL] [--region R] [--table T] [--features-bucket B] [--snapshot-bucket S] [--pictures-bucket P] [--manifest-key K] COMMAND ...
      add ITEM              a media file (hashed as a reference; its small grey pictures to --pictures-bucket) or a hash (64 hex: PDQ, 32: MD5)
      import FILE           a hash list (plain PDQ lines, HMA CSV, vPDQ, JSON lines; docs/hash-lists.md)
      export                every hash-list entry, as JSON lines (or another format) that import reads
      remove ID             a reference by its id, or an entry by its hash or entry id (pdq:<hex>)
      list                  references and entries, one JSON object a line
      stats                 counts by signal type and source
      allow HASH            put a hash on the allow-list (--undo takes it off)
      reindex               rebuild the matchers' snapshot from the whole table (after the
                            indexer's dead-letter queue received a batch), signed with the
                            manifest key; with the reference-features bucket, the local-feature
                            snapshot beside it. A sharp shrink of the set is refused (exit 2)
      accept-shrink --reason R   reindex, publishing a sharp shrink the indexer refused

The table, buckets and key default to HASHMATCH_HASH_SET_TABLE, HASHMATCH_REFERENCE_FEATURES_BUCKET,
HASHMATCH_SNAPSHOT_BUCKET, HASHMATCH_REFERENCE_PICTURES_BUCKET and HASHMATCH_MANIFEST_KEY_ID (the stack outputs
HashSetTableName, ReferenceFeaturesBucketName, SnapshotBucketName, ReferencePicturesBucketName and ManifestSigningKeyArn;
hashmatch_tools.stack_outputs); reindex and accept-shrink run as the stack's OperatorRoleName role (it alone, beside the
indexer, may write the snapshot and sign with the key); a command that needs one not given says which
flag and which variable. --endpoint-url (or AWS_ENDPOINT_URL) points at a local stack, the default
AWS chain is used otherwise; a missing region or credentials, or an endpoint that does not answer,
is one `hashmatch: error:` line (exit 2). `export` writes its file whole or not at all, and refuses
(naming them) entries its format cannot carry.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from hashmatch.aws.hash_set.entries import ImportReport, entry_id, is_entry_id
from hashmatch.aws.hash_set.indexer import Acceptance, ShrinkRefused, SnapshotIndexer
from hashmatch.aws.hash_set.signing import ManifestSigner
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.errors import MediaError
from hashmatch.hash_set.formats import hma, vpdq
from hashmatch.hash_set.formats.tmk import TMK_SIGNAL
from hashmatch.hash_set.lists import EntryStatus, HashListEntry, HashListFormat, read_hash_list, write_hash_list
from hashmatch.hash_set.snapshot import LISTED_VIDEO_PREFIX
from hashmatch.pdq_limits import PDQ_MIN_QUALITY
from hashmatch.vocabulary import ListedSignal
from hashmatch.vocabulary import Action
from hashmatch_tools.contract import EXIT_BAD_INPUT, EXIT_OK, BadInput, CommandParser, WholeFile, add_progress_options, needed, note, reason_of, report, run, stack_option
from hashmatch_tools.references import add_reference

EXIT_NOT_FOUND = 1
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


def _hash_key(text: str, given: str | None) -> tuple[ListedSignal, str]:
    """A hash or entry id (pdq:<hex>) as (signal type, lowercase hex); BadInput when it is neither."""
    kind, value = text.split(":", 1) if is_entry_id(text) else (_signal_of(text, given), text)
    try:
        checked = HashListEntry(signal_type=kind, hash=value, source="-")
    except ValueError as error:
        raise BadInput(text, f"not a hash nor an entry id ({reason_of(error)}): 64 hex digits (PDQ), 32 (MD5), or pdq:/md5:/sha256:<hex>") from None
    return checked.signal_type, checked.hash


def command_add(hash_set: HashSetTable, args) -> int:
    if _is_hash(args.item):
        kind, value = _hash_key(args.item, args.signal_type)
        entry = HashListEntry(signal_type=kind, hash=value, labels=tuple(args.label or ()), source=args.source, added_by=args.added_by)
        new = hash_set.entries.add(entry, action=args.action, added_by=args.added_by)
        print(json.dumps({"entry_id": entry_id(entry.signal_type, entry.hash), "new": new}))
        return EXIT_OK
    if args.pictures is None:
        note("no --pictures-bucket (HASHMATCH_REFERENCE_PICTURES_BUCKET): reviewers will see no pictures of this reference beside its matches")
    try:
        reference = add_reference(
            hash_set, args.item, label=", ".join(args.label or ()) or Path(args.item).name, source=args.source, action=args.action, reference_id=args.reference_id, pictures=args.pictures
        )
    except MediaError as error:
        raise BadInput(args.item, f"{error.reason}: {reason_of(error)}") from None
    except ValueError as error:  # nothing in it to match on
        raise BadInput(args.item, reason_of(error)) from None
    print(json.dumps(reference.to_dict()))
    return EXIT_OK


def _stdin() -> TextIO:
    """Standard input read as a file is: a byte that is not UTF-8 makes a bad line, not an exception."""
    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="") if hasattr(sys.stdin, "buffer") else sys.stdin


def command_import(hash_set: HashSetTable, args) -> int:
    name = "stdin" if args.file == "-" else args.file
    try:
        stream = _stdin() if args.file == "-" else open(args.file, encoding="utf-8", errors="replace", newline="")
    except OSError as error:
        raise BadInput(name, reason_of(error)) from None
    progress = ImportProgress(sys.stderr, name, args.progress)
    try:
        with stream:
            found = read_hash_list(stream, args.source or Path(name).stem, HashListFormat(args.format) if args.format else None, name=Path(name).name)
            imported = hash_set.entries.import_entries(found, action=args.action, added_by=args.added_by or "", progress=progress)
    except ValueError as error:  # the format could not be told from the content
        raise BadInput(name, reason_of(error)) from None
    except OSError as error:  # a folder, or a file that cannot be read past its start
        raise BadInput(name, reason_of(error)) from None
    progress(imported, final=True)
    for bad in imported.bad_lines:
        report(f"{name}:{bad.line_number}", bad.reason)
    if imported.skipped:
        note(f"{name}: {imported.skipped:,} lines skipped, counted and not errors: vPDQ frames below quality 50 (vPDQ does not match on them) or signals hashmatch does not match")
    if imported.tmk:
        note(f"{name}: {imported.tmk:,} TMK+PDQF entries stored but not matched by the stack (its hasher computes no TMK; `hashmatch match` matches them where tmkpy is installed: docs/hash-lists.md)")
    if not imported.entries and not imported.bad_lines and not imported.skipped:
        report(name, "no hash-list entry in it")
        return EXIT_BAD_INPUT
    print(json.dumps({"file": name, **imported.to_dict()}))
    return EXIT_BAD_INPUT if imported.bad_lines else EXIT_OK


def _what_cannot_be_written(entries: list[HashListEntry], format: HashListFormat) -> list[str]:
    """Why the entries cannot be written in `format`: one reason per signal type and status that cannot (at least one)."""
    groups: dict[tuple[ListedSignal, EntryStatus], list[HashListEntry]] = {}
    for entry in entries:
        groups.setdefault((entry.signal_type, entry.status), []).append(entry)
    reasons = []
    for (kind, status), group in sorted(groups.items()):
        try:
            for _ in write_hash_list(group, format):
                pass
        except ValueError as error:
            what = f"{len(group)} {kind} {'entry' if len(group) == 1 else 'entries'}" + (f" ({status})" if status is not EntryStatus.ACTIVE else "")
            reasons.append(f"{what}: {reason_of(error)}")
    return reasons


def _reference_frames(hash_set: HashSetTable, reference) -> list[HashListEntry]:
    """A media reference as a listed video (or picture): its usable frames as PDQ entries, the video named by its id.

    A reference added before frames kept their quality exports the lowest usable one (50): every
    frame kept is at least that.
    """
    return [
        HashListEntry(signal_type=ListedSignal.PDQ, hash=pdq, labels=(reference.label,) if reference.label.strip() else (), source=reference.source, source_id=f"{reference.reference_id}#{number}", quality=quality if quality is not None else PDQ_MIN_QUALITY, timestamp=timestamp)
        for number, (timestamp, pdq, quality) in enumerate(hash_set.reference_frames(reference.reference_id))
    ]


def _selected(hash_set: HashSetTable, args) -> list:
    """The entries (and with --references, the references' frames) the filters let through."""
    found = list(hash_set.entries.export())
    if args.references:
        for reference in hash_set.references():
            # A listed video (vpdq:<file>) is the frames of an imported vPDQ file: its entries are exported already.
            if not reference.reference_id.startswith(LISTED_VIDEO_PREFIX):
                found.extend(_reference_frames(hash_set, reference))
    if args.source:
        found = [entry for entry in found if entry.source in args.source]
    if args.signal_type:
        found = [entry for entry in found if str(entry.signal_type) in args.signal_type]
    if args.video:
        found = [entry for entry in found if isinstance(entry, HashListEntry) and entry.listed_video in args.video]
    return found


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "video"


def _files(entries: list, format: HashListFormat) -> dict[str | None, list]:
    """The files an export is made of: HMA's one per signal type (named as HMA reads them), vPDQ's one per listed video; else one."""
    if format is HashListFormat.HMA_CSV:
        by_type: dict[str | None, list] = {}
        for entry in entries:
            name = hma.state_file_name(entry.signal_type) if entry.signal_type in hma.INDICATOR_TYPES else None
            by_type.setdefault(name, []).append(entry)
        return by_type
    if format in (HashListFormat.VPDQ, HashListFormat.VPDQ_JSON):
        others, by_video = vpdq.videos(entry for entry in entries if isinstance(entry, HashListEntry))
        suffix = ".txt" if format is HashListFormat.VPDQ else ".json"
        files: dict[str | None, list] = {f"{_safe_name(video)}{suffix}": frames for video, frames in by_video.items()}
        rest = others + [entry for entry in entries if not isinstance(entry, HashListEntry)]
        if rest:
            files[None] = rest
        return files
    return {None: entries}


def command_export(hash_set: HashSetTable, args) -> int:
    format = HashListFormat(args.format)
    entries = _selected(hash_set, args)
    files = _files(entries, format)
    folder = args.output is not None and (args.output.endswith(("/", os.sep)) or Path(args.output).is_dir())
    reasons = [reason for group in files.values() for reason in _what_cannot_be_written(group, format)]
    if reasons:
        for reason in reasons:
            report(f"export --format {format}", reason)
        if format is not HashListFormat.JSON_LINES:
            note("nothing written; --format jsonl carries every entry (all signal types, allow-list marks); --signal-type, --source and --video choose what is exported")
        return EXIT_BAD_INPUT
    if len(files) > 1 and not folder:
        what = "signal type (HMA reads the type from the file name)" if format is HashListFormat.HMA_CSV else "listed video"
        raise BadInput(f"export --format {format}", f"the selection makes {len(files)} files, one per {what}: give -o a folder (ending in /), or choose with --signal-type, --video or --source")
    written = {name: list(write_hash_list(group, format)) for name, group in files.items()}
    if folder:
        target = Path(args.output)
        if target.exists() and any(target.iterdir()):
            raise BadInput(args.output, "the folder is not empty: an export writes a folder of its own")
        target.mkdir(parents=True, exist_ok=True)
        for name, lines in written.items():
            WholeFile(target / (name or f"export.{format}"), "-o").write_lines(lines)
        print(json.dumps({"folder": str(target), "files": {name or f"export.{format}": len(lines) for name, lines in written.items()}}))
        return EXIT_OK
    [lines] = written.values() if written else [[]]
    if args.output is not None:
        WholeFile(args.output, "-o").write_lines(lines)
    else:
        sys.stdout.writelines(lines)
    return EXIT_OK


def command_remove(hash_set: HashSetTable, args) -> int:
    text = args.id
    # A reference's default id is its media's SHA-256, 64 hex digits like a PDQ hash: references first.
    is_reference = not is_entry_id(text) and hash_set.reference(text) is not None
    if not is_reference and (is_entry_id(text) or _is_hash(text)):
        kind, value = _hash_key(text, args.signal_type)
        removed = hash_set.entries.remove(kind, value, args.source)
        print(json.dumps({"entry_id": entry_id(kind, value), "provenances_removed": removed}))
        return EXIT_OK if removed else EXIT_NOT_FOUND
    # A reference's local features are in the reference-features bucket: removing it removes them.
    needed(args.features_bucket, "remove (a reference)", "--features-bucket", "HASHMATCH_REFERENCE_FEATURES_BUCKET")
    if not hash_set.remove_reference(text):
        report(text, "no reference or entry with this id")
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
    kind, value = _hash_key(args.hash, args.signal_type)
    if args.undo:
        done = hash_set.entries.disallow(kind, value)
        print(json.dumps({"entry_id": entry_id(kind, value), "allowed": False, "was_allowed": done}))
        return EXIT_OK if done else EXIT_NOT_FOUND
    if not args.reason:
        raise BadInput("allow", "needs --reason (it is kept with the allow-list entry)")
    hash_set.entries.allow(kind, value, allowed_by=args.added_by, reason=args.reason)
    print(json.dumps({"entry_id": entry_id(kind, value), "allowed": True}))
    return EXIT_OK


def command_reindex(hash_set: HashSetTable, args) -> int:
    """The snapshot rebuilt from the whole table and signed; a sharp shrink is refused (accept-shrink publishes it). Items that
    cannot be read are left out, each reported, and the rest published (exit 2 then, as for a bad line of a list)."""
    command = args.hashset_command
    bucket = needed(args.snapshot_bucket, command, "--snapshot-bucket", "HASHMATCH_SNAPSHOT_BUCKET")
    key = needed(args.manifest_key, command, "--manifest-key", "HASHMATCH_MANIFEST_KEY_ID")
    accept = Acceptance(args.added_by, args.reason) if command == "accept-shrink" else None
    started = time.perf_counter()
    indexer = SnapshotIndexer(hash_set, SnapshotStore(args.s3, bucket), signer=ManifestSigner(args.kms, key))
    try:
        outcome = indexer.rebuild(accept)
    except ShrinkRefused as refused:
        raise BadInput(command, str(refused)) from None
    manifest = outcome.manifest
    if hash_set.features is None:
        note("no --features-bucket: the local-feature snapshot is left as it was (matchers read the features of references it lacks one by one)")
    for skipped, why in sorted((outcome.skipped or {}).items()):
        report(skipped, f"left out of the snapshot: its items cannot be read ({why})")
    summary = {"sequence": manifest.sequence, "snapshot_frames": manifest.snapshot_frames, "census": manifest.census, "local_feature_snapshot": manifest.features.key if manifest.features else None}
    if accept is not None:
        summary["shrink_accepted"] = manifest.shrink_accepted
    print(json.dumps({**summary, "skipped": len(outcome.skipped or {}), "seconds": round(time.perf_counter() - started, 2)}))
    return EXIT_BAD_INPUT if outcome.skipped else EXIT_OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    stack_option(parser, "--table", "HASHMATCH_HASH_SET_TABLE", "the hash-set table")
    stack_option(parser, "--features-bucket", "HASHMATCH_REFERENCE_FEATURES_BUCKET", "the reference-features bucket, for media references")
    stack_option(parser, "--snapshot-bucket", "HASHMATCH_SNAPSHOT_BUCKET", "the snapshot bucket, for reindex")
    stack_option(parser, "--pictures-bucket", "HASHMATCH_REFERENCE_PICTURES_BUCKET", "the reference-pictures bucket, where a media reference's frames are kept small for reviewers")
    stack_option(parser, "--manifest-key", "HASHMATCH_MANIFEST_KEY_ID", "the key that signs the snapshot's manifest, for reindex (the operators' role may sign with it)")
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
    add_progress_options(imported)
    imported.set_defaults(operation=command_import)

    exported = commands.add_parser("export", help="write the hash-list entries (or some) in a format import and the other tools read")
    exported.add_argument("--format", choices=[str(f) for f in HashListFormat], default=str(HashListFormat.JSON_LINES), help="default jsonl (the only one that keeps every field)")
    exported.add_argument("-o", "--output", help="a file, written whole or not at all (default: standard output); a folder (ending in /) for one file per signal type (hma-csv) or per listed video (vpdq, vpdq-json)")
    exported.add_argument("--source", action="append", help="only this source's entries (repeatable)")
    exported.add_argument("--signal-type", action="append", choices=[*(str(kind) for kind in ListedSignal), TMK_SIGNAL], help="only this signal type (repeatable)")
    exported.add_argument("--video", action="append", help="only this listed video's frames (a vPDQ list's file name, a reference's id; repeatable)")
    exported.add_argument("--references", action="store_true", help="the media references too, each as a listed video of its usable frames (PDQ)")
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

    reindex = commands.add_parser("reindex", help="rebuild the matchers' snapshot from the whole table (a consistent scan), signed; a sharp shrink is refused")
    reindex.set_defaults(operation=command_reindex)

    shrink = commands.add_parser("accept-shrink", help="rebuild and publish the snapshot although the set shrank sharply (the indexer refused it): an operator's decision, kept in the manifest")
    shrink.add_argument("--reason", required=True, help="why the set is meant to be this much smaller (a list withdrawn, a purge)")
    shrink.set_defaults(operation=command_reindex)


def command_hashset(args: argparse.Namespace) -> int:
    import boto3

    table = needed(args.table, f"hashset {args.hashset_command}", "--table", "HASHMATCH_HASH_SET_TABLE")
    session = boto3.session.Session(region_name=args.region)
    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    args.s3 = session.client("s3", **options)
    args.kms = session.client("kms", **options)
    features = ReferenceFeaturesBucket(args.s3, args.features_bucket) if args.features_bucket else None
    args.pictures = ReferencePictures(args.s3, args.pictures_bucket) if args.pictures_bucket else None
    hash_set = HashSetTable(session.resource("dynamodb", **options).Table(table), features)
    return args.operation(hash_set, args)


def main(argv: Sequence[str] | None = None) -> int:
    """`hashmatch admin hashset ARGS` (hashmatch_tools.admin hands them here); exit status as the contract says."""
    parser = CommandParser(prog="hashmatch admin hashset", description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.set_defaults(run=command_hashset)
    return run(parser, list(sys.argv[1:] if argv is None else argv))
