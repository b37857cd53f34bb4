"""Match each upload's hashes (SQS batch) against the hash set and publish one message per matched upload."""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

from hashmatch.aws import settings as config
from hashmatch.aws.audit import AuditEvent, AuditTable, now
from hashmatch.aws.hash_messages import HashesMessage, read_hashes_message
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set_snapshots import LiveHashSet, SnapshotStore
from hashmatch.aws.match_messages import hold_message, live_match_id, match_message, publish_match
from hashmatch.aws.messages import HoldMessage, MatchMessage
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.upload_log.records import log_messages, send_batches
from hashmatch.vocabulary import Action, CannotCheckAction, CannotCheckReason, Stage

settings = config.load(config.MatchHashesSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
sns = boto3.client("sns")
sqs = boto3.client("sqs")
dynamodb = boto3.resource("dynamodb")
audit = AuditTable(dynamodb.Table(settings.audit_table))
# Loaded once per container from the snapshot the indexer keeps in S3 (local features from the
# reference-features bucket), then brought up to date with the changes since it every refresh.
hash_set = LiveHashSet(
    SnapshotStore(s3, settings.snapshot_bucket),
    HashSetTable(dynamodb.Table(settings.hash_set_table), ReferenceFeaturesBucket(s3, settings.reference_features_bucket), settings.pdq_match_threshold),
    settings.hash_set_refresh_seconds,
)
processor = BatchProcessor(event_type=EventType.SQS)
# A redelivered upload (a retried batch) publishes its match once: keyed by the match id, which the
# upload and the hash-set version decide; kept as long as a message can wait in the hashes queue.
idempotency = IdempotencyConfig(event_key_jmespath="match_id", expires_after_seconds=14 * 24 * 3600, raise_on_no_idempotency_key=True)
persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


@idempotent_function(data_keyword_argument="message", config=idempotency, persistence_store=persistence)
def publish_once(message: MatchMessage) -> dict:
    return {"sns_message_id": publish_match(sns, settings.match_topic_arn, message)}


# A hold is published once per upload, keyed by its hold id (match_messages.hold_id).
hold_idempotency = IdempotencyConfig(event_key_jmespath="hold_id", expires_after_seconds=14 * 24 * 3600, raise_on_no_idempotency_key=True)


# A store of its own: a persistence layer takes the key path of the first config it serves.
hold_persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)


@idempotent_function(data_keyword_argument="message", config=hold_idempotency, persistence_store=hold_persistence)
def publish_hold_once(message: HoldMessage) -> dict:
    return {"sns_message_id": publish_match(sns, settings.match_topic_arn, message)}


def cannot_check(request: HashesMessage, reason: CannotCheckReason, detail: str) -> None:
    """An upload that could not be checked is recorded and counted, and held (a hold message the takedown acts on)
    unless CannotCheckAction is allow or the upload was reinstated at its place after review."""
    upload = request.upload
    sha256 = request.unchecked.sha256 if request.unchecked is not None else request.hashes.sha256
    metrics.add_metric(name="UploadsCannotCheck", unit=MetricUnit.Count, value=1)
    with single_metric(name="UploadsCannotCheck", unit=MetricUnit.Count, value=1) as by_reason:
        by_reason.add_dimension(name="reason", value=str(reason))
    action = settings.cannot_check_action
    exemption = audit.exemption(sha256, bucket=upload.bucket, key=upload.key) if upload.is_object else None
    if action == CannotCheckAction.ALLOW or not upload.is_object or exemption:
        allowed = "exempted" if exemption else ("allow" if upload.is_object else "not-an-object")
        audit.record(upload.upload_id, AuditEvent.CANNOT_CHECK, reason=str(reason), detail=detail, action=allowed, sha256=sha256)
        logger.warning("upload cannot be checked: left in place", upload_id=upload.upload_id, reason=str(reason), detail=detail, action=allowed)
        return
    message = hold_message(request, reason, detail)
    message_id = publish_hold_once(message=message)["sns_message_id"]
    audit.record(upload.upload_id, AuditEvent.CANNOT_CHECK, reason=str(reason), detail=detail, action=str(action), hold_id=message.hold_id, sns_message_id=message_id, sha256=sha256)
    metrics.add_metric(name="UploadsHeld", unit=MetricUnit.Count, value=1)
    logger.warning("upload cannot be checked: held", upload_id=upload.upload_id, reason=str(reason), detail=detail, hold_id=message.hold_id, sns_message_id=message_id)

# The upload hash log's messages of this batch, sent after the batch (log_upload_hashes writes them as Parquet).
pending_log: list[dict] = []
# SendMessageBatch takes 256 KiB in all; a log message is at most about 165 KB (upload_log.MAX_FRAME_BYTES_PER_MESSAGE).
LOG_BATCH_BYTES = 240 * 1024


