"""Hash each object an S3 notification names (SQS batch) and queue its hashes for the matcher."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditEvent, AuditTable
from hashmatch.aws.detail_pictures import store_detail_pictures
from hashmatch.aws.hash_messages import Unchecked, send_hashes, send_unchecked
from hashmatch.aws.hashing_attempts import HashingAttempts
from hashmatch.aws.uploads import DIGEST_MAX_BYTES, SPILL_BYTES, SPILL_PREFIX, Upload, UploadGone, digest_upload, read_upload
from hashmatch.errors import MediaError, RejectReason
from hashmatch.media.decode import Limits
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.vocabulary import CannotCheckReason, Role

settings = config.load(config.HashUploadSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
sqs = boto3.client("sqs")
dynamodb = boto3.resource("dynamodb")
audit = AuditTable(dynamodb.Table(settings.audit_table))
attempts = HashingAttempts(dynamodb.Table(settings.idempotency_table))
processor = BatchProcessor(event_type=EventType.SQS)
# A redelivered upload whose earlier attempts ended this many times without an outcome is not tried again.
MAX_UNFINISHED_ATTEMPTS = 2
# UploadsQueue's maxReceiveCount: the last delivery before the dead-letter queue holds the upload instead of
# trying once more, so whatever keeps failing (a crash, an exception, a batch-mate) still ends with an outcome.
MAX_DELIVERIES = 5
# Kept back from each upload's share of the invocation's time: storing detail pictures and sending the message.
SECONDS_AFTER_HASHING = 20.0
# Large objects are hashed from local storage (tempfile's directory: /tmp, the function's EphemeralStorage), not from memory.
TMP_DIR = tempfile.gettempdir()


class Budget:
    """The invocation's limits: pixels, frames and duration from its memory and time (Limits.for_budget), and
    a deadline per upload, its share of the time left, so a long video is hashed in part, not timed out."""

    def __init__(self, context, records: int):
        self.context = context
        self.left = max(1, records)
        self.limits = Limits.for_budget(int(context.memory_limit_in_mb), context.get_remaining_time_in_millis() / 1000.0, settings.max_upload_bytes)

    def deadline(self) -> float:
        seconds = self.context.get_remaining_time_in_millis() / 1000.0 - SECONDS_AFTER_HASHING
        share = max(1.0, seconds / self.left)
        self.left = max(1, self.left - 1)
        return time.monotonic() + share


budget: Budget | None = None
# PDQ only: the verdict uses PDQ, and imagehash's SciPy and PyWavelets (about 180 MB) would
# take the function past Lambda's 250 MB package limit; so would OpenCV (about 150 MB) for
# the local features, which are therefore not computed here: the hasher keeps the grey frames
# they come from (an upload's detail pictures) and stores them for the matcher, which has OpenCV.
EXTRA_SIGNALS: tuple[str, ...] = ()


def cannot_check(upload: Upload, reason: CannotCheckReason, detail: str) -> None:
    """Media the hasher cannot hash goes on to the matcher, which records it and holds it or lets it be (CannotCheckAction)."""
    try:
        sha256, upload = digest_upload(s3, upload, DIGEST_MAX_BYTES)
    except UploadGone as gone:
        gone_before_hashing(upload, gone)
        return
    logger.warning("upload cannot be checked", upload_id=upload.upload_id, reason=str(reason), detail=detail)
    with single_metric(name="UploadsUnchecked", unit=MetricUnit.Count, value=1) as by_reason:
        by_reason.add_dimension(name="reason", value=str(reason))
    send_unchecked(sqs, settings.hashes_queue_url, upload, Unchecked(reason, detail, sha256))


def gone_before_hashing(upload: Upload, gone: UploadGone) -> None:
    logger.info("upload gone before hashing", upload_id=upload.upload_id, detail=str(gone))
    metrics.add_metric(name="UploadsGone", unit=MetricUnit.Count, value=1)
    audit.record(upload.upload_id, AuditEvent.GONE, stage="hashing", detail=str(gone), bucket=upload.bucket, key=upload.key)


def reject(upload: Upload, error: MediaError) -> None:
    """Bad input is an outcome, not a failure: logged, counted by reason, recorded, never retried.
    Input recognised as media goes on to the matcher as unchecked, so that it is not left online unchecked."""
    logger.warning("upload rejected", upload_id=upload.upload_id, reason=error.reason, detail=str(error))
    metrics.add_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1)
    # The same count again, by reason: a dimension of its own needs a metric object of its own.
    with single_metric(name="UploadsRejected", unit=MetricUnit.Count, value=1) as by_reason:
        by_reason.add_dimension(name="reason", value=str(error.reason))
    audit.record(upload.upload_id, AuditEvent.REJECTED, reason=error.reason, detail=str(error), recognised=error.recognised, bucket=upload.bucket, key=upload.key, size=upload.size, uploaded_at=upload.uploaded_at)
    # An object too large to read is held whatever its first bytes say: they prove nothing about the rest.
    if error.recognised or error.reason == RejectReason.OVERSIZED:
        cannot_check(upload, CannotCheckReason(str(error.reason)), str(error))


@tracer.capture_method
def hash_upload(upload: Upload, receive_count: int = 1) -> None:
    """Hash the upload, or, when its deliveries keep ending without an outcome, send it on as unchecked (failed).

    An attempt that raises is retried (a throttled or briefly failing service) but counts as unfinished like one
    that killed the invocation: marks are cleared only once the upload has an outcome.
    """
    if receive_count >= MAX_DELIVERIES:
        cannot_check(upload, CannotCheckReason.FAILED, f"delivery {receive_count} of {MAX_DELIVERIES}: every earlier attempt ended without an outcome")
        attempts.end(upload.upload_id)
        return
    if receive_count > 1:
        # A redelivery: this upload may be the one that ended the earlier invocations (hashing_attempts.py).
        unfinished = attempts.start(upload.upload_id)
        if unfinished >= MAX_UNFINISHED_ATTEMPTS:
            cannot_check(upload, CannotCheckReason.FAILED, f"hashing ended without an outcome {unfinished} times (out of memory, time or an error); delivery {receive_count}")
            attempts.end(upload.upload_id)
            return
    try:
        hash_once(upload)
    except MemoryError:
        # Survived this time, but it would not fit on a retry either.
        cannot_check(upload, CannotCheckReason.FAILED, "hashing ran out of memory")
    if receive_count > 1:
        attempts.end(upload.upload_id)


def hash_once(upload: Upload) -> None:
    started = time.perf_counter()
    limits = budget.limits if budget is not None else Limits(max_bytes=settings.max_upload_bytes)
    deadline = budget.deadline() if budget is not None else None
    spilled = None
    try:
        data, upload = read_upload(s3, upload, settings.max_upload_bytes, SPILL_BYTES, TMP_DIR)
        spilled = data if not isinstance(data, bytes) else None
        hashes = hash_media(data, role=Role.UPLOAD, limits=limits, extra_signals=EXTRA_SIGNALS, keep_detail_pictures=True, deadline=deadline)
    except MediaError as error:
        reject(upload, error)
        return
    except UploadGone as gone:
        gone_before_hashing(upload, gone)
        return
    finally:
        if spilled is not None:
            spilled.unlink(missing_ok=True)
    if hashes.partial:
        # The matcher holds it when the part hashed matches nothing (CannotCheckReason.PARTIAL).
        metrics.add_metric(name="UploadsHashedInPart", unit=MetricUnit.Count, value=1)
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
        partial=hashes.partial,
        covered_seconds=hashes.covered_seconds,
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
    receive_count = int(record.attributes.approximate_receive_count or 1)
    for s3_record in record.decoded_nested_s3_event.records:
        hash_upload(Upload.from_s3_record(s3_record), receive_count)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    global budget
    budget = Budget(context, len(event.get("Records", [])))
    # Spill files a killed invocation left would fill the local storage: swept at each start.
    for left_behind in Path(TMP_DIR).glob(SPILL_PREFIX + "*"):
        if left_behind.is_file():
            left_behind.unlink(missing_ok=True)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
