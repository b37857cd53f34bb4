"""The hash lookup API behind an IAM-authorised function URL: per PDQ, MD5 or SHA-256 hash, does it match, and what to do (usecases/look_up_hashes.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.function_urls import answer, caller_of, json_resolver
from hashmatch.aws.hash_set.live import live_hash_set
from hashmatch.aws.lookup_throttle import LookupThrottle
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.usecases.look_up_hashes import Looker, LookupOutcome, look_up_hashes

settings = config.load(config.LookUpHashesSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
dynamodb = boto3.resource("dynamodb")
# The matcher's hash set: the same snapshot, changes, threshold and refresh; no local features (a hash lookup never reaches them).
hash_set = live_hash_set(
    boto3.client("s3"), dynamodb, hash_set_table=settings.hash_set_table, snapshot_bucket=settings.snapshot_bucket,
    pdq_match_threshold=settings.pdq_match_threshold, refresh_seconds=settings.hash_set_refresh_seconds,
)
throttle = LookupThrottle(dynamodb.Table(settings.throttle_table), settings.lookup_hashes_per_minute)
app = json_resolver("lookup request", logger)
STATUS = {LookupOutcome.ANSWERED: 200, LookupOutcome.BAD_REQUEST: 400, LookupOutcome.FORBIDDEN: 403, LookupOutcome.THROTTLED: 429}


@app.post(".+")
def look_up():
    account = app.lambda_context.invoked_function_arn.split(":")[4]
    looker = Looker(hash_set, throttle, settings.lookup_hashes_per_minute, settings.lookup_labels_role_names, account, logger, PowertoolsMetrics(metrics))
    reply = look_up_hashes(caller_of(app), app.current_event.decoded_body, looker)
    return answer(STATUS[reply.outcome], reply.body, reply.headers)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context):
    return app.resolve(event, context)
