"""Sync the configured hash-sharing exchanges on a schedule (EventBridge Scheduler): each fetched from its checkpoint (usecases/sync_exchanges.py).

Invoked by the schedule with {} (every enabled exchange), or by an operator with {"exchanges": ["NAME", ...]}.
"""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer

from hashmatch.aws import settings as config
from hashmatch.aws.exchanges import exchange_syncer
from hashmatch.aws.observability import PowertoolsMetrics
from hashmatch.usecases.sync_exchanges import sync_exchanges

settings = config.load(config.SyncExchangesSettings)
logger, tracer, metrics = Logger(), Tracer(), Metrics()
syncer = exchange_syncer(
    boto3.resource("dynamodb"), boto3.client("secretsmanager"), exchange_table=settings.exchange_table, hash_set_table=settings.hash_set_table,
    secret_prefix=settings.exchange_secret_prefix, log=logger, metrics=PowertoolsMetrics(metrics),
)
# Stop fetching this long before Lambda's timeout: the last page's checkpoint is written, the next run resumes there.
MARGIN_SECONDS = 30


class ExchangeSyncFailed(RuntimeError):
    """Some exchange could not be synced (its status says why): the invocation fails, so its Errors metric alarms."""


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event, context) -> dict:
    deadline = syncer.clock.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    outcomes = sync_exchanges(syncer, (event or {}).get("exchanges"), deadline)
    failed = [outcome.exchange for outcome in outcomes if outcome.status == "failed"]
    if failed:
        raise ExchangeSyncFailed(f"not synced: {', '.join(failed)} (hashmatch admin exchange status)")
    return {"exchanges": [outcome.to_dict() for outcome in outcomes]}
