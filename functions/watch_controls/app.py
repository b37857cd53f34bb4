"""Every 15 minutes (a schedule): the controls nothing else reports, each counted off or on for its alarm (usecases/watch_controls.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.controls import BucketControls
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.usecases.watch_controls import watch_controls

settings = config.load(config.WatchControlsSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
controls = BucketControls(boto3.client("s3"), settings.uploads_bucket, settings.snapshot_bucket, settings.evidence_bucket)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context) -> dict:
    # The event (EventBridge's scheduled event) says nothing the check needs: it reads the buckets as they are now.
    return watch_controls(controls, logger, PowertoolsMetrics(metrics))
