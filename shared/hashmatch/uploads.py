"""The upload: an object named by an S3 notification (its bucket, key and version), or a hash-only request.

A value type of the core (no AWS): the hasher, the matcher, the takedown and the audit records
all name an upload by its `upload_id`, which holds its version, so that a later object at the
same key is another upload.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


# A hold reads the whole object for its SHA-256 up to this size (about 10-20 s in Lambda); a larger one is held by its
# version, ETag and size alone (a version's bytes never change), so that digesting cannot time out. A hold that names
# no SHA-256 is taken only for an object larger than this (take_down.py): any other is read for one.
DIGEST_MAX_BYTES = 2 * 1024**3


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
    # Who put it there, as the S3 event says: the principal (IAM user/role, or the platform's service role when
    # its backend uploads on users' behalf), the request's source IP address and its request id. Kept with the evidence.
    uploader: str | None = None
    source_ip: str | None = None
    request_id: str | None = None  # the S3 request that put it (x-amz-request-id), to find it in S3's and CloudTrail's logs

    @staticmethod
    def object_id(bucket: str, key: str, version_id: str | None) -> str:
        base = f"s3://{bucket}/{key}"
        return f"{base}?versionId={version_id}" if version_id else base

    @classmethod
    def from_object(cls, bucket: str, key: str, version_id: str | None = None, **fields) -> "Upload":
        return cls(cls.object_id(bucket, key, version_id), bucket, key, version_id, **fields)

    @property
    def address(self) -> dict:
        """The object's Bucket, Key and VersionId (when known), as S3 requests take them."""
        address = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            address["VersionId"] = self.version_id
        return address

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
