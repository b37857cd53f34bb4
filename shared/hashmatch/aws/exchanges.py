"""The exchanges' DynamoDB table (configuration, checkpoints, status, list members, feedback) and their credentials in Secrets Manager.

Table layout (partition key `exchange`, sort key `item`):
  exchange="#exchanges", item=<name>          an exchange's configuration (model.ExchangeConfig), who added it, when
  exchange=<name>, item="checkpoint"          where its next fetch starts (the exchange's own checkpoint, JSON text)
  exchange=<name>, item="status"              what its last sync did (SyncOutcome)
  exchange=<name>, item="member#<signal>#<hash>#<source id>"   what a list exchange held after its last fetch
  exchange=<name>, item="feedback#<entry id>#<time>"           an operator's verdict on one of its hashes: pending, sent, or recorded here only
Names start with a letter or digit, so "#exchanges" is never an exchange's.

Credentials: one secret per exchange, named `<prefix><name>` (the stack's `<stack name>/exchanges/`),
its value JSON: {"username", "password"} for Tech Against Terrorism, {"api_token"} for ThreatExchange,
optionally {"headers": {...}} for a list. The sync function may read only secrets under the prefix.
"""

from __future__ import annotations

import json
from typing import Iterable

from boto3.dynamodb.conditions import Attr, Key

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.clock import now
from hashmatch.exchanges.connect import connect
from hashmatch.exchanges.model import ExchangeConfig, Feedback
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.usecases.sync_exchanges import PendingFeedback, SyncOutcome, Syncer

REGISTRY = "#exchanges"
CHECKPOINT_ITEM = "checkpoint"
STATUS_ITEM = "status"
MEMBER_PREFIX = "member#"
FEEDBACK_PREFIX = "feedback#"


class ExchangeTable:
    """The exchanges' table (a boto3 Table resource): the sync's ExchangeStore, and what the operators' commands read and write."""

    def __init__(self, table):
        self.table = table

    # ------------------------------------------------------------ configuration (hashmatch admin exchange add|list)

    def add(self, config: ExchangeConfig, added_by: str) -> None:
        self.table.put_item(Item=to_item({"exchange": REGISTRY, "item": config.name, **config.to_dict(), "added_at": now(), "added_by": added_by}))

    def remove(self, name: str) -> bool:
        """Its configuration, checkpoint, status and list members (its entries stay in the hash set until withdrawn)."""
        answer = self.table.delete_item(Key={"exchange": REGISTRY, "item": name}, ReturnValues="ALL_OLD")
        with self.table.batch_writer() as batch:
            for item in items(self.table, "query", KeyConditionExpression=Key("exchange").eq(name), ProjectionExpression="exchange, #item", ExpressionAttributeNames={"#item": "item"}):
                if not item["item"].startswith(FEEDBACK_PREFIX):  # feedback is a record of what operators said: kept
                    batch.delete_item(Key={"exchange": name, "item": item["item"]})
        return "Attributes" in answer

    def exchanges(self) -> list[ExchangeConfig]:
        found = items(self.table, "query", KeyConditionExpression=Key("exchange").eq(REGISTRY), ConsistentRead=True)
        return [ExchangeConfig.from_dict(from_item(item)) for item in found]

    def exchange(self, name: str) -> ExchangeConfig | None:
        item = self.table.get_item(Key={"exchange": REGISTRY, "item": name}, ConsistentRead=True).get("Item")
        return ExchangeConfig.from_dict(from_item(item)) if item else None

    # ------------------------------------------------------------ the sync's state

    def checkpoint(self, name: str) -> str | None:
        item = self.table.get_item(Key={"exchange": name, "item": CHECKPOINT_ITEM}, ConsistentRead=True).get("Item")
        return item.get("checkpoint") if item else None

    def save_checkpoint(self, name: str, checkpoint: str | None) -> None:
        self.table.put_item(Item=to_item({"exchange": name, "item": CHECKPOINT_ITEM, "checkpoint": checkpoint, "saved_at": now()}))

    def members(self, name: str) -> set[tuple[str, str, str]]:
        found = items(self.table, "query", KeyConditionExpression=Key("exchange").eq(name) & Key("item").begins_with(MEMBER_PREFIX), ProjectionExpression="#item", ExpressionAttributeNames={"#item": "item"}, ConsistentRead=True)
        return {tuple(item["item"][len(MEMBER_PREFIX) :].split("#", 2)) for item in found}  # type: ignore[misc]

    def save_members(self, name: str, added: Iterable[tuple[str, str, str]], removed: Iterable[tuple[str, str, str]]) -> None:
        with self.table.batch_writer() as batch:
            for member in added:
                batch.put_item(Item={"exchange": name, "item": MEMBER_PREFIX + "#".join(member)})
            for member in removed:
                batch.delete_item(Key={"exchange": name, "item": MEMBER_PREFIX + "#".join(member)})

    def record_run(self, name: str, outcome: SyncOutcome) -> None:
        self.table.put_item(Item=to_item({"exchange": name, "item": STATUS_ITEM, **outcome.to_dict()}))

    def status(self, name: str) -> dict | None:
        item = self.table.get_item(Key={"exchange": name, "item": STATUS_ITEM}, ConsistentRead=True).get("Item")
        return {key: value for key, value in from_item(item).items() if key not in ("exchange", "item")} if item else None

    # ------------------------------------------------------------ feedback

    def give_feedback(self, name: str, entry_id: str, feedback: Feedback, *, reason: str, given_by: str, provenance: dict, matches: int) -> dict:
        """Record an operator's verdict (pending until the sync sends it, or records that the exchange takes none)."""
        given_at = now()
        record = {"entry_id": entry_id, "feedback": str(Feedback(feedback)), "reason": reason, "given_by": given_by, "given_at": given_at, "provenance": provenance, "matches": matches, "state": "pending"}
        self.table.put_item(Item=to_item({"exchange": name, "item": f"{FEEDBACK_PREFIX}{entry_id}#{given_at}", **record}))
        return record

    def feedback(self, name: str) -> list[dict]:
        found = items(self.table, "query", KeyConditionExpression=Key("exchange").eq(name) & Key("item").begins_with(FEEDBACK_PREFIX), ConsistentRead=True)
        return [{key: value for key, value in from_item(item).items() if key != "exchange"} for item in found]

    def pending_feedback(self, name: str) -> list[PendingFeedback]:
        return [
            PendingFeedback(record["item"], record["entry_id"], Feedback(record["feedback"]), record.get("provenance", {}), int(record.get("matches", 0)))
            for record in self.feedback(name)
            if record.get("state") == "pending"
        ]

    def feedback_done(self, name: str, pending: PendingFeedback, result: str, sent: bool) -> None:
        self.table.update_item(
            Key={"exchange": name, "item": pending.key},
            UpdateExpression="SET #state = :state, #result = :result, done_at = :at",
            ConditionExpression=Attr("state").eq("pending"),
            ExpressionAttributeNames={"#state": "state", "#result": "result"},
            ExpressionAttributeValues={":state": "sent" if sent else "recorded", ":result": result, ":at": now()},
        )


