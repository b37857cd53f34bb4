"""Reinstate a quarantined upload after a complaint: a SigV4-signed call to the function's URL by the restore role."""

from __future__ import annotations

import json
import re
from typing import NamedTuple

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent, event_source
from pydantic import ValidationError

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditTable
from hashmatch.aws.messages import RestoreRequest
from hashmatch.aws.quarantine import KeyOccupied, Quarantine
from hashmatch.aws.takedown import AlsoMatched, ExemptionSpent, NotQuarantined, restore
from hashmatch.aws.uploads import UploadGone

settings = config.load(config.RestoreUploadSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
quarantine = Quarantine(boto3.client("s3"), settings.evidence_bucket)
audit = AuditTable(boto3.resource("dynamodb").Table(settings.audit_table))

# How each refusal of a restore that was allowed to ask reads to the caller.
_REFUSED = {NotQuarantined: 404, UploadGone: 410, KeyOccupied: 409, ExemptionSpent: 409, AlsoMatched: 409}


# What IAM reports as a function URL's caller: a user, a role session (sts ... assumed-role/ROLE/SESSION), a root.
_CALLER_ARN = re.compile(r"arn:[\w-]+:(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")


class Caller(NamedTuple):
    """Who signed the call, from the ARN the function URL authenticated (never from the body)."""

    arn: str
    account: str
    role_name: str | None  # set for a role session

    @classmethod
    def from_arn(cls, arn: str) -> "Caller | None":
        found = _CALLER_ARN.fullmatch(arn or "")
        if not found:
            return None
        parts = found["resource"].split("/")
        session = found["service"] == "sts" and parts[0] == "assumed-role" and len(parts) >= 3
        return cls(arn, found["account"], parts[1] if session else None)


class NotAFunctionUrlCall(PermissionError):
    """A direct invocation (no function URL request context): refused, since only a signed URL call names its requester."""


def respond(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body, separators=(",", ":"), default=str)}


def caller_of(event: LambdaFunctionUrlEvent) -> Caller | None:
    """The IAM identity the function URL authenticated; None when the event carries none."""
    iam = (event.raw_event["requestContext"].get("authorizer") or {}).get("iam") or {}
    return Caller.from_arn(iam.get("userArn") or "")


def may_restore(caller: Caller, own_account: str) -> bool:
    """A session of the restore role of this account; with no role named, any caller of this account IAM let through
    (the URL's resource policy grants nobody then, so only those with lambda:InvokeFunctionUrl in their own policies)."""
    if caller.account != own_account:
        return False
    return caller.role_name in settings.restore_roles if settings.restore_roles else True


@tracer.capture_method
def answer(event: LambdaFunctionUrlEvent, own_account: str) -> dict:
    caller = caller_of(event)
    if caller is None or not may_restore(caller, own_account):
        metrics.add_metric(name="RestoresForbidden", unit=MetricUnit.Count, value=1)
        # Who tried is kept in the log: a refused restore is worth knowing about.
        logger.warning("restore forbidden", caller=caller.arn if caller else None)
        allowed = f"sessions of the role {', '.join(sorted(settings.restore_roles))} of this account" if settings.restore_roles else "callers of this account"
        return respond(403, {"error": "forbidden", "reason": f"only {allowed} may restore (sign the request with SigV4, service lambda)"})
    if event.request_context.http.method != "POST":
        return respond(405, {"error": "method not allowed", "reason": "POST a JSON restore request"})
    try:
        request = RestoreRequest.from_call(json.loads(event.decoded_body or ""), caller.arn)
    except ValidationError as error:
        metrics.add_metric(name="RestoresRefused", unit=MetricUnit.Count, value=1)
        problems = [f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}" for problem in error.errors()]
        return respond(400, {"error": "bad request", "reason": "; ".join(problems)[:2000]})
    except ValueError as error:  # not JSON, not an object, or a requested_by of its own
        metrics.add_metric(name="RestoresRefused", unit=MetricUnit.Count, value=1)
        logger.info("bad restore request", caller=caller.arn, detail=str(error)[:300])
        return respond(400, {"error": "bad request", "reason": str(error)[:2000]})
    try:
        record = restore(request, quarantine, audit, settings.exemption_days)
    except tuple(_REFUSED) as refused:
        metrics.add_metric(name="RestoresRefused", unit=MetricUnit.Count, value=1)
        logger.info("restore refused", upload_id=request.upload_id, requested_by=caller.arn, refusal=type(refused).__name__, detail=str(refused))
        return respond(_REFUSED[type(refused)], {"error": type(refused).__name__, "reason": str(refused)})
    metrics.add_metric(name="UploadsRestored", unit=MetricUnit.Count, value=1)
    logger.info("upload restored", upload_id=request.upload_id, requested_by=caller.arn, scope=request.scope, restored_as=record.get("restored_as"))
    return respond(200, record)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=LambdaFunctionUrlEvent)
def lambda_handler(event: LambdaFunctionUrlEvent, context):
    """Event: a function URL request (payload 2.0) whose body is a restore request (schemas/restore-request.schema.json)."""
    raw = event.raw_event
    if not (isinstance(raw, dict) and isinstance(raw.get("requestContext"), dict) and "http" in raw["requestContext"]):
        metrics.add_metric(name="RestoresForbidden", unit=MetricUnit.Count, value=1)
        # Raised, not answered: a direct invoker gets a function error naming the way in.
        raise NotAFunctionUrlCall(
            "RestoreUploadFunction takes only signed calls to its function URL (stack output RestoreUploadFunctionUrl), "
            "whose signature names the requester; use `hashmatch admin restore`, not a direct invocation"
        )
    try:
        return answer(event, context.invoked_function_arn.split(":")[4])
    except Exception:
        # A caller gets the request id to quote, never a stack trace; the log has it.
        logger.exception("restore failed")
        return respond(500, {"error": "internal error", "request_id": context.aws_request_id})
