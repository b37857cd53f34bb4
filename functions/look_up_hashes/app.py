"""The hash lookup API behind an IAM-authorised function URL: per PDQ, MD5 or SHA-256 hash, does it match, and what to do (usecases/look_up_hashes.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.function_urls import NotAFunctionUrlCall, answer, caller_of, is_function_url_call, json_resolver
from hashmatch.aws.hash_set.live import live_hash_set
from hashmatch.aws.lookup_throttle import LookupThrottle
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.usecases.look_up_hashes import Limits, Looker, LookupOutcome, look_up_hashes

settings = config.load(config.LookUpHashesSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
dynamodb, counted = boto3.resource("dynamodb"), PowertoolsMetrics(metrics)
# The matcher's hash set: the same signed snapshot, changes, threshold and refresh; no local features (a hash lookup never reaches them).
hash_set = live_hash_set(settings, boto3.client("s3"), dynamodb, boto3.client("kms"), counted)
throttle = LookupThrottle(dynamodb.Table(settings.throttle_table))
limits = Limits(settings.lookup_hashes_per_minute, settings.lookup_hashes_per_day, settings.lookup_account_hashes_per_minute)
app = json_resolver("lookup request", logger)
STATUS = {LookupOutcome.ANSWERED: 200, LookupOutcome.BAD_REQUEST: 400, LookupOutcome.FORBIDDEN: 403, LookupOutcome.THROTTLED: 429}


@app.post(".+")
def look_up():
    account = app.lambda_context.invoked_function_arn.split(":")[4]
    looker = Looker(hash_set, throttle, limits, settings.lookup_labels_role_names, account, logger, counted)
    reply = look_up_hashes(caller_of(app), app.current_event.decoded_body, looker)
    return answer(STATUS[reply.outcome], reply.body, reply.headers)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # answers hold hashes and, for the labels roles, labels: never in X-Ray
def lambda_handler(event: dict, context):
    if not is_function_url_call(event):
        # A direct invocation names no signer: the caller (and so labels and budgets) would be whatever the event says.
        metrics.add_metric(name="LookupsForbidden", unit="Count", value=1)
        raise NotAFunctionUrlCall("LookUpHashesFunction takes only signed calls to its function URL (stack output LookUpHashesFunctionUrl)")
    return app.resolve(event, context)
