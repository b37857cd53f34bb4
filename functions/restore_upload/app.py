"""Reinstate a quarantined upload after a complaint (invoked directly by an operator or a complaints tool)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditLog
from hashmatch.aws.messages import RestoreRequest
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.takedown import restore

settings = config.load(config.RestoreUploadSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
quarantine = Quarantine(boto3.client("s3"), settings.evidence_bucket)
audit = AuditLog(boto3.resource("dynamodb").Table(settings.audit_table))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=RestoreRequest)
def lambda_handler(request: RestoreRequest, context):
    """Event: RestoreRequest; a request without upload_id, reason or requested_by raises ValidationError (a ValueError) naming them."""
    record = restore(request, quarantine, audit, settings.exemption_days)
    metrics.add_metric(name="UploadsRestored", unit=MetricUnit.Count, value=1)
    logger.info("upload restored", upload_id=request.upload_id, restored_as=record.get("restored_as"))
    return record
