"""Uploads in S3: the upload an S3 notification names, and the reader that fetches exactly that object.

The Upload value itself is the core's (hashmatch.uploads); this module reads it from S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import CHANGED_CODES, MISSING_CODES, error_code
from hashmatch.errors import MediaError
from hashmatch.vocabulary import RejectReason
from hashmatch.uploads import DIGEST_MAX_BYTES, Upload, UploadGone

# Objects larger than this are written to local storage (/tmp) in pieces and hashed from there, not held in memory.
SPILL_BYTES = 64 * 1024**2
SPILL_PREFIX = "hashmatch-spill-"
READ_CHUNK_BYTES = 8 * 1024**2
# Enough of an object's start to tell media from other files (decode.sniff).
HEAD_BYTES = 512

# S3 error codes that mean the notified object is no longer there as notified: deleted, or
# overwritten since (the overwrite has a notification of its own, so nothing is lost).
_GONE_CODES = MISSING_CODES | CHANGED_CODES


def upload_of_s3_record(record) -> Upload:
    """The upload one record of an S3 event notification names (Powertools S3EventRecord); keys arrive URL-encoded."""
    s3_object = record.s3.get_object
    return Upload.from_object(
        record.s3.bucket.name,
        unquote_plus(s3_object.key),
        s3_object.version_id or None,
        etag=s3_object.etag.strip('"') or None,
        size=s3_object.size,
        uploaded_at=record.event_time,
        uploader=_present(lambda: record.user_identity.principal_id),
        source_ip=_present(lambda: record.request_parameters.source_ip_address),
        request_id=_present(lambda: record.response_elements["x-amz-request-id"]),
    )


def _present(read) -> str | None:
    """An optional field of the S3 event: None where the event leaves it out (test events, older senders)."""
    try:
        return read() or None
    except (KeyError, TypeError):
        return None


def read_upload(s3, upload: Upload, max_bytes: int, spill_bytes: int | None = None, directory: str | None = None) -> tuple[bytes | Path, Upload]:
    """The object's bytes (or, over `spill_bytes`, a file in `directory` holding them) and its identity pinned to the version read.

    Reads the notified version when the event names one, otherwise the current object provided
    its ETag is still the notified one. Raises MediaError(RejectReason.OVERSIZED) before downloading an
    object over the limit (recognised when its first bytes are those of media), UploadGone when the
    object is no longer there as notified. A file returned is the caller's to delete.
    """
    if upload.size is not None and upload.size > max_bytes:
        raise _oversized(s3, upload, upload.size, max_bytes)
    response = _get_notified(s3, upload)
    length = int(response.get("ContentLength", 0))
    body = response["Body"]
    if length > max_bytes:
        head = body.read(HEAD_BYTES)
        body.close()
        raise MediaError(RejectReason.OVERSIZED, f"{length} bytes is over the limit of {max_bytes}", recognised=_is_media(head))
    read = upload.with_version(response.get("VersionId"), response.get("ETag", "").strip('"'), length)
    if spill_bytes is None or length <= spill_bytes:
        data = body.read()
        return data, replace(read, size=len(data))
    handle, name = tempfile.mkstemp(prefix=SPILL_PREFIX, dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            for piece in iter(lambda: body.read(READ_CHUNK_BYTES), b""):
                out.write(piece)
        return Path(name), replace(read, size=os.path.getsize(name))
    except BaseException:
        os.unlink(name)
        raise


def digest_upload(s3, upload: Upload, max_bytes: int = DIGEST_MAX_BYTES) -> tuple[str, Upload]:
    """The SHA-256 of the object's bytes, read in pieces, and its identity pinned to the version read: what a hold
    needs of an upload that could not be hashed, so that the takedown can verify it and a restore exempt it.
    Over `max_bytes` the digest is "" and only the identity is read (HEAD). Raises UploadGone when the object is
    no longer there as notified."""
    if upload.size is not None and upload.size > max_bytes and upload.version_id:
        try:
            head = s3.head_object(**upload.address)
        except ClientError as error:
            if error_code(error) in _GONE_CODES:
                raise UploadGone(f"{upload.upload_id}: {error_code(error)}") from None
            raise
        return "", upload.with_version(head.get("VersionId"), head.get("ETag", "").strip('"'), int(head.get("ContentLength", 0)))
    response = _get_notified(s3, upload)
    digest, size = hashlib.sha256(), 0
    for piece in iter(lambda: response["Body"].read(READ_CHUNK_BYTES), b""):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), upload.with_version(response.get("VersionId"), response.get("ETag", "").strip('"'), size)


def _get_notified(s3, upload: Upload, **extra) -> dict:
    """GetObject of the notified version, or of the current object while its ETag is still the notified one."""
    request = {**upload.address, **extra}
    if not upload.version_id and upload.etag:
        request["IfMatch"] = upload.etag
    try:
        return s3.get_object(**request)
    except ClientError as error:
        if error_code(error) in _GONE_CODES:
            raise UploadGone(f"{upload.upload_id}: {error_code(error)}") from None
        raise


def _oversized(s3, upload: Upload, size: int, max_bytes: int) -> MediaError:
    """The oversized error for an object not downloaded: its first bytes alone are read, to tell media from other files."""
    head = _get_notified(s3, upload, Range=f"bytes=0-{HEAD_BYTES - 1}")["Body"].read()
    return MediaError(RejectReason.OVERSIZED, f"{size} bytes is over the limit of {max_bytes}", recognised=_is_media(head))


def _is_media(head: bytes) -> bool:
    # Imported here: the takedown and restore functions use this module and carry no media libraries.
    from hashmatch.media.sniff import starts_like_media

    return starts_like_media(head)


class UploadsBucket:
    """The uploads bucket as the hasher reads it (hashmatch.usecases.hash_upload.UploadReader): large objects spill to local storage."""

    def __init__(self, s3, spill_directory: str | None = None):
        self.s3 = s3
        self.spill_directory = spill_directory if spill_directory is not None else tempfile.gettempdir()

    def read(self, upload: Upload, max_bytes: int) -> tuple[bytes | Path, Upload]:
        return read_upload(self.s3, upload, max_bytes, SPILL_BYTES, self.spill_directory)

    def digest(self, upload: Upload) -> tuple[str, Upload]:
        return digest_upload(self.s3, upload, DIGEST_MAX_BYTES)

    def sweep(self) -> None:
        """Spill files a killed invocation left would fill the local storage: removed at each start."""
        for left_behind in Path(self.spill_directory).glob(SPILL_PREFIX + "*"):
            if left_behind.is_file():
                left_behind.unlink(missing_ok=True)
