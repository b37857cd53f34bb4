"""Match each upload's hashes (SQS batch) against the hash set and publish one message per matched upload."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditLog
from hashmatch.aws.hash_messages import read_hashes_message
from hashmatch.aws.hash_set import CachedReferenceIndex, HashSet
from hashmatch.aws.match_messages import match_message, publish_match

settings = config.load(config.MatchHashesSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
dynamodb = boto3.resource("dynamodb")
audit = AuditLog(dynamodb.Table(settings.audit_table))
# Loaded once per container and reloaded only when the hash set's version changes.
reference_index = CachedReferenceIndex(HashSet(dynamodb.Table(settings.hash_set_table)), settings.hash_set_refresh_seconds)
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    request = read_hashes_message(s3, record.json_body)
    upload, hashes = request.upload, request.hashes
    index = reference_index.get()
    matches = index.match(hashes, settings.pdq_match_threshold)
    if not matches:
        metrics.add_metric(name="UploadsUnmatched", unit=MetricUnit.Count, value=1)
        logger.info("no match", upload_id=upload.upload_id, frames=len(hashes.frames), hash_set_version=index.version)
        return
    exemption = audit.exemption(hashes.sha256)
    if exemption:
        # These exact bytes were reinstated after a complaint: the decision stands.
        metrics.add_metric(name="MatchesExempted", unit=MetricUnit.Count, value=1)
        logger.info("match exempted", upload_id=upload.upload_id, exemption=exemption)
        audit.record(upload.upload_id, "exempted", sha256=hashes.sha256, references=[m.reference.reference_id for m in matches], reinstated=exemption["reinstated"])
        return
    message = match_message(request, matches, settings.pdq_match_threshold)
    message_id = publish_match(sns, settings.match_topic_arn, message)
    metrics.add_metric(name="UploadsMatched", unit=MetricUnit.Count, value=1)
    logger.info(
        "match published",
        upload_id=upload.upload_id,
        match_id=message["match_id"],
        sns_message_id=message_id,
        action=message["action"],
        references=[m.reference.reference_id for m in matches],
    )


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
