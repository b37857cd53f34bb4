"""Retro-match in a stack: the new references' state from the hash-set table, the query engine, and each match published once.

Publishing once: a retro-match's match_id comes from the upload and the matched references
(retro_match.retro_match_id), and an audit record `retro:<match_id>` / retro-matched is written
after the message is published. A run that finds that record publishes nothing; a crash between
the publish and the record publishes again on the next run (at least once), which the takedown
absorbs (one takedown record per upload). Uploads that matched when they were checked (the
matcher's `matched` record), were taken down or restored after a complaint, or whose bytes are
exempted are skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta

from hashmatch.aws.audit import AuditEvent, AuditTable, now
from hashmatch.aws.hash_messages import HashesMessage
from hashmatch.aws.hash_set.table import KnownItemMatch
from hashmatch.aws.match_messages import match_message, publish_match
from hashmatch.aws.uploads import Upload
from hashmatch.upload_log.retro_match import RetroMatch, RetroMatchRun, retro_match_id
from hashmatch.upload_log.records import FRAMES_TABLE, UPLOADS_TABLE


def retro_record_id(match_id: str) -> str:
    return f"retro:{match_id}"


def first_day(window_days: int, today: date | None = None) -> str:
    """The first log day (dt) a retro-match searches: `window_days` days back, today included."""
    today = today or date.today()
    return (today - timedelta(days=max(window_days - 1, 0))).isoformat()


@dataclass
class PublishOutcome:
    published: list[str] = field(default_factory=list)  # match ids
    already_published: int = 0
    matched_live: int = 0
    taken_down: int = 0
    exempted: int = 0
    not_an_object: int = 0


class RetroMatchPublisher:
    def __init__(self, audit: AuditTable, sns, topic_arn: str, pdq_threshold: int):
        self.audit, self.sns, self.topic_arn, self.pdq_threshold = audit, sns, topic_arn, pdq_threshold

    def publish(self, run: RetroMatchRun) -> PublishOutcome:
        outcome = PublishOutcome()
        for found in run.matches:
            self._publish_one(run, found, outcome)
        return outcome

    def _publish_one(self, run: RetroMatchRun, found: RetroMatch, outcome: PublishOutcome) -> None:
        logged = found.logged
        upload = Upload.from_dict(logged.upload)
        if not upload.is_object:
            outcome.not_an_object += 1
            return
        match_id = retro_match_id(upload.upload_id, [key for key, _ in found.matches])
        if self.audit.get(retro_record_id(match_id), AuditEvent.RETRO_MATCHED):
            outcome.already_published += 1
            return
        if self.audit.get(upload.upload_id, AuditEvent.MATCHED):
            # Matched when it was checked (a reference added while it was on its way, say): already handled.
            outcome.matched_live += 1
            return
        if self.audit.get(upload.upload_id, AuditEvent.TAKEDOWN) or self.audit.get(upload.upload_id, AuditEvent.RESTORED):
            outcome.taken_down += 1
            return
        if logged.hashes.sha256 and self.audit.exemption(logged.hashes.sha256):
            outcome.exempted += 1
            return
        matches = [KnownItemMatch(run.snapshot.describe(key), verdict) for key, verdict in found.matches]
        request = HashesMessage(upload, logged.hashes, logged.hashed_at or logged.checked_at)
        message = match_message(request, matches, self.pdq_threshold, match_id).model_copy(update={"retroactive": True})
        message_id = publish_match(self.sns, self.topic_arn, message)
        self.audit.record(
            retro_record_id(match_id),
            AuditEvent.RETRO_MATCHED,
            upload=upload.upload_id,
            references=[key for key, _ in found.matches],
            sns_message_id=message_id,
            run_id=run.run_id,
            published_at=now(),
        )
        outcome.published.append(match_id)


def download_log(s3, bucket: str, since_day: str, directory: str) -> int:
    """Make `directory` a copy of the log's Parquet files of `since_day` onwards (the DuckDB engine's input): files
    already there are kept, files the bucket no longer has (or another bucket's) are removed. Returns the files fetched."""
    fetched, listed = 0, set()
    paginator = s3.get_paginator("list_objects_v2")
    for table in (UPLOADS_TABLE, FRAMES_TABLE):
        for page in paginator.paginate(Bucket=bucket, Prefix=f"{table}/dt="):
            for item in page.get("Contents", []):
                key = item["Key"]
                day = key.split("/")[1][len("dt=") :]
                if day < since_day or not key.endswith(".parquet"):
                    continue
                path = os.path.join(directory, key)
                listed.add(os.path.normpath(path))
                if os.path.exists(path) and os.path.getsize(path) == item["Size"]:
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                s3.download_file(bucket, key, path)
                fetched += 1
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.normpath(os.path.join(root, name))
            if path not in listed:
                os.remove(path)
    return fetched
