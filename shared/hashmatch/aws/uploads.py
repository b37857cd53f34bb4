"""The upload: an object named by an S3 notification, and the S3 reader that fetches exactly that object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import CHANGED_CODES, MISSING_CODES, error_code, object_address
from hashmatch.errors import MediaError, RejectReason

# S3 error codes that mean the notified object is no longer there as notified: deleted, or
# overwritten since (the overwrite has a notification of its own, so nothing is lost).
_GONE_CODES = MISSING_CODES | CHANGED_CODES


class UploadGone(Exception):
    """The notified object was deleted or replaced before it could be read or quarantined."""


@dataclass(frozen=True)
class Upload:
    """An uploaded object, or (bucket None) a hash-only request that names itself by upload_id."""

    upload_id: str
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    uploaded_at: str | None = None

    @staticmethod
    def object_id(bucket: str, key: str, version_id: str | None) -> str:
        base = f"s3://{bucket}/{key}"
        return f"{base}?versionId={version_id}" if version_id else base

    @classmethod
    def from_object(cls, bucket: str, key: str, version_id: str | None = None, **fields) -> "Upload":
        return cls(cls.object_id(bucket, key, version_id), bucket, key, version_id, **fields)

    @classmethod
    def from_s3_record(cls, record) -> "Upload":
        """From one record of an S3 event notification (Powertools S3EventRecord); keys arrive URL-encoded."""
        s3_object = record.s3.get_object
        return cls.from_object(
            record.s3.bucket.name,
            unquote_plus(s3_object.key),
            s3_object.version_id or None,
            etag=s3_object.etag.strip('"') or None,
            size=s3_object.size,
            uploaded_at=record.event_time,
        )

    @property
    def address(self) -> dict:
        """The object's Bucket, Key and VersionId (when known), as S3 requests take them."""
        return object_address(self.bucket, self.key, self.version_id)

    @property
    def is_object(self) -> bool:
        return self.bucket is not None and self.key is not None

    def with_version(self, version_id: str | None, etag: str | None, size: int) -> "Upload":
        """The same object, pinned to the version that was actually read."""
        version_id = version_id if version_id not in (None, "", "null") else None
        return replace(
            self,
            upload_id=self.object_id(self.bucket, self.key, version_id),
            version_id=version_id,
            etag=etag or self.etag,
            size=size,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Upload":
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__ if name in data})


def read_upload(s3, upload: Upload, max_bytes: int) -> tuple[bytes, Upload]:
    """The object's bytes and its identity pinned to the version read.

    Reads the notified version when the event names one, otherwise the current object provided
    its ETag is still the notified one. Raises MediaError(RejectReason.OVERSIZED) before downloading an
    object over the limit, UploadGone when the object is no longer there as notified.
    """
    if upload.size is not None and upload.size > max_bytes:
        raise MediaError(RejectReason.OVERSIZED, f"{upload.size} bytes is over the limit of {max_bytes}")
    request = upload.address
    if not upload.version_id and upload.etag:
        request["IfMatch"] = upload.etag
    try:
        response = s3.get_object(**request)
    except ClientError as error:
        if error_code(error) in _GONE_CODES:
            raise UploadGone(f"{upload.upload_id}: {error_code(error)}") from None
        raise
    length = int(response.get("ContentLength", 0))
    if length > max_bytes:
        response["Body"].close()
        raise MediaError(RejectReason.OVERSIZED, f"{length} bytes is over the limit of {max_bytes}")
    data = response["Body"].read()
    return data, upload.with_version(response.get("VersionId"), response.get("ETag", "").strip('"'), len(data))
