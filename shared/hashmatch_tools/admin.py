"""Operators' commands against a deployed (or local) stack: add, remove and list references; restore an upload.

    python -m hashmatch_tools.admin --table TABLE --features-bucket BUCKET add-reference FILE --label LABEL --source SOURCE
    python -m hashmatch_tools.admin --table TABLE list-references
    python -m hashmatch_tools.admin --table TABLE --features-bucket BUCKET remove-reference REFERENCE_ID
    python -m hashmatch_tools.admin restore UPLOAD_ID --reason R [--scope upload|bytes] [--url URL]   (as the restore role)
    python -m hashmatch_tools.admin --table TABLE hashset import LIST [--format F] [--source S]   (and the other
        `hashmatch hashset` commands: add, export, remove, list, stats, allow, reindex)

--endpoint-url (or AWS_ENDPOINT_URL) points boto3 at a local stack. `restore` calls the stack's restore URL
(RestoreUploadFunctionUrl) signed with the default credentials, which must be a session of RestoreRoleName.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error

from hashmatch.audit import ExemptionScope
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.usecases.take_down import NotQuarantined
from hashmatch.uploads import UploadGone
from hashmatch.errors import MediaError
from hashmatch_tools import hashset
from hashmatch_tools.references import add_reference
from hashmatch.vocabulary import Action

RESTORE_URL_VARIABLE = "HASHMATCH_RESTORE_URL"


def restore_through_url(session, args) -> int:
    """POST the restore request to the stack's restore URL, SigV4-signed with the session's credentials (the requester)."""
    from hashmatch_tools.lookup_client import post_lookup, region_for

    url = args.url or os.environ.get(RESTORE_URL_VARIABLE)
    if not url:
        print(f"restore: no restore URL: give --url or set {RESTORE_URL_VARIABLE} (the stack output RestoreUploadFunctionUrl)", file=sys.stderr)
        return 2
    credentials = session.get_credentials()
    if credentials is None:
        print("restore: no AWS credentials to sign the request with (assume the stack's RestoreRoleName role)", file=sys.stderr)
        return 1
    region = region_for(url, args.region)
    if not region:
        print("restore: no region to sign for: give --region (or set AWS_REGION)", file=sys.stderr)
        return 2
    body = {"upload_id": args.upload_id, "reason": args.reason, "scope": args.scope}
    try:
        status, answer, _ = post_lookup(url, body, credentials.get_frozen_credentials(), region, args.timeout)
    except urllib.error.URLError as error:
        print(f"restore: cannot reach {url}: {error.reason}", file=sys.stderr)
        return 1
    if status == 200:
        print(json.dumps(answer, indent=2))
        return 0
    reason = answer.get("reason") or answer.get("Message") or answer.get("error") or ""
    hint = " (sign as a session of the stack's RestoreRoleName role)" if status == 403 else ""
    print(f"restore: {status} {answer.get('error', '')}{hint}: {reason}".rstrip(": "), file=sys.stderr)
    return 2 if 400 <= status < 500 else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.admin", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--table", help="the hash-set table name (stack output HashSetTableName)")
    parser.add_argument("--features-bucket", help="the reference-features bucket (stack output ReferenceFeaturesBucketName)")
    parser.add_argument("--audit-table", help="the audit table name (stack output AuditTableName)")
    parser.add_argument("--evidence-bucket", help="the evidence bucket (stack output EvidenceBucketName)")
    parser.add_argument(
        "--pictures-bucket",
        default=os.environ.get("HASHMATCH_REFERENCE_PICTURES_BUCKET"),
        help="the reference-pictures bucket: small pictures of a reference's frames for reviewers (stack output ReferencePicturesBucketName; default $HASHMATCH_REFERENCE_PICTURES_BUCKET)",
    )
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
    back = commands.add_parser("restore", help="put a quarantined upload back after a complaint (signed as the restore role; the signer is the requester)")
    back.add_argument("upload_id")
    back.add_argument("--reason", required=True, help="why (the complaint and the decision); kept in the audit records")
    back.add_argument(
        "--scope",
        choices=[scope.value for scope in ExemptionScope],
        default=ExemptionScope.UPLOAD.value,
        help="what the exemption from matching covers: these bytes at this upload's key only (upload, the default) or anywhere, by anyone (bytes: content judged lawful); it lasts the stack's RestoreExemptionDays",
    )
    back.add_argument("--url", help=f"the restore URL (default: ${RESTORE_URL_VARIABLE}, the stack output RestoreUploadFunctionUrl)")
    back.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the answer (default 90; the function may take 60)")
    revoke = commands.add_parser("revoke-exemption", help="withdraw the exemption of a restored upload's bytes: their next match is published again")
    revoke.add_argument("sha256", help="the bytes' SHA-256 (the restore record's sha256)")
    revoke.add_argument("--object", metavar="S3_URI", help="for an upload-scoped exemption: s3://bucket/key, the restored upload's (its restore record's exemption id names it)")
    revoke.add_argument("--reason", required=True)
    revoke.add_argument("--requested-by", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    import boto3

    args = _parser().parse_args(argv)
    if args.command == "hashset":
        given = [("--endpoint-url", args.endpoint_url), ("--region", args.region), ("--table", args.table), ("--features-bucket", args.features_bucket), ("--pictures-bucket", args.pictures_bucket)]
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
        from hashmatch.usecases.take_down import legal_hold

        audit = AuditTable(dynamodb.Table(need(args.audit_table, "--audit-table")))
        quarantine = Quarantine(session.client("s3", **options), need(args.evidence_bucket, "--evidence-bucket"))
        try:
            print(json.dumps(legal_hold(args.upload_id, not args.off, quarantine, audit)))
        except (NotQuarantined, UploadGone) as error:
            print(f"legal-hold: {error}", file=sys.stderr)
            return 2
        return 0
    if args.command == "restore":
        return restore_through_url(session, args)
    if args.command == "revoke-exemption":
        audit = AuditTable(dynamodb.Table(need(args.audit_table, "--audit-table")))
        bucket = key = None
        if args.object:
            bucket, _, key = args.object.removeprefix("s3://").partition("/")
            if not (args.object.startswith("s3://") and bucket and key):
                raise SystemExit(f"revoke-exemption: --object must be s3://bucket/key, not {args.object!r}")
        place = f" at {args.object}" if args.object else ""
        if audit.scoped_exemption(args.sha256, bucket, key) is None:
            print(f"revoke-exemption: no exemption in force for {args.sha256}{place}", file=sys.stderr)
            return 2
        # Whose credentials revoked it, beside whom the operator names: this command writes the audit table directly.
        caller = session.client("sts", **options).get_caller_identity()["Arn"]
        audit.revoke_exemption(args.sha256, bucket=bucket, key=key, reason=args.reason, requested_by=args.requested_by, revoked_by=caller)
        print(json.dumps({"sha256": args.sha256, "object": args.object, "revoked": True}))
        return 0
    table = dynamodb.Table(need(args.table, "--table"))
    if args.command == "list-references":
        hash_set = HashSetTable(table)
    else:
        # Adding and removing write the references' local features too.
        hash_set = HashSetTable(table, ReferenceFeaturesBucket(session.client("s3", **options), need(args.features_bucket, "--features-bucket")))
    pictures = ReferencePictures(session.client("s3", **options), args.pictures_bucket) if args.pictures_bucket else None
    if args.command == "add-reference":
        if pictures is None:
            print("add-reference: no --pictures-bucket: reviewers will see no pictures of this reference beside its matches", file=sys.stderr)
        try:
            reference = add_reference(hash_set, args.file, label=args.label, source=args.source, action=args.action, reference_id=args.reference_id, pictures=pictures)
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
        if pictures is not None:
            pictures.delete(args.reference_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
