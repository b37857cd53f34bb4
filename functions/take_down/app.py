"""Act on match and hold messages (SNS via SQS batch): quarantine the upload into the evidence bucket, or record it for review only."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from hashmatch.aws import settings as config
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.envelopes import MatchMessageRecord
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.aws.quarantine import Quarantine
from hashmatch.messages.models import HoldMessage, MatchMessage
from hashmatch.usecases.take_down import TakedownOutcome, report_takedown, take_down

settings = config.load(config.TakeDownSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
quarantine, audit = Quarantine(boto3.client("s3"), settings.evidence_bucket, settings.evidence_retention_days), AuditTable(boto3.resource("dynamodb").Table(settings.audit_table))
# Each record is parsed on its own (SQS record -> SNS notification -> message): a malformed one fails alone.
processor = BatchProcessor(event_type=EventType.SQS, model=MatchMessageRecord)
# One takedown at a time per upload, and once: of two deliveries of its match arriving together (a redelivery, or a live
# and a retroactive match), the second waits (its record fails and comes back) and then gets the first's outcome.
idempotency = IdempotencyConfig(event_key_jmespath="upload.upload_id", expires_after_seconds=14 * 24 * 3600, raise_on_no_idempotency_key=True)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
current_request = {"id": ""}


@idempotent_function(data_keyword_argument="message", config=idempotency, persistence_store=persistence)
def take_down_once(message: MatchMessage | HoldMessage) -> dict:
    return {"outcome": str(take_down(message, settings.takedown_mode, quarantine, audit)), "request_id": current_request["id"]}


@tracer.capture_method
def record_handler(record: MatchMessageRecord) -> None:
    message = record.body.Message
    done = take_down_once(message=message)
    # An earlier invocation's answer (from the idempotency record) means this delivery was a repeat.
    outcome = TakedownOutcome(done["outcome"]) if done["request_id"] == current_request["id"] else TakedownOutcome.DUPLICATE
    report_takedown(message, outcome, settings.takedown_mode, logger, PowertoolsMetrics(metrics))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    idempotency.register_lambda_context(context)
    current_request["id"] = context.aws_request_id
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
