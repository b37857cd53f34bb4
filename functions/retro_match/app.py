"""Retro-match: when references or hash-list entries are added, find the logged uploads they match and publish each match once.

Started by the hash-set table's change stream (new items), or invoked with {"references": ["ID", ...]} by an
operator (`aws lambda invoke --function-name <stack output RetroMatchFunctionName> --payload '{"references": ["ID"]}'
out.json`; locally LocalRunner.invoke). The decisions are usecases/retro_match.py's.
"""

from __future__ import annotations

import os
import tempfile

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.table import HashSetTable, stream_changes
from hashmatch.aws.match_policy import match_policy
from hashmatch.aws.match_topic import MatchTopic
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.aws.upload_log_bucket import query_engine
from hashmatch.usecases.retro_match import RetroMatcher, retro_match_keys, run_retro_match

settings = config.load(config.RetroMatchSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
s3, dynamodb, sns = boto3.client("s3"), boto3.resource("dynamodb"), boto3.client("sns")
log_copy = os.path.join(tempfile.gettempdir(), "upload-hash-log")  # the DuckDB engine's copy of the log, per container (local stack)
retro = RetroMatcher(
    hash_set=HashSetTable(dynamodb.Table(settings.hash_set_table)), engine_for=lambda since_day: query_engine(settings, s3, since_day, log_copy),
    audit=AuditTable(dynamodb.Table(settings.audit_table)), topic=MatchTopic(sns, settings.match_topic_arn), policy=match_policy(dynamodb, sns, settings),
    pdq_threshold=settings.pdq_match_threshold, window_days=settings.retro_match_window_days, log=logger, metrics=PowertoolsMetrics(metrics),
)


def searched_keys(event: dict) -> list[str]:
    """The items to search for: an operator's list, or what a stream batch added, changed or took off the allow-list."""
    if "references" in event:
        return [str(key) for key in event["references"]]
    return retro_match_keys(stream_changes(event.get("Records", [])))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context) -> dict:
    # Any exception fails the batch; a retry runs the same query and publishes only what was not yet published.
    return run_retro_match(searched_keys(event), retro).to_dict()
