"""The buckets' settings the controls watch reads (hashmatch.usecases.watch_controls.ControlReader)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import error_code
from hashmatch.usecases.watch_controls import ControlSettings


class BucketControls:
    """Versioning of the uploads and snapshot buckets and the evidence bucket's Object Lock (a boto3 S3 client)."""

    def __init__(self, s3, uploads_bucket: str, snapshot_bucket: str, evidence_bucket: str):
        self.s3 = s3
        self.uploads_bucket, self.snapshot_bucket, self.evidence_bucket = uploads_bucket, snapshot_bucket, evidence_bucket

    def read(self) -> ControlSettings:
        return ControlSettings(self._versioning(self.uploads_bucket), self._versioning(self.snapshot_bucket), self._default_retention())

    def _versioning(self, bucket: str) -> str | None:
        return self.s3.get_bucket_versioning(Bucket=bucket).get("Status")

    def _default_retention(self) -> dict | None:
        try:
            configuration = self.s3.get_object_lock_configuration(Bucket=self.evidence_bucket)["ObjectLockConfiguration"]
        except ClientError as error:
            if error_code(error) == "ObjectLockConfigurationNotFoundError":
                return None
            raise
        return configuration.get("Rule", {}).get("DefaultRetention")
