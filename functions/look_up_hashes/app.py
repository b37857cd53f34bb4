"""The hash lookup API behind an IAM-authorised function URL: per PDQ, MD5 or SHA-256 hash, does it match the hash set, and what to do."""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source

from hashmatch.aws import settings as config
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set_snapshots import LiveHashSet, SnapshotStore
from hashmatch.aws.lookup_throttle import LookupThrottle, Throttled
from hashmatch.matching.lookup import MAX_HASHES_PER_REQUEST, Caller, LookupRequestError, look_up, parse_request

settings = config.load(config.LookUpHashesSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
dynamodb = boto3.resource("dynamodb")
# The matcher's hash set: the same snapshot and changes from the snapshot bucket, the same PDQ
# threshold and refresh. No reference-features bucket: a hash lookup never reaches local features.
hash_set = LiveHashSet(
    SnapshotStore(boto3.client("s3"), settings.snapshot_bucket),
    HashSetTable(dynamodb.Table(settings.hash_set_table), None, settings.pdq_match_threshold),
    settings.hash_set_refresh_seconds,
)
throttle = LookupThrottle(dynamodb.Table(settings.throttle_table), settings.hashes_per_minute)
# A request larger than a caller's whole minute could never pass: refused as bad instead.
REQUEST_LIMIT = min(MAX_HASHES_PER_REQUEST, settings.hashes_per_minute)


def respond(status: int, body: dict, headers: dict | None = None) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})}, "body": json.dumps(body, separators=(",", ":"))}


def caller_of(event: LambdaFunctionUrlEvent) -> Caller | None:
    """The IAM identity the function URL authenticated; None when there is none (the URL is not AWS_IAM, or a test event)."""
    arn = event.request_context.authorizer.iam.user_arn if event.request_context.get("authorizer") else ""
    try:
        return Caller.from_arn(arn)
    except ValueError:
        return None


@tracer.capture_method
def answer(event: LambdaFunctionUrlEvent, own_account: str) -> dict:
    caller = caller_of(event)
    if caller is None:
        metrics.add_metric(name="LookupsForbidden", unit=MetricUnit.Count, value=1)
        return respond(403, {"error": "forbidden", "reason": "the request carries no IAM identity (sign it with SigV4, service lambda)"})
    if event.request_context.http.method != "POST":
        return respond(405, {"error": "method not allowed", "reason": "POST a JSON lookup request"}, {"Allow": "POST"})
    try:
        request = parse_request(event.decoded_body or "", REQUEST_LIMIT)
    except LookupRequestError as error:
        metrics.add_metric(name="LookupsRefused", unit=MetricUnit.Count, value=1)
        logger.info("bad lookup request", caller=caller.arn, problems=error.problems[:10])
        return respond(400, {"error": "bad request", "reason": str(error)[:2000], "problems": error.problems[:50]})
    try:
        spent = throttle.take(caller.principal, request.size)
    except Throttled as throttled:
        metrics.add_metric(name="LookupsThrottled", unit=MetricUnit.Count, value=1)
        logger.info("lookup throttled", caller=caller.arn, principal=caller.principal, hashes=request.size, limit=throttled.limit)
        return respond(429, {"error": "too many hashes", "reason": str(throttled), "retry_after": throttled.retry_after}, {"Retry-After": str(throttled.retry_after)})
    loaded = hash_set.get()
    found = look_up(request, loaded.matcher, loaded.reference)
    with_labels = caller.may_see_labels(own_account, settings.labels_role_names)
    matched = sum(answer.match for answers in found.answers.values() for answer in answers)
    metrics.add_metric(name="HashesLookedUp", unit=MetricUnit.Count, value=request.size)
    metrics.add_metric(name="HashesMatched", unit=MetricUnit.Count, value=matched)
    # Who asked about what is kept in the log: the hashes and the caller, never labels.
    logger.info(
        "lookup",
        caller=caller.arn,
        principal=caller.principal,
        labels_shown=with_labels,
        hashes=request.size,
        matched=matched,
        spent_this_minute=spent.hashes,
        hash_set_version=loaded.version,
        hash_set_source=hash_set.source,
    )
    return respond(200, found.to_dict(with_labels))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=LambdaFunctionUrlEvent)
def lambda_handler(event: LambdaFunctionUrlEvent, context):
    try:
        return answer(event, context.invoked_function_arn.split(":")[4])
    except Exception:
        # A caller gets the request id to quote, never a stack trace; the log has it.
        logger.exception("lookup failed")
        return respond(500, {"error": "internal error", "request_id": context.aws_request_id})
