"""The match-policy table: each source's policy (action, PDQ distance), and flood protection's counters and switches; the flood alarm.

Table layout (partition key `key`, sort key `item`):
  key="#sources", item=<source>            a source's policy: action, pdq_distance, set_by, set_at
  key=<item key>, item="window#<start>"     the uploads (a short digest of each id, a string set) one known
                                            item matched in the window starting at <start> (epoch seconds);
                                            expires a day after the window (TTL, expires_at)
  key=<item key>, item="matches"            every upload it matched, counted once each (what feedback reports)
  key=<item key>, item="flood"              its switch to review: when, at how many matches, why; and who confirmed it
  key="#floods", item=<item key>            the switched items, for `hashmatch admin flood list`
Item keys are the hash set's (`pdq:<hex>`, a reference id), never starting with "#".

A matcher reads the sources' policies once per POLICY_REFRESH_SECONDS (one Query). Counting costs
a matched upload one UpdateItem and one GetItem per matched item; unmatched uploads cost nothing.
The alarm: FloodSwitches (the matcher's metric, alarmed in template.yaml) and one notice on the
alarm topic per switch, naming the item, its sources and the counts (no labels, no uploads).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Callable

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from hashmatch.aws.dynamo import from_item, items, to_item
from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.hash_set.snapshot import KnownItem
from hashmatch.usecases.match_policy import FloodLimit, FloodState, FloodSwitch, SourcePolicy
from hashmatch.vocabulary import Action

SOURCES = "#sources"
FLOODS = "#floods"
FLOOD_ITEM = "flood"
MATCHES_ITEM = "matches"
WINDOW_PREFIX = "window#"
POLICY_REFRESH_SECONDS = 30.0
WINDOW_KEPT_SECONDS = 86_400  # a window's counts outlive it by a day (TTL)


def _upload_digest(upload_id: str) -> str:
    """A short stand-in for an upload's id in a window's set: 64 bits, so that a set of thousands fits an item."""
    return hashlib.sha256(upload_id.encode()).hexdigest()[:16]


class MatchPolicyTable:
    """The table (a boto3 Table resource) as the matcher's MatchPolicy and the operators' commands use it."""

    def __init__(self, table, *, flood_limit: FloodLimit | None = None, alarm: Callable[[str, dict], None] | None = None, clock: Clock = SYSTEM_CLOCK, monotonic: Callable[[], float] = time.monotonic):
        self.table = table
        self.flood_limit = flood_limit if flood_limit is not None and flood_limit.matches > 0 and flood_limit.window_minutes > 0 else None
        self.alarm = alarm
        self.clock = clock
        self.monotonic = monotonic
        self._policies: dict[str, SourcePolicy] = {}
        self._read_at = float("-inf")

    # ------------------------------------------------------------ sources' policies

    def source_policy(self, source: str) -> SourcePolicy | None:
        if self.monotonic() - self._read_at >= POLICY_REFRESH_SECONDS:
            self._policies = {policy.source: policy for policy in self.policies()}
            self._read_at = self.monotonic()
        return self._policies.get(source)

    def policies(self) -> list[SourcePolicy]:
        found = items(self.table, "query", KeyConditionExpression=Key("key").eq(SOURCES), ConsistentRead=True)
        return [SourcePolicy(item["item"], Action(item["action"]) if item.get("action") else None, int(item["pdq_distance"]) if item.get("pdq_distance") is not None else None) for item in map(from_item, found)]

    def set_policy(self, policy: SourcePolicy, set_by: str) -> None:
        if policy.pdq_distance is not None and not 0 <= policy.pdq_distance <= 31:
            raise ValueError(f"a PDQ distance is 0 to 31 bits (the index finds matches exactly up to 31), not {policy.pdq_distance}")
        self.table.put_item(Item=to_item({"key": SOURCES, "item": policy.source, "action": str(policy.action) if policy.action else None, "pdq_distance": policy.pdq_distance, "set_by": set_by, "set_at": self.clock.now()}))
        self._read_at = float("-inf")

    def remove_policy(self, source: str) -> bool:
        answer = self.table.delete_item(Key={"key": SOURCES, "item": source}, ReturnValues="ALL_OLD")
        self._read_at = float("-inf")
        return "Attributes" in answer

    # ------------------------------------------------------------ flood protection

    def count_match(self, key: str, upload_id: str) -> FloodState:
        window = self.flood_limit.window_minutes * 60 if self.flood_limit else 3600
        start = int(self.clock.utc().timestamp()) // window * window
        digest = _upload_digest(upload_id)
        answer = self.table.update_item(
            Key={"key": key, "item": f"{WINDOW_PREFIX}{start}"},
            UpdateExpression="ADD uploads :upload SET expires_at = :expires",
            ExpressionAttributeValues={":upload": {digest}, ":expires": start + window + WINDOW_KEPT_SECONDS},
            ReturnValues="ALL_OLD",  # the item before: whether this upload was in it already
        )
        before = set(answer.get("Attributes", {}).get("uploads", set()))
        if digest not in before:
            self.table.update_item(Key={"key": key, "item": MATCHES_ITEM}, UpdateExpression="ADD uploads_matched :one", ExpressionAttributeValues={":one": 1})
        switch = self.table.get_item(Key={"key": key, "item": FLOOD_ITEM}, ConsistentRead=True).get("Item") or {}
        return FloodState(len(before | {digest}), switch.get("switched_at"), switch.get("confirmed_by"))

    def switch(self, switched: FloodSwitch, item: KnownItem) -> bool:
        record = {
            "switched_at": self.clock.now(),
            "matches": switched.matches,
            "limit": switched.limit.matches,
            "window_minutes": switched.limit.window_minutes,
            "source": switched.source,
            "labels": list(item.labels),
            "reason": switched.reason,
            "switched_by_upload": switched.upload_id,
        }
        try:
            self.table.put_item(Item=to_item({"key": switched.key, "item": FLOOD_ITEM, **record}), ConditionExpression="attribute_not_exists(#key)", ExpressionAttributeNames={"#key": "key"})
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False  # switched already, by a matcher running beside this one
            raise
        self.table.put_item(Item=to_item({"key": FLOODS, "item": switched.key, **record}))
        if self.alarm is not None:
            notice = {"key": switched.key, "source": switched.source, "matches": switched.matches, "limit": switched.limit.matches, "window_minutes": switched.limit.window_minutes, "reason": switched.reason, "see": "hashmatch admin flood list"}
            self.alarm(f"hashmatch flood protection: {switched.key[:60]} switched to review", notice)
        return True

    def floods(self) -> list[dict]:
        """Every switched item (confirmed ones too), with why."""
        return [{k: v for k, v in from_item(item).items() if k != "key"} | {"key": item["item"]} for item in items(self.table, "query", KeyConditionExpression=Key("key").eq(FLOODS), ConsistentRead=True)]

    def confirm(self, key: str, confirmed_by: str, reason: str) -> bool:
        """An operator confirms a switched item: its matches recommend its own action again, and it is not switched again."""
        values = {":by": confirmed_by, ":at": self.clock.now(), ":reason": reason}
        update = "SET confirmed_by = :by, confirmed_at = :at, confirm_reason = :reason"
        try:
            self.table.update_item(Key={"key": key, "item": FLOOD_ITEM}, UpdateExpression=update, ConditionExpression="attribute_exists(#key)", ExpressionAttributeNames={"#key": "key"}, ExpressionAttributeValues=values)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        self.table.update_item(Key={"key": FLOODS, "item": key}, UpdateExpression=update, ExpressionAttributeValues=values)
        return True

    def uploads_matched(self, key: str) -> int:
        item = self.table.get_item(Key={"key": key, "item": MATCHES_ITEM}, ConsistentRead=True).get("Item")
        return int(item["uploads_matched"]) if item else 0


def sns_alarm(sns, topic_arn: str) -> Callable[[str, dict], None]:
    """A notice on the alarm topic (the subject cut to SNS's 100 characters)."""
    return lambda subject, notice: sns.publish(TopicArn=topic_arn, Subject=subject[:100], Message=json.dumps(notice))


def match_policy(dynamodb, sns, settings) -> MatchPolicyTable:
    """A function's match policy, from its settings (match_policy_table, flood_matches, flood_window_minutes, alarm_topic_arn)."""
    limit = FloodLimit(settings.flood_matches, settings.flood_window_minutes)
    return MatchPolicyTable(dynamodb.Table(settings.match_policy_table), flood_limit=limit, alarm=sns_alarm(sns, settings.alarm_topic_arn))
