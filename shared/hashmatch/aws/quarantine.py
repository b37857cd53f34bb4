"""Quarantine and restore: move a matched upload into the evidence bucket, and put it back after a complaint.

Every step is idempotent, so a redelivered match message or a retried restore finishes the job
instead of repeating it: the evidence copy is made only when missing, the public copy is removed
by version, and audit records are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import is_missing, object_address
from hashmatch.aws.uploads import Upload, UploadGone


@dataclass(frozen=True)
class Evidence:
    bucket: str
    key: str
    version_id: str | None
    retain_until: str


def evidence_key(upload: Upload) -> str:
    """Where an upload is kept: by bucket and version, so two versions of one key never collide."""
    return f"{upload.bucket}/{upload.version_id or 'null'}/{upload.key}"


class Quarantine:
    def __init__(self, s3, evidence_bucket: str, retention_days: int = 0):
        # retention_days only dates the audit record's retain_until; Object Lock enforces it.
        self.s3 = s3
        self.evidence_bucket = evidence_bucket
        self.retention_days = retention_days

    def _head(self, bucket: str, key: str, version_id: str | None = None) -> dict | None:
        try:
            return self.s3.head_object(**object_address(bucket, key, version_id))
        except ClientError as error:
            if is_missing(error):
                return None
            raise

    def quarantine(self, upload: Upload, match_id: str) -> Evidence:
        """Copy the upload to the evidence bucket (encrypted, retained), then delete the public copy.

        Raises UploadGone when the upload is neither in its bucket nor already in evidence.
        """
        key = evidence_key(upload)
        kept = self._head(self.evidence_bucket, key)
        if kept is None:
            source = self._head(upload.bucket, upload.key, upload.version_id)
            if source is None:
                raise UploadGone(f"{upload.upload_id} is no longer in {upload.bucket}")
            copied = self.s3.copy_object(
                Bucket=self.evidence_bucket,
                Key=key,
                CopySource=upload.address,
                MetadataDirective="REPLACE",
                ContentType=source.get("ContentType", "application/octet-stream"),
                Metadata={
                    # S3 metadata is ASCII: the key is stored URL-encoded.
                    "upload-bucket": upload.bucket,
                    "upload-key": quote(upload.key, safe="/"),
                    "upload-version-id": upload.version_id or "null",
                    "match-id": match_id,
                },
                ServerSideEncryption="AES256",
                # A checksum is required to write into a bucket with Object Lock retention.
                ChecksumAlgorithm="SHA256",
            )
            version_id = copied.get("VersionId")
            kept_at = datetime.now(timezone.utc)
        else:
            version_id = kept.get("VersionId")
            kept_at = kept["LastModified"]
        self.s3.delete_object(**upload.address)
        retain_until = (kept_at + timedelta(days=self.retention_days)).isoformat(timespec="seconds")
        return Evidence(self.evidence_bucket, key, version_id, retain_until)

    def restore(self, upload: Upload, evidence: Evidence) -> str | None:
        """Copy the kept object back to the upload's bucket and key; returns the new version id."""
        head = self._head(evidence.bucket, evidence.key, evidence.version_id)
        if head is None:
            raise UploadGone(f"evidence s3://{evidence.bucket}/{evidence.key} is not there (expired after its retention period?)")
        restored = self.s3.copy_object(
            Bucket=upload.bucket,
            Key=upload.key,
            CopySource=object_address(evidence.bucket, evidence.key, evidence.version_id),
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType", "application/octet-stream"),
        )
        return restored.get("VersionId")
