"""Keep the hash set's snapshot fresh: each batch of the hash-set table's change stream becomes a new manifest in S3 (aws/hash_set/indexer.py)."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent, event_source

from hashmatch.aws import settings as config
from hashmatch.aws.hash_set.indexer import SnapshotIndexer, index_changes
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.observability import PowertoolsMetrics

settings = config.load(config.IndexHashSetSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
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
    # A failed batch goes to the indexer's dead-letter queue (its shard and sequence numbers) after Lambda's retries.
    records = list(event.records)
    keys = {record.dynamodb.keys["reference_id"] for record in records if record.dynamodb and record.dynamodb.keys}
    index_changes(indexer, keys, len(records), logger, PowertoolsMetrics(metrics))
