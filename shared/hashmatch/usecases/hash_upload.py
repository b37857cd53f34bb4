"""Hashing an upload: the hasher's use case. One notified object in; its hashes (and detail pictures) on their way to
the matcher, or a clear outcome for what cannot be hashed.

Bad input is an outcome, not a failure: empty, not media, damaged and oversized objects are logged,
counted by reason and recorded, never retried; media among them goes on to the matcher as
unchecked, so that it is held rather than left online unchecked. An upload whose deliveries keep
ending without an outcome (it kills the hasher) is sent on as unchecked too, before the queue would
dead-letter it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Callable, Protocol, Sequence

from hashmatch.audit import AuditEvent, AuditTrail
from hashmatch.errors import MediaError
from hashmatch.vocabulary import RejectReason
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.media.limits import Limits
from hashmatch.messages.hashes import DetailPicturesObject, Unchecked
from hashmatch.model import EncodedDetailPicture, MediaHashes
from hashmatch.uploads import Upload, UploadGone
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.vocabulary import CannotCheckReason, Role

# A redelivered upload whose earlier attempts ended this many times without an outcome is not tried again.
MAX_UNFINISHED_ATTEMPTS = 2
# UploadsQueue's maxReceiveCount: the last delivery before the dead-letter queue holds the upload instead of
# trying once more, so whatever keeps failing (a crash, an exception, a batch-mate) still ends with an outcome.
MAX_DELIVERIES = 5
# Kept back from each upload's share of the invocation's time: storing detail pictures and sending the message.
SECONDS_AFTER_HASHING = 20.0
# PDQ only: the verdict uses PDQ, and imagehash's SciPy and PyWavelets (about 180 MB) would
# take the function past Lambda's 250 MB package limit; so would OpenCV (about 150 MB) for
# the local features, which are therefore not computed here: the hasher keeps the grey frames
# they come from (an upload's detail pictures) and stores them for the matcher, which has OpenCV.
EXTRA_SIGNALS: tuple[str, ...] = ()


class HashingFailed(Exception):
    """Hashing the bytes raised something other than MediaError (a decoder's bug, a format it trips over)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class HashOutcome(StrEnum):
    """How hashing one upload ended (logged and counted)."""

    HASHED = "hashed"  # its hashes are on their way to the matcher
    HASHED_IN_PART = "hashed-in-part"  # the time budget ran out first: the part hashed is on its way (the matcher holds it if it matches nothing)
    REJECTED = "rejected"  # not media (empty, text, audio): recorded, nothing more
    UNCHECKED = "unchecked"  # media that cannot be hashed (over a limit, damaged, failing the hasher): sent on to be held
    GONE = "gone"  # deleted or replaced before it could be read


class UploadReader(Protocol):
    """The uploads bucket (hashmatch.aws.upload_objects)."""

    def read(self, upload: Upload, max_bytes: int) -> tuple[bytes | Path, Upload]:
        """The object's bytes (or a local file holding them, the caller's to delete) and its identity pinned to the
        version read. Raises MediaError (oversized) or UploadGone."""

    def digest(self, upload: Upload) -> tuple[str, Upload]:
        """Its SHA-256 read in pieces ("" when too large to read), pinned to the version read. Raises UploadGone."""


class HashesSender(Protocol):
    """The hashes queue to the matcher (hashmatch.aws.hashes_queue.HashesQueue)."""

    def send(self, upload: Upload, hashes: MediaHashes, detail_pictures: DetailPicturesObject | None = None) -> dict: ...

    def send_unchecked(self, upload: Upload, unchecked: Unchecked) -> dict: ...


class Attempts(Protocol):
    """Counts the attempts at an upload that end without an outcome (hashmatch.aws.hashing_attempts)."""

    def start(self, upload_id: str) -> int:
        """Mark an attempt begun; returns how many earlier ones never ended."""

    def end(self, upload_id: str) -> None: ...


class Budget:
    """One invocation's limits: pixels, frames and duration from its memory and time (Limits.for_budget), and a deadline
    per upload, its share of the time left, so that a long video is hashed in part, not timed out."""

    def __init__(self, memory_mb: int, remaining_seconds: Callable[[], float], records: int, max_bytes: int):
        self.remaining_seconds = remaining_seconds
        self.left = max(1, records)
        self.limits = Limits.for_budget(memory_mb, remaining_seconds(), max_bytes)

    @classmethod
    def of_lambda_context(cls, context, records: int, max_bytes: int) -> "Budget":
        """From a Lambda context: its memory and the time it has left."""
        return cls(int(context.memory_limit_in_mb), lambda: context.get_remaining_time_in_millis() / 1000.0, records, max_bytes)

    def deadline(self) -> float:
        """The next upload's deadline (a time.monotonic() value): its share of the time left."""
        seconds = self.remaining_seconds() - SECONDS_AFTER_HASHING
        share = max(1.0, seconds / self.left)
        self.left = max(1, self.left - 1)
        return time.monotonic() + share


@dataclass(frozen=True)
class Hasher:
    """What hashing an upload needs."""

    uploads: UploadReader
    store_detail_pictures: Callable[[str, Sequence[EncodedDetailPicture]], DetailPicturesObject | None]
    matcher_queue: HashesSender
    attempts: Attempts
    audit: AuditTrail
    max_upload_bytes: int
    log: Log
    metrics: Metrics
    # The deployment's secret that keys which instants of an upload are sampled (media/schedule.py): the bytes, or what reads
    # them once (aws/sampling_secret.py); None: the public offline secret.
    sampling_secret: bytes | Callable[[], bytes] | None = None


def hash_upload(upload: Upload, receive_count: int, hasher: Hasher, budget: Budget | None = None) -> HashOutcome:
    """Hash the upload, or, when its deliveries keep ending without an outcome, send it on as unchecked (failed).

    An attempt that raises is retried (a throttled or briefly failing service) but counts as unfinished like one
    that killed the invocation: marks are cleared only once the upload has an outcome.
    """
    if receive_count >= MAX_DELIVERIES:
        outcome = cannot_check(upload, CannotCheckReason.FAILED, f"delivery {receive_count} of {MAX_DELIVERIES}: every earlier attempt ended without an outcome", hasher)
        hasher.attempts.end(upload.upload_id)
        return outcome
    if receive_count > 1:
        # A redelivery: this upload may be the one that ended the earlier invocations (hashing_attempts.py).
        unfinished = hasher.attempts.start(upload.upload_id)
        if unfinished >= MAX_UNFINISHED_ATTEMPTS:
            detail = f"hashing ended without an outcome {unfinished} times (out of memory, time or an error); delivery {receive_count}"
            outcome = cannot_check(upload, CannotCheckReason.FAILED, detail, hasher)
            hasher.attempts.end(upload.upload_id)
            return outcome
    try:
        limits = budget.limits if budget is not None else Limits(max_bytes=hasher.max_upload_bytes)
        outcome = _hash_once(upload, hasher, limits, budget.deadline() if budget is not None else None)
    except MemoryError:
        # Survived this time, but it would not fit on a retry either.
        outcome = cannot_check(upload, CannotCheckReason.FAILED, "hashing ran out of memory", hasher)
    except HashingFailed as failed:
        # The bytes were read and hashing them raised: they would raise again on every delivery (about 90 minutes
        # online at three deliveries of 1,800 s). Held at once, on the first failure.
        hasher.log.error("hashing failed", upload_id=upload.upload_id, error=failed.detail)
        outcome = cannot_check(upload, CannotCheckReason.FAILED, f"hashing failed: {failed.detail}", hasher)
    if receive_count > 1:
        hasher.attempts.end(upload.upload_id)
    return outcome


def _hash_once(upload: Upload, hasher: Hasher, limits: Limits, deadline: float | None) -> HashOutcome:
    started = time.perf_counter()
    spilled = None
    try:
        data, upload = hasher.uploads.read(upload, hasher.max_upload_bytes)
        spilled = data if not isinstance(data, bytes) else None
        # Read before the bytes are hashed: a secret that cannot be read (Secrets Manager unreachable) is not the bytes'
        # doing, so it fails the record for the queue to deliver again rather than holding the upload.
        secret = _secret(hasher)
        try:
            hashes = hash_media(data, role=Role.UPLOAD, limits=limits, extra_signals=EXTRA_SIGNALS, keep_detail_pictures=True, deadline=deadline, sampling_secret=secret)
        except (MediaError, MemoryError):
            raise
        except Exception as error:  # noqa: BLE001 - any other failure of the decoders on these bytes is the bytes' doing
            raise HashingFailed(f"{type(error).__name__}: {error}"[:500]) from error
    except MediaError as error:
        return reject(upload, error, hasher)
    except UploadGone as gone:
        return gone_before_hashing(upload, gone, hasher)
    finally:
        if spilled is not None:
            spilled.unlink(missing_ok=True)
    if hashes.partial:
        # The matcher holds it when the part hashed matches nothing (CannotCheckReason.PARTIAL).
        hasher.metrics.count("UploadsHashedInPart")
    seconds = time.perf_counter() - started
    pictures = [encode_detail_picture(picture) for picture in hashes.detail_pictures]
    detail_pictures = hasher.store_detail_pictures(hashes.sha256, pictures)
    detail_pictures_seconds = time.perf_counter() - started - seconds
    message = hasher.matcher_queue.send(upload, hashes, detail_pictures)
    hasher.metrics.count("UploadsHashed")
    hasher.metrics.seconds("HashingSeconds", seconds)
    hasher.metrics.seconds("DetailPicturesSeconds", detail_pictures_seconds)
    hasher.log.info(
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
    return HashOutcome.HASHED_IN_PART if hashes.partial else HashOutcome.HASHED


def _secret(hasher: Hasher) -> bytes | None:
    return hasher.sampling_secret() if callable(hasher.sampling_secret) else hasher.sampling_secret


def cannot_check(upload: Upload, reason: CannotCheckReason, detail: str, hasher: Hasher) -> HashOutcome:
    """Media the hasher cannot hash goes on to the matcher, which records it and holds it or lets it be (CannotCheckAction)."""
    try:
        sha256, upload = hasher.uploads.digest(upload)
    except UploadGone as gone:
        return gone_before_hashing(upload, gone, hasher)
    hasher.log.warning("upload cannot be checked", upload_id=upload.upload_id, reason=str(reason), detail=detail)
    hasher.metrics.count("UploadsUnchecked", dimension=("reason", str(reason)))
    hasher.matcher_queue.send_unchecked(upload, Unchecked(reason, detail, sha256))
    return HashOutcome.UNCHECKED


def gone_before_hashing(upload: Upload, gone: UploadGone, hasher: Hasher) -> HashOutcome:
    hasher.log.info("upload gone before hashing", upload_id=upload.upload_id, detail=str(gone))
    hasher.metrics.count("UploadsGone")
    hasher.audit.record(upload.upload_id, AuditEvent.GONE, stage="hashing", detail=str(gone), bucket=upload.bucket, key=upload.key)
    return HashOutcome.GONE


def reject(upload: Upload, error: MediaError, hasher: Hasher) -> HashOutcome:
    """Bad input is an outcome, not a failure: logged, counted by reason, recorded, never retried.
    Input recognised as media goes on to the matcher as unchecked, so that it is not left online unchecked."""
    hasher.log.warning("upload rejected", upload_id=upload.upload_id, reason=error.reason, detail=str(error))
    hasher.metrics.count("UploadsRejected")
    hasher.metrics.count("UploadsRejected", dimension=("reason", str(error.reason)))
    hasher.audit.record(upload.upload_id, AuditEvent.REJECTED, reason=error.reason, detail=str(error), recognised=error.recognised, bucket=upload.bucket, key=upload.key, size=upload.size, uploaded_at=upload.uploaded_at)
    # An object too large to read is held whatever its first bytes say: they prove nothing about the rest.
    if error.recognised or error.reason == RejectReason.OVERSIZED:
        return cannot_check(upload, CannotCheckReason.of_rejection(error.reason), str(error), hasher)
    return HashOutcome.REJECTED

