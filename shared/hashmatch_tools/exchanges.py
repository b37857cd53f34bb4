"""`hashmatch admin exchange ...`, `policy ...` and `flood ...`: the hash-sharing exchanges, each source's policy, and flood protection, from an operator's shell.

    hashmatch admin exchange [--exchange-table T] [--table HASH_SET_TABLE] [--policy-table P] [--secret-prefix S] COMMAND
      add NAME --kind tat|threatexchange|list --collaboration C [--endpoint URL] [--credentials-file F]
               [--action review|quarantine] [--pdq-distance N] [--disabled]
                                 configure an exchange (its credentials into Secrets Manager, its policy beside it)
      list                       the exchanges, one JSON object a line
      sync [NAME ...]            fetch now, from this shell, as the scheduled function does (all enabled, or the named)
      status [NAME ...]          what each one's last sync did
      remove NAME                its configuration and checkpoint (its entries stay until withdrawn or removed)
      feedback ENTRY (--confirm | --dispute) --reason R [--exchange NAME]
                                 an operator's verdict on a listed hash: recorded here, sent by the next sync where the exchange takes it
    hashmatch admin policy [--policy-table P] set SOURCE [--action A] [--pdq-distance N] | list | remove SOURCE
    hashmatch admin flood [--policy-table P] list | confirm KEY --reason R

The tables default to HASHMATCH_EXCHANGE_TABLE, HASHMATCH_HASH_SET_TABLE and HASHMATCH_MATCH_POLICY_TABLE,
the secrets' prefix to HASHMATCH_EXCHANGE_SECRET_PREFIX (the stack outputs ExchangeTableName,
HashSetTableName, MatchPolicyTableName and ExchangeSecretPrefix; hashmatch_tools.stack_outputs).
Credentials never go on the command line: --credentials-file names a JSON file ({"username", "password"}
for Tech Against Terrorism, {"api_token"} for ThreatExchange, {"headers": {...}} for a list), or a
file holding `user:password` (TAT) or the token (ThreatExchange).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from hashmatch.exchanges.model import ExchangeConfig, ExchangeKind, Feedback
from hashmatch.vocabulary import Action
from hashmatch_tools.contract import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, BadInput, CommandParser, needed, reason_of, run, stack_option

EXIT_NOT_FOUND = 1


class _Printing:
    """The sync's log, as an operator's shell shows it: its lines on stderr."""

    def info(self, message: str, **fields) -> None:
        print(f"hashmatch: {message}: {json.dumps(fields, default=str)}", file=sys.stderr)

    warning = error = info


def _session(args):
    import boto3

    session = boto3.session.Session(region_name=args.region)
    options = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    return session, options


def _exchange_table(args):
    from hashmatch.aws.exchanges import ExchangeTable

    session, options = _session(args)
    return ExchangeTable(session.resource("dynamodb", **options).Table(needed(args.exchange_table, f"exchange {args.exchange_command}", "--exchange-table", "HASHMATCH_EXCHANGE_TABLE")))


def _policy_table(args, command: str):
    from hashmatch.aws.match_policy import MatchPolicyTable

    session, options = _session(args)
    return MatchPolicyTable(session.resource("dynamodb", **options).Table(needed(args.policy_table, command, "--policy-table", "HASHMATCH_MATCH_POLICY_TABLE")))


def _credentials(path: str, kind: ExchangeKind) -> dict:
    try:
        text = Path(path).read_text().strip()
    except OSError as error:
        raise BadInput(path, reason_of(error)) from None
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise BadInput(path, f"not valid JSON ({error.msg})") from None
    if kind is ExchangeKind.TAT and ":" in text:
        username, _, password = text.partition(":")
        return {"username": username, "password": password}
    if kind is ExchangeKind.THREATEXCHANGE:
        return {"api_token": text}
    raise BadInput(path, "credentials are a JSON object (or user:password for tat, the access token for threatexchange)")


def pdq_distance(text: str) -> int:
    from hashmatch_tools.offline import pdq_threshold

    return pdq_threshold(text)


# ---------------------------------------------------------------- exchange


def command_add(args) -> int:
    from hashmatch.aws.exchanges import ExchangeSecrets

    kind = ExchangeKind(args.kind)
    secret = None
    if args.credentials_file:
        session, options = _session(args)
        prefix = needed(args.secret_prefix, "exchange add --credentials-file", "--secret-prefix", "HASHMATCH_EXCHANGE_SECRET_PREFIX")
        secret = ExchangeSecrets(session.client("secretsmanager", **options), prefix).store(args.name, _credentials(args.credentials_file, kind))
    try:
        config = ExchangeConfig(args.name, kind, args.collaboration, endpoint=args.endpoint, secret=secret, action=args.action, enabled=not args.disabled)
    except ValueError as error:
        raise BadInput("exchange add", reason_of(error)) from None
    _exchange_table(args).add(config, args.added_by)
    if args.pdq_distance is not None:
        from hashmatch.usecases.match_policy import SourcePolicy

        _policy_table(args, "exchange add --pdq-distance").set_policy(SourcePolicy(config.name, pdq_distance=args.pdq_distance), args.added_by)
    print(json.dumps(config.to_dict()))
    return EXIT_OK


def command_list(args) -> int:
    for config in _exchange_table(args).exchanges():
        print(json.dumps(config.to_dict()))
    return EXIT_OK


def command_status(args) -> int:
    table = _exchange_table(args)
    names = args.names or [config.name for config in table.exchanges()]
    missing = [name for name in names if table.exchange(name) is None]
    if missing:
        raise BadInput("exchange status", f"no exchange named {', '.join(missing)}")
    for name in names:
        print(json.dumps({"exchange": name, "checkpoint": table.checkpoint(name), "last_sync": table.status(name), "feedback": table.feedback(name)}, default=str))
    return EXIT_OK


def command_sync(args) -> int:
    from hashmatch.aws.exchanges import exchange_syncer
    from hashmatch.usecases.ports import NoMetrics
    from hashmatch.usecases.sync_exchanges import sync_exchanges

    session, options = _session(args)
    syncer = exchange_syncer(
        session.resource("dynamodb", **options),
        session.client("secretsmanager", **options),
        exchange_table=needed(args.exchange_table, "exchange sync", "--exchange-table", "HASHMATCH_EXCHANGE_TABLE"),
        hash_set_table=needed(args.table, "exchange sync", "--table", "HASHMATCH_HASH_SET_TABLE"),
        secret_prefix=args.secret_prefix or "",
        log=_Printing(),
        metrics=NoMetrics(),
    )
    try:
        outcomes = sync_exchanges(syncer, args.names or None)
    except KeyError as error:
        raise BadInput("exchange sync", reason_of(error).strip("'\"")) from None
    for outcome in outcomes:
        print(json.dumps(outcome.to_dict()))
    return EXIT_FAILED if any(outcome.status == "failed" for outcome in outcomes) else EXIT_OK


def command_remove(args) -> int:
    if not _exchange_table(args).remove(args.name):
        raise BadInput(args.name, "no exchange of that name")
    print(json.dumps({"exchange": args.name, "removed": True}))
    return EXIT_OK


def command_feedback(args) -> int:
    """Record the verdict with every configured exchange that lists the hash (or the one named), pending the next sync."""
    from boto3.dynamodb.conditions import Key

    from hashmatch.aws.dynamo import from_item, items
    from hashmatch.aws.hash_set.entries import PROVENANCE_PREFIX, is_entry_id

    if not is_entry_id(args.entry):
        raise BadInput(args.entry, "an entry id: pdq:<hex>, md5:<hex> or sha256:<hex> (hashmatch admin hashset list shows them)")
    session, options = _session(args)
    hash_set = session.resource("dynamodb", **options).Table(needed(args.table, "exchange feedback", "--table", "HASHMATCH_HASH_SET_TABLE"))
    table = _exchange_table(args)
    names = {config.name for config in table.exchanges()} if not args.exchange else {args.exchange}
    provenances = [from_item(item) for item in items(hash_set, "query", KeyConditionExpression=Key("reference_id").eq(args.entry), ConsistentRead=True) if item["item"].startswith(PROVENANCE_PREFIX)]
    listed = [p for p in provenances if p.get("source") in names]
    if not listed:
        raise BadInput(args.entry, f"no exchange {'named ' + args.exchange + ' ' if args.exchange else ''}lists this entry (its sources: {', '.join(sorted({p['source'] for p in provenances})) or 'none'})")
    matches = _policy_table(args, "exchange feedback").uploads_matched(args.entry) if args.policy_table else 0
    feedback = Feedback.CONFIRM if args.confirm else Feedback.DISPUTE
    for provenance in listed:
        record = table.give_feedback(provenance["source"], args.entry, feedback, reason=args.reason, given_by=args.added_by, provenance=provenance.get("exchange", {}), matches=matches)
        print(json.dumps({"exchange": provenance["source"], **record}, default=str))
    return EXIT_OK


def exchange_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="hashmatch admin exchange", description="the hash-sharing exchanges: add, list, sync, status, remove, feedback")
    _common(parser)
    stack_option(parser, "--exchange-table", "HASHMATCH_EXCHANGE_TABLE", "the exchanges' table")
    stack_option(parser, "--table", "HASHMATCH_HASH_SET_TABLE", "the hash-set table (sync, feedback)")
    stack_option(parser, "--secret-prefix", "HASHMATCH_EXCHANGE_SECRET_PREFIX", "where the exchanges' secrets are (add --credentials-file)")
    commands = parser.add_subparsers(dest="exchange_command", required=True)
    add = commands.add_parser("add", help="configure an exchange (again: replace its configuration)")
    add.add_argument("name", metavar="NAME", help="the source its entries carry (letters, digits, . _ -)")
    add.add_argument("--kind", required=True, choices=[str(kind) for kind in ExchangeKind])
    add.add_argument("--collaboration", required=True, help="what is fetched: a ThreatExchange privacy group id, `all` for TAT's list, a list's URL or path")
    add.add_argument("--endpoint", help="a base URL in place of the exchange's public one")
    add.add_argument("--credentials-file", help="its credentials (stored in Secrets Manager, never in the table)")
    add.add_argument("--action", type=Action, choices=list(Action), default=Action.REVIEW, help="what its matches recommend (default review: third-party lists bring false positives)")
    add.add_argument("--pdq-distance", type=pdq_distance, help="its own PDQ distance, 0 to 31 (set as its source's policy)")
    add.add_argument("--disabled", action="store_true", help="configured, but not synced on the schedule")
    add.set_defaults(operation=command_add)
    commands.add_parser("list", help="the exchanges").set_defaults(operation=command_list)
    sync = commands.add_parser("sync", help="fetch now, from this shell (every enabled exchange, or the named)")
    sync.add_argument("names", nargs="*", metavar="NAME")
    sync.set_defaults(operation=command_sync)
    status = commands.add_parser("status", help="each exchange's checkpoint, last sync and feedback")
    status.add_argument("names", nargs="*", metavar="NAME")
    status.set_defaults(operation=command_status)
    remove = commands.add_parser("remove", help="forget an exchange (its entries stay in the hash set)")
    remove.add_argument("name", metavar="NAME")
    remove.set_defaults(operation=command_remove)
    feedback = commands.add_parser("feedback", help="confirm or dispute a listed hash: recorded, and sent where the exchange takes it")
    feedback.add_argument("entry", metavar="ENTRY", help="the entry id (pdq:<hex>, md5:<hex>, sha256:<hex>)")
    verdict = feedback.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--confirm", action="store_true", help="the hash is what the list says")
    verdict.add_argument("--dispute", action="store_true", help="it is not (a false positive)")
    feedback.add_argument("--reason", required=True)
    feedback.add_argument("--exchange", help="only this exchange's provenance (default: every exchange listing it)")
    feedback.set_defaults(operation=command_feedback)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL"), help="an AWS endpoint other than AWS itself (a local stack)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--added-by", default=getpass.getuser(), help="who is acting (default: your user name)")
    stack_option(parser, "--policy-table", "HASHMATCH_MATCH_POLICY_TABLE", "the match-policy table (sources' policies, flood protection; feedback's match counts)")


# ---------------------------------------------------------------- policy and flood


def command_policy_set(args) -> int:
    from hashmatch.usecases.match_policy import SourcePolicy

    if args.action is None and args.pdq_distance is None:
        raise BadInput("policy set", "give --action and/or --pdq-distance")
    policy = SourcePolicy(args.source, args.action, args.pdq_distance)
    _policy_table(args, "policy set").set_policy(policy, args.added_by)
    print(json.dumps({"source": policy.source, "action": str(policy.action) if policy.action else None, "pdq_distance": policy.pdq_distance}))
    return EXIT_OK


def command_policy_list(args) -> int:
    for policy in _policy_table(args, "policy list").policies():
        print(json.dumps({"source": policy.source, "action": str(policy.action) if policy.action else None, "pdq_distance": policy.pdq_distance}))
    return EXIT_OK


def command_policy_remove(args) -> int:
    if not _policy_table(args, "policy remove").remove_policy(args.source):
        print(json.dumps({"source": args.source, "removed": False}))
        return EXIT_NOT_FOUND
    print(json.dumps({"source": args.source, "removed": True}))
    return EXIT_OK


def policy_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="hashmatch admin policy", description="each source's own action and PDQ distance (an exchange, an imported list, references' source)")
    _common(parser)
    commands = parser.add_subparsers(dest="policy_command", required=True)
    put = commands.add_parser("set", help="a source's action and/or PDQ distance (what is not given is as its entries were stored / the deployment's threshold)")
    put.add_argument("source", metavar="SOURCE")
    put.add_argument("--action", type=Action, choices=list(Action))
    put.add_argument("--pdq-distance", type=pdq_distance, help="0 to 31 PDQ bits")
    put.set_defaults(operation=command_policy_set)
    commands.add_parser("list", help="the sources' policies").set_defaults(operation=command_policy_list)
    remove = commands.add_parser("remove", help="a source back to the deployment's defaults")
    remove.add_argument("source", metavar="SOURCE")
    remove.set_defaults(operation=command_policy_remove)
    return parser


def command_flood_list(args) -> int:
    for flood in _policy_table(args, "flood list").floods():
        print(json.dumps({"state": "confirmed" if flood.get("confirmed_by") else "in review", **flood}, default=str))
    return EXIT_OK


def command_flood_confirm(args) -> int:
    if not _policy_table(args, "flood confirm").confirm(args.key, args.added_by, args.reason):
        raise BadInput(args.key, "not switched by flood protection (hashmatch admin flood list)")
    print(json.dumps({"key": args.key, "confirmed_by": args.added_by, "reason": args.reason}))
    return EXIT_OK


def flood_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="hashmatch admin flood", description="flood protection: the known items switched to review, and confirming them")
    _common(parser)
    commands = parser.add_subparsers(dest="flood_command", required=True)
    commands.add_parser("list", help="every item switched to review, with why (confirmed ones too)").set_defaults(operation=command_flood_list)
    confirm = commands.add_parser("confirm", help="the item is right: its matches recommend its own action again, and it is not switched again")
    confirm.add_argument("key", metavar="KEY", help="the item's key (pdq:<hex>, a reference id)")
    confirm.add_argument("--reason", required=True)
    confirm.set_defaults(operation=command_flood_confirm)
    return parser


def _main(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    parser.set_defaults(run=lambda args: args.operation(args))
    return run(parser, list(sys.argv[1:] if argv is None else argv))


def main(argv: Sequence[str] | None = None) -> int:
    """`hashmatch admin exchange ARGS`."""
    return _main(exchange_parser(), argv)


def policy_main(argv: Sequence[str] | None = None) -> int:
    return _main(policy_parser(), argv)


def flood_main(argv: Sequence[str] | None = None) -> int:
    return _main(flood_parser(), argv)


__all__ = ["EXIT_BAD_INPUT", "flood_main", "main", "policy_main"]
