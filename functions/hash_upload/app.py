"""Hash each object an S3 notification names (SQS batch) and queue its hashes for the matcher (usecases/hash_upload.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hashmatch.aws import settings as config
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.detail_pictures import store_detail_pictures
from hashmatch.aws.hashes_queue import HashesQueue
from hashmatch.aws.hashing_attempts import HashingAttempts
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.aws.sampling_secret import sampling_secret_reader
from hashmatch.aws.upload_objects import UploadsBucket, upload_of_s3_record
from hashmatch.usecases.hash_upload import Budget, Hasher, hash_upload

settings = config.load(config.HashUploadSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
s3, dynamodb = boto3.client("s3"), boto3.resource("dynamodb")
uploads = UploadsBucket(s3)  # large objects are hashed from local storage (/tmp, the function's EphemeralStorage)
hasher = Hasher(
    uploads=uploads, store_detail_pictures=lambda sha256, pictures: store_detail_pictures(s3, settings.details_bucket, sha256, pictures),
    matcher_queue=HashesQueue(boto3.client("sqs"), settings.hashes_queue_url, s3, settings.hashes_bucket),
    attempts=HashingAttempts(dynamodb.Table(settings.idempotency_table)), audit=AuditTable(dynamodb.Table(settings.audit_table)),
    max_upload_bytes=settings.max_upload_bytes, log=logger, metrics=PowertoolsMetrics(metrics), sampling_secret=sampling_secret_reader(boto3.client("secretsmanager"), settings.sampling_secret_arn),
)
processor, invocation = BatchProcessor(event_type=EventType.SQS), {}  # invocation: this call's Budget


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    if record.json_body.get("Event") == "s3:TestEvent":  # sent once when the notification is configured; it names no object
        logger.info("s3:TestEvent skipped", bucket=record.json_body.get("Bucket"))
        metrics.add_metric(name="TestEventsSkipped", unit="Count", value=1)
        return
    receive_count = int(record.attributes.approximate_receive_count or 1)
    for s3_record in record.decoded_nested_s3_event.records:
        hash_upload(upload_of_s3_record(s3_record), receive_count, hasher, invocation["budget"])


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    invocation["budget"] = Budget.of_lambda_context(context, len(event.get("Records", [])), settings.max_upload_bytes)
    uploads.sweep()
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