def log_checked_upload(request) -> None:
    """Queue the checked upload's hashes for the upload hash log (retro-match); hash-only requests name no object and are not logged."""
    if request.upload.is_object:
        pending_log.extend(log_messages(request.upload.to_dict(), request.hashes, request.hashed_at, now()))


def flush_log() -> None:
    """Send the batch's log messages, at most ten and LOG_BATCH_BYTES to a call. A failure is logged and counted,
    never retried by failing the batch: that would publish its matches again. The LogMessagesFailed metric has an alarm."""
    bodies, failed = [json.dumps(m, separators=(",", ":")) for m in pending_log], 0
    pending_log.clear()
    for call in send_batches(bodies, count=10, size=LOG_BATCH_BYTES):
        try:
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(call)]
            failed += len(sqs.send_message_batch(QueueUrl=settings.upload_log_queue_url, Entries=entries).get("Failed", []))
        except Exception:  # noqa: BLE001 - any SDK or network error: count it, keep the batch's outcome
            logger.exception("upload log messages not sent", messages=len(call))
            failed += len(call)
    if failed:
        metrics.add_metric(name="LogMessagesFailed", unit=MetricUnit.Count, value=failed)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    request = read_hashes_message(s3, record.body)
    if request.unchecked is not None:
        cannot_check(request, request.unchecked.reason, request.unchecked.detail)
        return
    upload, hashes = request.upload, request.hashes
    loaded = hash_set.get()
    # A message without detail pictures (a hash-only request) is matched by PDQ alone.
    detail_pictures = request.detail_pictures.loader(s3) if request.detail_pictures else None
    result, matches = loaded.match(hashes, detail_pictures)
    log_checked_upload(request)
    second_stage_seconds = result.seconds.get(Stage.LOCAL_FEATURES)
    if second_stage_seconds is not None:
        metrics.add_metric(name="SecondStageRuns", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="SecondStageSeconds", unit=MetricUnit.Seconds, value=second_stage_seconds)
    stages = [str(stage) for stage in result.stages]
    if not matches and hashes.partial:
        # The part hashed in the time budget matched nothing: the rest was never looked at.
        covered = f"{hashes.covered_seconds or 0.0:.1f} s of {hashes.duration:.1f} s"
        cannot_check(request, CannotCheckReason.PARTIAL, f"hashed within the time budget: the first {covered}, which matched nothing")
        return
    if not matches:
        metrics.add_metric(name="UploadsUnmatched", unit=MetricUnit.Count, value=1)
        logger.info("no match", upload_id=upload.upload_id, frames=len(hashes.frames), stages=stages, second_stage_seconds=second_stage_seconds, hash_set_version=loaded.version, hash_set_source=hash_set.source)
        return
    decided_by = str(result.decided_by)
    if result.decided_by == Stage.LOCAL_FEATURES:
        metrics.add_metric(name="OrbMatches", unit=MetricUnit.Count, value=1)
    exemption = audit.exemption(hashes.sha256, bucket=upload.bucket, key=upload.key)
    if exemption:
        # These exact bytes were reinstated after a complaint: the decision stands.
        metrics.add_metric(name="MatchesExempted", unit=MetricUnit.Count, value=1)
        logger.info("match exempted", upload_id=upload.upload_id, exemption=exemption, decided_by=decided_by)
        audit.record(upload.upload_id, AuditEvent.EXEMPTED, sha256=hashes.sha256, references=[m.reference.reference_id for m in matches], reinstated=exemption["reinstated"])
        return
    message = match_message(request, matches, settings.pdq_match_threshold, live_match_id(upload.upload_id, loaded.version))
    message_id = publish_once(message=message)["sns_message_id"]
    # Every published match is on record, review matches included; retro-match skips uploads that have one.
    audit.record(upload.upload_id, AuditEvent.MATCHED, match_id=message.match_id, action=message.action, sns_message_id=message_id, references=[m.reference.reference_id for m in matches], decided_by=decided_by)
    metrics.add_metric(name="UploadsMatched", unit=MetricUnit.Count, value=1)
    logger.info(
        "match published",
        upload_id=upload.upload_id,
        match_id=message.match_id,
        sns_message_id=message_id,
        action=message.action,
        decided_by=decided_by,
        second_stage_seconds=second_stage_seconds,
        references=[m.reference.reference_id for m in matches],
    )
    if hashes.partial and message.action != Action.QUARANTINE:
        # A review match in the part hashed leaves the rest unseen and the upload online: held as well.
        covered = f"{hashes.covered_seconds or 0.0:.1f} s of {hashes.duration:.1f} s"
        cannot_check(request, CannotCheckReason.PARTIAL, f"hashed within the time budget: the first {covered}, which matched references asking for review only")


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    idempotency.register_lambda_context(context)
    hold_idempotency.register_lambda_context(context)
    try:
        return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
    finally:
        flush_log()
