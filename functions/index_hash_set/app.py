"""Keep the hash set's snapshot fresh: each batch of the hash-set table's change stream becomes a new signed manifest in S3 (aws/hash_set/indexer.py).

Invoked with {"reindex": true} it rebuilds the snapshot from the whole table instead (what `hashmatch admin hashset reindex`
does as the operators' role), refusing a sharp shrink as every run does.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.hash_set.indexer import SnapshotIndexer, index_changes, reindex
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.aws.hash_set.signing import ManifestSigner
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.aws.hash_set.table import HashSetTable, stream_changes
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
    signer=ManifestSigner(boto3.client("kms"), settings.manifest_key_id),
)


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict, context) -> dict | None:
    if event.get("reindex"):
        return reindex(indexer, logger, PowertoolsMetrics(metrics))
    # A failed batch is halved (BisectBatchOnFunctionError) and retried, then goes to the indexer's dead-letter queue.
    records = event.get("Records", [])
    index_changes(indexer, {change.key for change in stream_changes(records)}, len(records), logger, PowertoolsMetrics(metrics))
    return None
