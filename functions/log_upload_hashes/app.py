"""Write a batch of the upload hash log's messages (from the matcher) as Parquet files in the log bucket, one per table and day."""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source

from hashmatch.aws import settings as config
from hashmatch.upload_log.records import LogMessageError, batch_id, log_rows, parquet_files

settings = config.load(config.LogUploadHashesSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=SQSEvent)
def lambda_handler(event: SQSEvent, context) -> dict:
    # A malformed message fails alone (it reaches the dead-letter queue after its receives); a
    # failed write fails the batch, whose retry writes the same files (named by the messages' ids).
    good, failures = [], []
    for record in event.records:
        try:
            message = json.loads(record.body)
            log_rows([message])
        except (json.JSONDecodeError, LogMessageError) as error:
            logger.error("malformed upload log message", message_id=record.message_id, reason=str(error))
            failures.append({"itemIdentifier": record.message_id})
            continue
        good.append((record.message_id, message))
    if good:
        rows = log_rows(message for _, message in good)
        files = parquet_files(rows, batch_id(message_id for message_id, _ in good))
        for key, body in files.items():
            s3.put_object(Bucket=settings.upload_log_bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet")
        uploads = sum(len(day) for day in rows.uploads.values())
        frames = sum(len(day) for day in rows.frames.values())
        metrics.add_metric(name="UploadsLogged", unit=MetricUnit.Count, value=uploads)
        logger.info("upload hashes logged", messages=len(good), uploads=uploads, frame_hashes=frames, files=sorted(files))
    if failures:
        metrics.add_metric(name="LogMessagesMalformed", unit=MetricUnit.Count, value=len(failures))
    return {"batchItemFailures": failures}
