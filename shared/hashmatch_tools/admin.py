"""Operators' commands against a deployed (or local) stack: add, remove and list references; restore an upload.

    python -m hashmatch_tools.admin --table TABLE --features-bucket BUCKET add-reference FILE --label LABEL --source SOURCE
    python -m hashmatch_tools.admin --table TABLE list-references
    python -m hashmatch_tools.admin --table TABLE --features-bucket BUCKET remove-reference REFERENCE_ID
    python -m hashmatch_tools.admin --audit-table T --evidence-bucket B restore UPLOAD_ID --reason R --requested-by WHO
    python -m hashmatch_tools.admin --table TABLE hashset import LIST [--format F] [--source S]   (and the other
        `hashmatch hashset` commands: add, export, remove, list, stats, allow, reindex)

--endpoint-url (or AWS_ENDPOINT_URL) points boto3 at a local stack.
"""

from __future__ import annotations

import argparse
import json
import sys

from hashmatch.aws.audit import AuditLog
from hashmatch.aws.hash_set import HashSet
from hashmatch.aws.messages import RestoreRequest
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.quarantine import KeyOccupied
from hashmatch.aws.takedown import ExemptionSpent, NotQuarantined, restore
from hashmatch.aws.uploads import UploadGone
from hashmatch.errors import MediaError
from hashmatch_tools import hashset
from hashmatch_tools.matching import hash_reference
from hashmatch.vocabulary import Action


