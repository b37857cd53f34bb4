"""Retro-match: when references or hash-list entries are added, find the logged uploads they match and publish each match once.

Started by the hash-set table's change stream (new items), or invoked with
{"references": ["ID", ...]} by an operator (`aws lambda invoke --function-name <stack output
RetroMatchFunctionName> --payload '{"references": ["ID"]}' out.json`; locally LocalRunner.invoke).
"""

from __future__ import annotations

import os
import tempfile
import time

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditTable
from hashmatch.aws.hash_set.table import RESERVED_PREFIX, HashSetTable
from hashmatch.aws.retro_matches import RetroMatchPublisher, download_log, first_day
from hashmatch.upload_log.retro_match import retro_match

settings = config.load(config.RetroMatchSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
dynamodb = boto3.resource("dynamodb")
hash_set = HashSetTable(dynamodb.Table(settings.hash_set_table))
publisher = RetroMatchPublisher(AuditTable(dynamodb.Table(settings.audit_table)), boto3.client("sns"), settings.match_topic_arn, settings.pdq_match_threshold)
# Kept per container: the DuckDB engine's copy of the log (local stack only).
LOG_COPY = os.path.join(tempfile.gettempdir(), "upload-hash-log")


def engine_for(since_day: str):
    if settings.engine == config.RetroMatchEngine.DUCKDB:
        from hashmatch.upload_log.duckdb_engine import DuckDbEngine

        download_log(s3, settings.upload_log_bucket, since_day, LOG_COPY)
        return DuckDbEngine(LOG_COPY)
    from hashmatch.aws.athena import AthenaEngine

    return AthenaEngine(boto3.client("athena"), s3, workgroup=settings.athena_workgroup, database=settings.athena_database, log_bucket=settings.upload_log_bucket)


def added_keys(event: dict) -> list[str]:
    """The references named by the event: a stream batch's new items, or an operator's list."""
    if "references" in event:
        return [str(key) for key in event["references"]]
    keys = {
        record["dynamodb"]["Keys"]["reference_id"]["S"]
        for record in event.get("Records", [])
        if record.get("eventName") == "INSERT" and "reference_id" in record.get("dynamodb", {}).get("Keys", {})
    }
    return sorted(key for key in keys if not key.startswith(RESERVED_PREFIX))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context) -> dict:
    # Any exception fails the batch; a retry runs the same query and publishes only what was not yet published.
    keys = added_keys(event)
    if not keys:
        return {"references": 0, "published": []}
    states = [state for state in hash_set.current(keys).changed.values() if state is not None]
    if not states:
        logger.info("retro-match: nothing to search for", references=keys)
        return {"references": 0, "published": []}
    since_day = first_day(settings.window_days)
    started = time.perf_counter()
    run = retro_match(engine_for(since_day), states, since_day, settings.pdq_match_threshold)
    outcome = publisher.publish(run)
    seconds = round(time.perf_counter() - started, 3)
    metrics.add_metric(name="RetroMatchRuns", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RetroMatchesPublished", unit=MetricUnit.Count, value=len(outcome.published))
    metrics.add_metric(name="RetroMatchSeconds", unit=MetricUnit.Seconds, value=seconds)
    logger.info(
        "retro-match done",
        references=[state.key for state in states],
        since_day=since_day,
        run_id=run.run_id,
        candidates=run.candidates,
        matched=len(run.matches),
        published=outcome.published,
        already_published=outcome.already_published,
        skipped_matched_live=outcome.matched_live,
        skipped_taken_down=outcome.taken_down,
        skipped_exempted=outcome.exempted,
        seconds=seconds,
    )
    return {
        "references": len(states),
        "run_id": run.run_id,
        "candidates": run.candidates,
        "matched": len(run.matches),
        "published": outcome.published,
        "already_published": outcome.already_published,
        "skipped_matched_live": outcome.matched_live,
        "skipped_taken_down": outcome.taken_down,
        "skipped_exempted": outcome.exempted,
    }
