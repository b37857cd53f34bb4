"""`hashmatch admin`: the operators' commands against a deployed (or local) stack: its hash set, references, restores, holds and dead letters.

    hashmatch admin [--endpoint-url URL] [--region R] [--table T] [--features-bucket B] [--snapshot-bucket S] [--manifest-key K]
                    [--audit-table A] [--evidence-bucket E] [--pictures-bucket P] COMMAND ...
      hashset add|import|export|remove|list|stats|allow|reindex|accept-shrink ...   hash-list entries and references (hashmatch_tools.hashset)
      exchange add|list|sync|status|remove|feedback ...   the hash-sharing exchanges (hashmatch_tools.exchanges)
      policy set|list|remove ...                      each source's action and PDQ distance
      flood list|confirm ...                          flood protection's switches to review
      add-reference FILE --label L --source S [--action A] [--reference-id ID]   hash known media here, add it there (its small grey pictures to --pictures-bucket)
      list-references
      remove-reference REFERENCE_ID                   with its frames, local features and pictures
      restore UPLOAD_ID --reason R [--scope upload|bytes] [--url URL]   signed as the stack's RestoreRoleName role
      revoke-exemption SHA256 [--object s3://bucket/key] --reason R --requested-by X
      legal-hold UPLOAD_ID [--off]                   as the stack's EvidenceReaderRoleName role
      close-case UPLOAD_ID --reason R                the evidence may expire once its retention ends (nothing expires before)
      redrive QUEUE_URL [--to URL] [--max N]         a dead-letter queue's messages back to their queue

Each stack resource defaults to its environment variable, named after the stack output it holds
(hashmatch_tools.stack_outputs; `make local-stack` prints the export lines): --table
HASHMATCH_HASH_SET_TABLE, --features-bucket HASHMATCH_REFERENCE_FEATURES_BUCKET, --snapshot-bucket
HASHMATCH_SNAPSHOT_BUCKET, --manifest-key HASHMATCH_MANIFEST_KEY_ID, --audit-table HASHMATCH_AUDIT_TABLE, --evidence-bucket
HASHMATCH_EVIDENCE_BUCKET, --pictures-bucket HASHMATCH_REFERENCE_PICTURES_BUCKET, restore's --url HASHMATCH_RESTORE_URL. A command missing one it needs
says which flag and which variable, in one `hashmatch: error:` line (exit 2), as does a missing
region or credentials or an endpoint that does not answer. --endpoint-url (or AWS_ENDPOINT_URL)
points boto3 at a local stack. `restore` calls the stack's restore URL (RestoreUploadFunctionUrl)
signed with the default credentials, which must be a session of RestoreRoleName.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error

from hashmatch.audit import ExemptionScope
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.errors import MediaError
from hashmatch.uploads import UploadGone
from hashmatch.usecases.take_down import NotQuarantined
from hashmatch.vocabulary import Action
from hashmatch_tools import exchanges, hashset
from hashmatch_tools.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, CommandParser, needed, note, reason_of, report, run, stack_option
from hashmatch_tools.references import add_reference

RESTORE_URL_VARIABLE = "HASHMATCH_RESTORE_URL"
# The commands with parsers of their own, and the admin options each takes too, handed on to it when given before it.
_DELEGATED = {
    "hashset": (lambda argv: hashset.main(argv), ("endpoint_url", "region", "table", "features_bucket", "snapshot_bucket", "pictures_bucket", "manifest_key")),
    "exchange": (lambda argv: exchanges.main(argv), ("endpoint_url", "region", "table")),
    "policy": (lambda argv: exchanges.policy_main(argv), ("endpoint_url", "region")),
    "flood": (lambda argv: exchanges.flood_main(argv), ("endpoint_url", "region")),
}


def restore_through_url(session, args) -> int:
    """POST the restore request to the stack's restore URL, SigV4-signed with the session's credentials (the requester)."""
    from hashmatch_tools.lookup_client import checked_url, post_lookup, region_for

    url = checked_url(needed(args.url, "restore", "--url", RESTORE_URL_VARIABLE), "RestoreUploadFunctionUrl")
    credentials = session.get_credentials()
    if credentials is None:
        raise BadInput("AWS credentials", "none found to sign the restore request with (assume the stack's RestoreRoleName role)")
    region = region_for(url, args.region)
    if not region:
        raise BadInput("AWS region", "none to sign for: give --region (or set AWS_REGION)")
    body = {"upload_id": args.upload_id, "reason": args.reason, "scope": args.scope}
    try:
        status, answer, _ = post_lookup(url, body, credentials.get_frozen_credentials(), region, args.timeout)
    except urllib.error.URLError as error:
        report("restore", f"cannot reach {url}: {error.reason}")
        return EXIT_FAILED
    except (OSError, ValueError) as error:  # a timeout, a dropped connection, an answer that is not JSON
        report("restore", f"no answer from {url}: {reason_of(error)}")
        return EXIT_FAILED
    if status == 200:
        print(json.dumps(answer, indent=2))
        return EXIT_OK
    reason = answer.get("reason") or answer.get("Message") or answer.get("error") or ""
    hint = " (sign as a session of the stack's RestoreRoleName role)" if status == 403 else ""
    report("restore", f"the restore URL answered {status} {answer.get('error', '')}{hint}: {reason}".rstrip(": "))
    return EXIT_BAD_INPUT if 400 <= status < 500 else EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="hashmatch admin", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint other than AWS itself (a local stack; default $AWS_ENDPOINT_URL)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    stack_option(parser, "--table", "HASHMATCH_HASH_SET_TABLE", "the hash-set table")
    stack_option(parser, "--features-bucket", "HASHMATCH_REFERENCE_FEATURES_BUCKET", "the reference-features bucket")
    stack_option(parser, "--snapshot-bucket", "HASHMATCH_SNAPSHOT_BUCKET", "the snapshot bucket, for hashset reindex")
    stack_option(parser, "--manifest-key", "HASHMATCH_MANIFEST_KEY_ID", "the snapshot manifest's signing key, for hashset reindex")
    stack_option(parser, "--audit-table", "HASHMATCH_AUDIT_TABLE", "the audit table")
    stack_option(parser, "--evidence-bucket", "HASHMATCH_EVIDENCE_BUCKET", "the evidence bucket")
    stack_option(parser, "--pictures-bucket", "HASHMATCH_REFERENCE_PICTURES_BUCKET", "the reference-pictures bucket: small pictures of a reference's frames for reviewers")
    commands = parser.add_subparsers(dest="command", required=True)
    helps = {
        "hashset": "hash-list entries and references: add, import, export, remove, list, stats, allow, reindex (hashmatch admin hashset --help)",
        "exchange": "the hash-sharing exchanges: add, list, sync, status, remove, feedback (hashmatch admin exchange --help)",
        "policy": "each source's own action and PDQ distance: set, list, remove (hashmatch admin policy --help)",
        "flood": "flood protection's switches to review: list, confirm (hashmatch admin flood --help)",
    }
    for name, help in helps.items():
        commands.add_parser(name, help=help, add_help=False).add_argument("rest", nargs=argparse.REMAINDER, help=f"the {name} command and its options")
    add = commands.add_parser("add-reference", help="hash a known media file and add it to the hash set")
    add.add_argument("file")
    add.add_argument("--label", required=True, help="what the reference is, as matches will report it")
    add.add_argument("--source", required=True, help="where it comes from (a hash-sharing list, a referral)")
    add.add_argument("--action", type=Action, choices=list(Action), default=Action.QUARANTINE, help="what a match recommends")
    add.add_argument("--reference-id", help="default: the file's SHA-256")
    commands.add_parser("list-references", help="list the hash set's references")
    remove = commands.add_parser("remove-reference", help="remove a reference, its frames and its local features")
    remove.add_argument("reference_id")
    again = commands.add_parser("redrive", help="move a dead-letter queue's messages back to the queue that dead-lettered them")
    again.add_argument("queue_url", metavar="QUEUE_URL", help="the dead-letter queue (stack outputs *DeadLetterQueueUrl)")
    again.add_argument("--to", help="the queue to move them to (default: the one whose redrive policy names QUEUE_URL)")
    again.add_argument("--max", type=int, help="move at most this many (default: all)")
    hold = commands.add_parser("legal-hold", help="put (or with --off lift) a legal hold on a quarantined upload's evidence")
    hold.add_argument("upload_id")
    hold.add_argument("--off", action="store_true", help="lift the hold")
    close = commands.add_parser("close-case", help="close a quarantined upload's case: its evidence may expire once its retention ends (until then it never expires)")
    close.add_argument("upload_id")
    close.add_argument("--reason", required=True, help="why the case is closed; kept in the audit record")
    back = commands.add_parser("restore", help="put a quarantined upload back after a complaint (signed as the restore role; the signer is the requester)")
    back.add_argument("upload_id")
    back.add_argument("--reason", required=True, help="why (the complaint and the decision); kept in the audit records")
    back.add_argument(
        "--scope",
        choices=[ExemptionScope.UPLOAD.value, ExemptionScope.BYTES.value],
        default=ExemptionScope.UPLOAD.value,
        help="what the exemption from matching covers: these bytes at this upload's key only (upload, the default) or anywhere, by anyone (bytes: content judged lawful); it lasts the stack's RestoreExemptionDays",
    )
    stack_option(back, "--url", RESTORE_URL_VARIABLE, "the restore URL")
    back.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the answer (default 90; the function may take 60)")
    revoke = commands.add_parser("revoke-exemption", help="withdraw the exemption of a restored upload's bytes: their next match is published again")
    revoke.add_argument("sha256", help="the bytes' SHA-256 (the restore record's sha256)")
    revoke.add_argument("--object", metavar="S3_URI", help="for an upload-scoped exemption: s3://bucket/key, the restored upload's (its restore record's exemption id names it)")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--requested-by", required=True)
    parser.set_defaults(run=command_admin)
    return parser


def command_admin(args: argparse.Namespace) -> int:
    import boto3

    if args.command in _DELEGATED:
        # Options given before the command are handed on; those after it are its parser's own.
        delegate, options = _DELEGATED[args.command]
        given = [(f"--{name.replace('_', '-')}", getattr(args, name)) for name in options]
        return delegate([part for flag, value in given if value for part in (flag, value)] + args.rest)
    session = boto3.session.Session(region_name=args.region)
    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}

    if args.command == "redrive":
        from hashmatch_tools.redrive import NotRedrivable, print_progress, redrive

        try:
            done = redrive(session.client("sqs", **options), args.queue_url, args.to, args.max, print_progress)
        except NotRedrivable as error:
            raise BadInput("redrive", reason_of(error)) from None
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(json.dumps({"to": done.source, "moved": done.moved, "failed": done.failed}))
        return EXIT_OK if not done.failed else EXIT_FAILED
    if args.command == "restore":
        return restore_through_url(session, args)
    if args.command == "legal-hold":
        from hashmatch.usecases.take_down import legal_hold

        table = needed(args.audit_table, "legal-hold", "--audit-table", "HASHMATCH_AUDIT_TABLE")
        bucket = needed(args.evidence_bucket, "legal-hold", "--evidence-bucket", "HASHMATCH_EVIDENCE_BUCKET")
        audit = AuditTable(session.resource("dynamodb", **options).Table(table))
        quarantine = Quarantine(session.client("s3", **options), bucket)
        try:
            print(json.dumps(legal_hold(args.upload_id, not args.off, quarantine, audit)))
        except (NotQuarantined, UploadGone) as error:
            raise BadInput("legal-hold", reason_of(error)) from None
        return EXIT_OK
    if args.command == "close-case":
        from hashmatch.usecases.take_down import close_case

        table = needed(args.audit_table, "close-case", "--audit-table", "HASHMATCH_AUDIT_TABLE")
        bucket = needed(args.evidence_bucket, "close-case", "--evidence-bucket", "HASHMATCH_EVIDENCE_BUCKET")
        audit = AuditTable(session.resource("dynamodb", **options).Table(table))
        # Who closed it is whose credentials tagged the evidence: this command writes the audit table and the tag directly.
        caller = session.client("sts", **options).get_caller_identity()["Arn"]
        try:
            print(json.dumps(close_case(args.upload_id, args.reason, caller, Quarantine(session.client("s3", **options), bucket), audit)))
        except (NotQuarantined, UploadGone) as error:
            raise BadInput("close-case", reason_of(error)) from None
        return EXIT_OK
    if args.command == "revoke-exemption":
        table = needed(args.audit_table, "revoke-exemption", "--audit-table", "HASHMATCH_AUDIT_TABLE")
        bucket = key = None
        if args.object:
            bucket, _, key = args.object.removeprefix("s3://").partition("/")
            if not (args.object.startswith("s3://") and bucket and key):
                raise BadInput("--object", f"must be s3://bucket/key, not {args.object!r}")
        audit = AuditTable(session.resource("dynamodb", **options).Table(table))
        place = f" at {args.object}" if args.object else ""
        if audit.scoped_exemption(args.sha256, bucket, key) is None:
            raise BadInput("revoke-exemption", f"no exemption in force for {args.sha256}{place}")
        # Whose credentials revoked it, beside whom the operator names: this command writes the audit table directly.
        caller = session.client("sts", **options).get_caller_identity()["Arn"]
        audit.revoke_exemption(args.sha256, bucket=bucket, key=key, reason=args.reason, requested_by=args.requested_by, revoked_by=caller)
        print(json.dumps({"sha256": args.sha256, "object": args.object, "revoked": True}))
        return EXIT_OK
    table_name = needed(args.table, args.command, "--table", "HASHMATCH_HASH_SET_TABLE")
    # Adding and removing write the references' local features too.
    bucket = needed(args.features_bucket, args.command, "--features-bucket", "HASHMATCH_REFERENCE_FEATURES_BUCKET") if args.command != "list-references" else None
    table = session.resource("dynamodb", **options).Table(table_name)
    if args.command == "list-references":
        for reference in HashSetTable(table).references():
            print(json.dumps(reference.to_dict()))
        return EXIT_OK
    hash_set = HashSetTable(table, ReferenceFeaturesBucket(session.client("s3", **options), bucket))
    # Small grey pictures of a reference's frames, for reviewers: written when it is added, removed with it.
    pictures = ReferencePictures(session.client("s3", **options), args.pictures_bucket) if args.pictures_bucket else None
    if args.command == "add-reference":
        if pictures is None:
            note("add-reference without --pictures-bucket (HASHMATCH_REFERENCE_PICTURES_BUCKET): reviewers will see no pictures of this reference beside its matches")
        try:
            reference = add_reference(hash_set, args.file, label=args.label, source=args.source, action=args.action, reference_id=args.reference_id, pictures=pictures)
        except MediaError as error:
            raise BadInput(args.file, f"{error.reason}: {reason_of(error)}") from None
        except ValueError as error:  # nothing in it to match on
            raise BadInput(args.file, reason_of(error)) from None
        print(json.dumps(reference.to_dict(), indent=2))
        return EXIT_OK
    if not hash_set.remove_reference(args.reference_id):
        report(args.reference_id, "no reference with this id")
        return EXIT_FAILED
    if pictures is not None:
        pictures.delete(args.reference_id)
    return EXIT_OK


def _delegated_at(argv: list[str]) -> int | None:
    """Where a command with a parser of its own (hashset, exchange, policy, flood) stands in ARGS, when only admin options (each with its value) come before it."""
    position = 0
    while position < len(argv) and argv[position].startswith("-") and argv[position] not in ("-h", "--help"):
        position += 1 if "=" in argv[position] else 2
    return position if position < len(argv) and argv[position] in _DELEGATED else None


def main(argv: list[str] | None = None) -> int:
    """`hashmatch admin ARGS`; exit status and error lines as hashmatch_tools.contract says."""
    argv = list(sys.argv[1:] if argv is None else argv)
    at = _delegated_at(argv)
    if at is not None:
        # argparse hands a REMAINDER that starts with an option back to the parent as unknown:
        # the admin options are parsed here, and everything after `hashset` goes to its parser as it is.
        parser = _parser()
        try:
            args = parser.parse_args(argv[: at + 1])
        except SystemExit as stop:
            return stop.code if isinstance(stop.code, int) else EXIT_BAD_INPUT
        args.rest = argv[at + 1 :]
        return command_admin(args)
    return run(_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
