"""Hash each object an S3 notification names (SQS batch) and queue its hashes for the matcher."""

from __future__ import annotations

import time

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditEvent, AuditLog
from hashmatch.aws.detail_pictures import store_detail_pictures
from hashmatch.aws.hash_messages import send_hashes
from hashmatch.aws.uploads import Upload, UploadGone, read_upload
from hashmatch.errors import MediaError
from hashmatch.media.decode import Limits
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.vocabulary import Role

settings = config.load(config.HashUploadSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
sqs = boto3.client("sqs")
audit = AuditLog(boto3.resource("dynamodb").Table(settings.audit_table))
processor = BatchProcessor(event_type=EventType.SQS)
limits = Limits(max_bytes=settings.max_upload_bytes)
# PDQ only: the verdict uses PDQ, and imagehash's SciPy and PyWavelets (about 180 MB) would
# take the function past Lambda's 250 MB package limit; so would OpenCV (about 150 MB) for
# the local features, which are therefore not computed here: the hasher keeps the grey frames
# they come from (an upload's detail pictures) and stores them for the matcher, which has OpenCV.
EXTRA_SIGNALS: tuple[str, ...] = ()


def reject(upload: Upload, error: MediaError) -> None:
    """Bad input is an outcome, not a failure: logged, counted by reason, recorded, never retried."""
    logger.warning("upload rejected", upload_id=upload.upload_id, reason=error.reason, detail=str(error))
    metrics.add_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1)
    # The same count again, by reason: a dimension of its own needs a metric object of its own.
    with single_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1) as by_reason:
        by_reason.add_dimension(name="reason", value=str(error.reason))
    audit.record(upload.upload_id, AuditEvent.REJECTED, reason=error.reason, detail=str(error), bucket=upload.bucket, key=upload.key, size=upload.size, uploaded_at=upload.uploaded_at)


@tracer.capture_method
def hash_upload(upload: Upload) -> None:
    started = time.perf_counter()
    try:
        data, upload = read_upload(s3, upload, settings.max_upload_bytes)
        hashes = hash_media(data, role=Role.UPLOAD, limits=limits, extra_signals=EXTRA_SIGNALS, keep_detail_pictures=True)
    except MediaError as error:
        reject(upload, error)
        return
    except UploadGone as gone:
        logger.info("upload gone before hashing", upload_id=upload.upload_id, detail=str(gone))
        metrics.add_metric(name="UploadsGone", unit=MetricUnit.Count, value=1)
        audit.record(upload.upload_id, AuditEvent.GONE, stage="hashing", detail=str(gone), bucket=upload.bucket, key=upload.key)
        return
    seconds = time.perf_counter() - started
    pictures = [encode_detail_picture(picture) for picture in hashes.detail_pictures]
    detail_pictures = store_detail_pictures(s3, settings.details_bucket, hashes.sha256, pictures)
    detail_pictures_seconds = time.perf_counter() - started - seconds
    message = send_hashes(sqs, settings.hashes_queue_url, s3, settings.hashes_bucket, upload, hashes, detail_pictures)
    metrics.add_metric(name="UploadsHashed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="HashingSeconds", unit=MetricUnit.Seconds, value=seconds)
    metrics.add_metric(name="DetailPicturesSeconds", unit=MetricUnit.Seconds, value=detail_pictures_seconds)
    logger.info(
        "upload hashed",
        upload_id=upload.upload_id,
        kind=hashes.kind,
        duration=hashes.duration,
        frames=len(hashes.frames),
        detail_pictures=len(pictures),
        seconds=round(seconds, 3),
        detail_pictures_seconds=round(detail_pictures_seconds, 3),
        claim_check="hashes_location" in message,
    )


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    body = record.json_body
    if body.get("Event") == "s3:TestEvent":
        # S3 sends this once when the notification is configured; it names no object.
        logger.info("s3:TestEvent skipped", bucket=body.get("Bucket"))
        metrics.add_metric(name="TestEventsSkipped", unit=MetricUnit.Count, value=1)
        return
    for s3_record in record.decoded_nested_s3_event.records:
        hash_upload(Upload.from_s3_record(s3_record))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
