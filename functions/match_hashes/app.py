"""Match each upload's hashes (SQS batch) against the hash set and publish one message per matched upload (usecases/check_upload.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hashmatch.aws import settings as config
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.detail_pictures import detail_picture_loader
from hashmatch.aws.hash_set.live import live_hash_set
from hashmatch.aws.hashes_queue import read_hashes_message
from hashmatch.aws.match_policy import match_policy
from hashmatch.aws.match_topic import IdempotentPublisher, MatchTopic
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.aws.upload_log_queue import UploadLogOutbox
from hashmatch.usecases.check_upload import Checker, check_upload

settings = config.load(config.MatchHashesSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
s3, sns, dynamodb, counted = boto3.client("s3"), boto3.client("sns"), boto3.resource("dynamodb"), PowertoolsMetrics(metrics)
publisher = IdempotentPublisher(MatchTopic(sns, settings.match_topic_arn), settings.idempotency_table)
outbox = UploadLogOutbox(boto3.client("sqs"), settings.upload_log_queue_url, logger, counted)
checker = Checker(
    # Loaded once per container from the signed snapshot the indexer keeps, brought up to date every refresh.
    hash_set=live_hash_set(settings, s3, dynamodb, boto3.client("kms"), counted),
    audit=AuditTable(dynamodb.Table(settings.audit_table)), publisher=publisher, upload_log=outbox, policy=match_policy(dynamodb, sns, settings),
    detail_pictures=lambda stored: detail_picture_loader(s3, stored), cannot_check_action=settings.cannot_check_action,
    log=logger, metrics=counted,
)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    # The receive count tells the last delivery, on which an upload the matcher keeps failing on is held instead.
    check_upload(read_hashes_message(s3, record.body), checker, int(record.attributes.approximate_receive_count or 1))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    publisher.register_lambda_context(context)
    try:
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    finally:
        outbox.flush()
