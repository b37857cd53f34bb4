"""Reinstate a quarantined upload after a complaint: a SigV4-signed call to the function's URL by the restore role (usecases/restore_upload.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.function_urls import NotAFunctionUrlCall, answer, caller_of, is_function_url_call, json_resolver
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.aws.quarantine import Quarantine
from hashmatch.usecases.restore_upload import Restorer, RestoreOutcome, restore_upload

settings = config.load(config.RestoreUploadSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
quarantine = Quarantine(boto3.client("s3"), settings.evidence_bucket)
audit = AuditTable(boto3.resource("dynamodb").Table(settings.audit_table))
app = json_resolver("restore request", logger)
STATUS = {
    RestoreOutcome.RESTORED: 200, RestoreOutcome.BAD_REQUEST: 400, RestoreOutcome.FORBIDDEN: 403, RestoreOutcome.NOT_QUARANTINED: 404,
    RestoreOutcome.KEY_OCCUPIED: 409, RestoreOutcome.EXEMPTION_SPENT: 409, RestoreOutcome.ALSO_MATCHED: 409, RestoreOutcome.GONE: 410,
}


@app.post(".+")
def restore():
    account = app.lambda_context.invoked_function_arn.split(":")[4]
    restorer = Restorer(quarantine, audit, settings.exemption_days, settings.restore_role_name, account, logger, PowertoolsMetrics(metrics), reviewer_roles=settings.reviewer_role_name)
    done = restore_upload(caller_of(app), app.current_event.decoded_body, restorer)
    return answer(STATUS[done.outcome], done.body)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)  # restore records name uploads, reasons and requesters: never in X-Ray
def lambda_handler(event: dict, context):
    """Event: a function URL request (payload 2.0) whose body is a restore request (schemas/restore-request.schema.json)."""
    if not is_function_url_call(event):
        metrics.add_metric(name="RestoresForbidden", unit="Count", value=1)
        # Raised, not answered: a direct invoker gets a function error naming the way in.
        raise NotAFunctionUrlCall(
            "RestoreUploadFunction takes only signed calls to its function URL (stack output RestoreUploadFunctionUrl), "
            "whose signature names the requester; use `hashmatch admin restore`, not a direct invocation"
        )
    return app.resolve(event, context)