def add_reference(hash_set: HashSet, path: str, *, label: str, source: str, action: Action = Action.QUARANTINE, reference_id: str | None = None):
    """Hash a known media file densely (role "reference": PDQ frames and local features) and add it.

    The hash set stores PDQ (the other imagehash signals are not matched on) and, in its
    reference-features bucket, the local features; this runs where OpenCV is installed.
    """
    hashes = hash_reference(path, extra_signals=())
    return hash_set.add_reference(hashes, label=label, source=source, action=action, reference_id=reference_id)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.admin", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--table", help="the hash-set table name (stack output HashSetTableName)")
    parser.add_argument("--features-bucket", help="the reference-features bucket (stack output ReferenceFeaturesBucketName)")
    parser.add_argument("--audit-table", help="the audit table name (stack output AuditTableName)")
    parser.add_argument("--evidence-bucket", help="the evidence bucket (stack output EvidenceBucketName)")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add-reference", help="hash a known media file and add it to the hash set")
    add.add_argument("file")
    add.add_argument("--label", required=True, help="what the reference is, as matches will report it")
    add.add_argument("--source", required=True, help="where it comes from (a hash-sharing list, a referral)")
    add.add_argument("--action", type=Action, choices=list(Action), default=Action.QUARANTINE, help="what a match recommends")
    add.add_argument("--reference-id", help="default: the file's SHA-256")
    commands.add_parser("list-references", help="list the hash set's references")
    remove = commands.add_parser("remove-reference", help="remove a reference, its frames and its local features")
    remove.add_argument("reference_id")
    shared_lists = commands.add_parser("hashset", help="hash-list entries and references: add, import, export, remove, list, stats, allow, reindex (as `hashmatch hashset`)", add_help=False)
    shared_lists.add_argument("rest", nargs=argparse.REMAINDER, help="`hashmatch hashset`'s command and options")
    again = commands.add_parser("redrive", help="move a dead-letter queue's messages back to the queue that dead-lettered them")
    again.add_argument("queue_url", metavar="QUEUE_URL", help="the dead-letter queue (stack outputs *DeadLetterQueueUrl)")
    again.add_argument("--to", help="the queue to move them to (default: the one whose redrive policy names QUEUE_URL)")
    again.add_argument("--max", type=int, help="move at most this many (default: all)")
    hold = commands.add_parser("legal-hold", help="put (or with --off lift) a legal hold on a quarantined upload's evidence")
    hold.add_argument("upload_id")
    hold.add_argument("--off", action="store_true", help="lift the hold")
    back = commands.add_parser("restore", help="put a quarantined upload back after a complaint")
    back.add_argument("upload_id")
    back.add_argument("--reason", required=True)
    back.add_argument("--requested-by", required=True)
    back.add_argument("--exemption-days", type=int, default=365, help="how long those exact bytes are exempt from matching (0: until revoked; default 365, as the stack's RestoreExemptionDays)")
    revoke = commands.add_parser("revoke-exemption", help="withdraw the exemption of a restored upload's bytes: their next match is published again")
    revoke.add_argument("sha256", help="the bytes' SHA-256 (the restore record's sha256)")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--requested-by", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    import boto3

    args = _parser().parse_args(argv)
    if args.command == "hashset":
        given = [("--endpoint-url", args.endpoint_url), ("--region", args.region), ("--table", args.table), ("--features-bucket", args.features_bucket)]
        return hashset.main([part for flag, value in given if value for part in (flag, value)] + args.rest)
    session = boto3.session.Session(region_name=args.region)
    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    dynamodb = session.resource("dynamodb", **options)

    def need(value, flag):
        if not value:
            raise SystemExit(f"{args.command} needs {flag}")
        return value

    if args.command == "redrive":
        from hashmatch_tools.redrive import NotRedrivable, print_progress, redrive

        try:
            done = redrive(session.client("sqs", **options), args.queue_url, args.to, args.max, print_progress)
        except NotRedrivable as error:
            print(f"redrive: {error}", file=sys.stderr)
            return 2
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(json.dumps({"to": done.source, "moved": done.moved, "failed": done.failed}))
        return 0 if not done.failed else 1
    if args.command == "legal-hold":
        from hashmatch.aws.takedown import legal_hold

        audit = AuditLog(dynamodb.Table(need(args.audit_table, "--audit-table")))
        quarantine = Quarantine(session.client("s3", **options), need(args.evidence_bucket, "--evidence-bucket"))
        try:
            print(json.dumps(legal_hold(args.upload_id, not args.off, quarantine, audit)))
        except (NotQuarantined, UploadGone) as error:
            print(f"legal-hold: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "restore":
        audit = AuditLog(dynamodb.Table(need(args.audit_table, "--audit-table")))
        quarantine = Quarantine(session.client("s3", **options), need(args.evidence_bucket, "--evidence-bucket"))
        request = RestoreRequest(upload_id=args.upload_id, reason=args.reason, requested_by=args.requested_by)
        try:
            print(json.dumps(restore(request, quarantine, audit, args.exemption_days), indent=2, default=str))
        except (NotQuarantined, UploadGone, KeyOccupied, ExemptionSpent) as error:
            print(f"restore: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "revoke-exemption":
        audit = AuditLog(dynamodb.Table(need(args.audit_table, "--audit-table")))
        if audit.exemption(args.sha256) is None:
            print(f"revoke-exemption: no exemption in force for {args.sha256}", file=sys.stderr)
            return 2
        audit.revoke_exemption(args.sha256, reason=args.reason, requested_by=args.requested_by)
        print(json.dumps({"sha256": args.sha256, "revoked": True}))
        return 0
    table = dynamodb.Table(need(args.table, "--table"))
    if args.command == "list-references":
        hash_set = HashSet(table)
    else:
        # Adding and removing write the references' local features too.
        hash_set = HashSet(table, ReferenceFeaturesBucket(session.client("s3", **options), need(args.features_bucket, "--features-bucket")))
    if args.command == "add-reference":
        try:
            reference = add_reference(hash_set, args.file, label=args.label, source=args.source, action=args.action, reference_id=args.reference_id)
        except MediaError as error:
            print(f"{args.file}: {error.reason}: {error}", file=sys.stderr)
            return 2
        except ValueError as error:  # nothing in it to match on
            print(f"{args.file}: {error}", file=sys.stderr)
            return 2
        print(json.dumps(reference.to_dict(), indent=2))
    elif args.command == "list-references":
        for reference in hash_set.references():
            print(json.dumps(reference.to_dict()))
    elif args.command == "remove-reference":
        if not hash_set.remove_reference(args.reference_id):
            print(f"no reference {args.reference_id}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
