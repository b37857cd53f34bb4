"""The upload hash log's queue (SQS), matcher to log writer: a batch's checked uploads, sent after the batch.

A failed send is logged and counted (LogMessagesFailed, which has an alarm), never retried by failing the
batch: that would publish its matches again.
"""

from __future__ import annotations

import json

from hashmatch.model import MediaHashes
from hashmatch.upload_log.records import log_messages, send_batches
from hashmatch.uploads import Upload
from hashmatch.usecases.ports import Log, Metrics

# SendMessageBatch takes 256 KiB in all; a log message is at most about 165 KB (records.MAX_FRAME_BYTES_PER_MESSAGE).
LOG_BATCH_BYTES = 240 * 1024


class UploadLogOutbox:
    """The log messages of the batch being matched (hashmatch.usecases.check_upload.UploadLog), flushed after it."""

    def __init__(self, sqs, queue_url: str, log: Log, metrics: Metrics):
        self.sqs, self.queue_url, self.log, self.metrics = sqs, queue_url, log, metrics
        self.pending: list[dict] = []

    def add(self, upload: Upload, hashes: MediaHashes, hashed_at: str, checked_at: str) -> None:
        self.pending.extend(log_messages(upload.to_dict(), hashes, hashed_at, checked_at))

    def flush(self) -> None:
        """Send the pending messages, at most ten and LOG_BATCH_BYTES to a call."""
        bodies, failed = [json.dumps(m, separators=(",", ":")) for m in self.pending], 0
        self.pending.clear()
        for call in send_batches(bodies, count=10, size=LOG_BATCH_BYTES):
            try:
                entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(call)]
                failed += len(self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", []))
            except Exception as error:  # noqa: BLE001 - any SDK or network error: count it, keep the batch's outcome
                self.log.error("upload log messages not sent", messages=len(call), error=str(error))
                failed += len(call)
        if failed:
            self.metrics.count("LogMessagesFailed", failed)
