"""Act on match messages (SNS via SQS batch): quarantine the upload into the evidence bucket, or record it for review only."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditTable
from hashmatch.aws.messages import HoldMessage, MatchMessage, MatchMessageRecord
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.takedown import TakedownOutcome, take_down

settings = config.load(config.TakeDownSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
quarantine = Quarantine(boto3.client("s3"), settings.evidence_bucket, settings.evidence_retention_days)
audit = AuditTable(boto3.resource("dynamodb").Table(settings.audit_table))
# Each record is parsed on its own (SQS record -> SNS notification -> match message): a malformed
# one fails alone and goes back to the queue, the others are taken down.
processor = BatchProcessor(event_type=EventType.SQS, model=MatchMessageRecord)

# One takedown at a time per upload, and once: two deliveries of its match (a redelivery, or a live and a
# retroactive match) arriving together would otherwise both copy it. The second waits (its record fails and
# comes back) and then gets the first's outcome.
idempotency = IdempotencyConfig(event_key_jmespath="upload.upload_id", expires_after_seconds=14 * 24 * 3600, raise_on_no_idempotency_key=True)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
current_request = {"id": ""}


@idempotent_function(data_keyword_argument="message", config=idempotency, persistence_store=persistence)
def take_down_once(message: MatchMessage | HoldMessage) -> dict:
    return {"outcome": str(take_down(message, settings.takedown_mode, quarantine, audit)), "request_id": current_request["id"]}


_OUTCOME_METRICS = {
    TakedownOutcome.QUARANTINED: "UploadsQuarantined",
    TakedownOutcome.HELD: "UploadsHeld",
    TakedownOutcome.REVIEW_ONLY: "UploadsReviewOnly",
    TakedownOutcome.GONE: "UploadsGone",
    TakedownOutcome.DUPLICATE: "DuplicateMatchMessages",
    TakedownOutcome.NOT_AN_OBJECT: "HashOnlyMatches",
    TakedownOutcome.NOT_THE_MATCHED_OBJECT: "TakedownsRefused",
}


@tracer.capture_method
def record_handler(record: MatchMessageRecord) -> None:
    message = record.body.Message
    done = take_down_once(message=message)
    # An earlier invocation's answer (from the idempotency record) means this delivery was a repeat.
    outcome = TakedownOutcome(done["outcome"]) if done["request_id"] == current_request["id"] else TakedownOutcome.DUPLICATE
    metrics.add_metric(name=_OUTCOME_METRICS[outcome], unit=MetricUnit.Count, value=1)
    if outcome == TakedownOutcome.NOT_THE_MATCHED_OBJECT:
        # A forged or stale message, or an object replaced under its version's name: someone should look.
        logger.error("takedown refused: the named object is not the one hashed", upload_id=message.upload.upload_id, match_id=message.match_id)
        return
    logger.info("takedown", outcome=outcome, upload_id=message.upload.upload_id, match_id=message.match_id, mode=settings.takedown_mode)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    idempotency.register_lambda_context(context)
    current_request["id"] = context.aws_request_id
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
