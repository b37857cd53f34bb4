"""Reinstate a quarantined upload after a complaint (invoked directly by an operator or a complaints tool)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditLog
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
def lambda_handler(event, context):
    """Event: {"upload_id": "s3://bucket/key?versionId=...", "reason": "...", "requested_by": "..."}."""
    missing = [name for name in ("upload_id", "reason", "requested_by") if not event.get(name)]
    if missing:
        raise ValueError(f"the restore request needs {', '.join(missing)}")
    record = restore(event["upload_id"], event["reason"], event["requested_by"], quarantine, audit)
    metrics.add_metric(name="UploadsRestored", unit=MetricUnit.Count, value=1)
    logger.info("upload restored", upload_id=event["upload_id"], restored_as=record.get("restored_as"))
    return record