class ExchangeSecrets:
    """Each exchange's credentials, from Secrets Manager (a boto3 client), named `<prefix><exchange name>`."""

    def __init__(self, client, prefix: str):
        self.client = client
        self.prefix = prefix

    def name_for(self, exchange: str) -> str:
        return f"{self.prefix}{exchange}"

    def credentials(self, config: ExchangeConfig) -> dict:
        if not config.secret:
            return {}
        value = json.loads(self.client.get_secret_value(SecretId=config.secret)["SecretString"])
        if not isinstance(value, dict):
            raise ValueError(f"{config.name}: its secret is not a JSON object")
        return value

    def store(self, exchange: str, credentials: dict) -> str:
        """Create or replace the exchange's secret (an operator's command); returns its name."""
        name = self.name_for(exchange)
        text = json.dumps(credentials)
        try:
            self.client.create_secret(Name=name, SecretString=text, Description=f"hashmatch exchange {exchange}: its credentials")
        except self.client.exceptions.ResourceExistsException:
            self.client.put_secret_value(SecretId=name, SecretString=text)
        return name


def exchange_syncer(dynamodb, secretsmanager, *, exchange_table: str, hash_set_table: str, secret_prefix: str, log: Log, metrics: Metrics) -> Syncer:
    """A sync over these tables and secrets (the function's, and `hashmatch admin exchange sync`'s)."""
    from hashmatch.aws.hash_set.exchange_entries import ExchangeEntries
    from hashmatch.aws.hash_set.version import bump_version

    table = dynamodb.Table(hash_set_table)
    secrets = ExchangeSecrets(secretsmanager, secret_prefix)
    return Syncer(
        store=ExchangeTable(dynamodb.Table(exchange_table)),
        entries=ExchangeEntries(table, lambda: bump_version(table)),
        client_for=lambda config: connect(config, secrets.credentials(config)),
        log=log,
        metrics=metrics,
    )
