"""Keep the hash set's snapshot fresh: each batch of the hash-set table's change stream becomes a new manifest in S3."""

from __future__ import annotations

import time

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source

from hashmatch.aws import settings as config
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set_snapshots import SnapshotIndexer, SnapshotStore
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

settings = config.load(config.IndexHashSetSettings)
logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")
# Kept per container: the last snapshot written, so folding changes into the next one does not read it again.
# The reference-features bucket: a new snapshot whose media changed gets a local-feature snapshot beside it.
indexer = SnapshotIndexer(
    HashSetTable(boto3.resource("dynamodb").Table(settings.hash_set_table), ReferenceFeaturesBucket(s3, settings.reference_features_bucket)),
    SnapshotStore(s3, settings.snapshot_bucket),
    settings.compact_after_changes,
)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_source(data_class=DynamoDBStreamEvent)
def lambda_handler(event: DynamoDBStreamEvent, context) -> None:
    # Any exception fails the batch: Lambda retries it (a retry re-reads the state, so it is safe),
    # then sends its shard and sequence numbers to the indexer's dead-letter queue.
    records = list(event.records)
    keys = {record.dynamodb.keys["reference_id"] for record in records if record.dynamodb and record.dynamodb.keys}
    started = time.perf_counter()
    outcome = indexer.apply(keys)
    seconds = round(time.perf_counter() - started, 3)
    if outcome is None:
        logger.info("no reference changed", records=len(records))
        return
    manifest = outcome.manifest
    metrics.add_metric(name="ReferencesIndexed", unit=MetricUnit.Count, value=outcome.changed)
    metrics.add_metric(name="IndexerSeconds", unit=MetricUnit.Seconds, value=seconds)
    if outcome.compacted or outcome.rebuilt:
        metrics.add_metric(name="SnapshotsWritten", unit=MetricUnit.Count, value=1)
    logger.info(
        "hash set indexed",
        records=len(records),
        changed=outcome.changed,
        sequence=manifest.sequence,
        rebuilt=outcome.rebuilt,
        compacted=outcome.compacted,
        snapshot_frames=manifest.snapshot_frames,
        local_feature_snapshot=manifest.features.key if manifest.features else None,
        changes=manifest.changed,
        attempts=outcome.attempts,
        seconds=seconds,
    )
