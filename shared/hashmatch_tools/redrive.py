"""Replay a dead-letter queue: move its messages back to the queue that dead-lettered them, once their cause is fixed.

SQS's own redrive (StartMessageMoveTask) is the way in AWS; this does the same with ReceiveMessage,
SendMessageBatch and DeleteMessageBatch, so it also works against the local stack (moto has no
move tasks). A message is deleted from the dead-letter queue only after its copy was accepted,
so an interruption can repeat a message, never lose one; the functions are idempotent.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable


class NotRedrivable(ValueError):
    """The queue is not a dead-letter queue of exactly one queue (and no target was given)."""


@dataclass
class Redriven:
    source: str
    moved: int = 0
    failed: int = 0


def source_of(sqs, dead_letter_queue_url: str) -> str:
    """The one queue whose redrive policy sends to this dead-letter queue."""
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dead_letter_queue_url).get("queueUrls", [])
    if len(sources) != 1:
        found = ", ".join(sources) or "none"
        raise NotRedrivable(
            f"{dead_letter_queue_url} is the dead-letter queue of {len(sources)} queues ({found}): give the target with --to. "
            "(The indexer's and retro-match's dead-letter queues hold stream batch failures, not messages to replay: "
            "run `hashmatch admin hashset reindex`, or invoke RetroMatchFunction with the references' ids.)"
        )
    return sources[0]


def redrive(sqs, dead_letter_queue_url: str, to_queue_url: str | None = None, limit: int | None = None, progress: Callable[[int], None] | None = None) -> Redriven:
    """Move up to `limit` messages (default: all) from the dead-letter queue to its source queue (or `to_queue_url`)."""
    target = to_queue_url or source_of(sqs, dead_letter_queue_url)
    result = Redriven(target)
    while limit is None or result.moved + result.failed < limit:
        wanted = 10 if limit is None else min(10, limit - result.moved - result.failed)
        messages = sqs.receive_message(QueueUrl=dead_letter_queue_url, MaxNumberOfMessages=wanted, WaitTimeSeconds=1, VisibilityTimeout=120, MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        entries = []
        for number, message in enumerate(messages):
            entry = {"Id": str(number), "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        sent = sqs.send_message_batch(QueueUrl=target, Entries=entries)
        accepted = {entry["Id"] for entry in sent.get("Successful", [])}
        done = [{"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]} for number, message in enumerate(messages) if str(number) in accepted]
        if done:
            sqs.delete_message_batch(QueueUrl=dead_letter_queue_url, Entries=done)
        result.moved += len(done)
        result.failed += len(messages) - len(done)
        if progress:
            progress(result.moved)
    return result


def print_progress(moved: int) -> None:
    if sys.stderr.isatty():
        print(f"\rmoved {moved} message(s)", end="", file=sys.stderr, flush=True)
