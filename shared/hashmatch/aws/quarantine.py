"""Quarantine and restore: move a matched upload into the evidence bucket, and put it back after a complaint.

Every step is idempotent, so a redelivered match message or a retried restore finishes the job
instead of repeating it: the evidence copy is made only when missing, the public copy is removed
by version, and audit records are written once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import is_missing, object_address
from hashmatch.evidence import Evidence, KeyOccupied, NotTheMatchedObject, evidence_key
from hashmatch.uploads import Upload, UploadGone


# Read in pieces this large when checking an upload's SHA-256: the takedown never holds a whole object.
VERIFY_CHUNK_BYTES = 8 * 1024 * 1024
# CopyObject copies at most 5 GiB in one request.
COPY_OBJECT_MAX_BYTES = 5 * 1024**3


# The evidence object's tag that says whether its case is open; the evidence bucket's lifecycle expires only closed ones.
CASE_TAG = "hashmatch-case"
CASE_OPEN = "open"
CASE_CLOSED = "closed"


def evidence_metadata(upload: Upload, match_id: str) -> dict[str, str]:
    """What the evidence object says of itself: where it was, which match took it, and who uploaded it (principal,
    source IP and request id from the S3 event), so that the kept object carries its custody without the audit table.
    S3 metadata is ASCII: the key and the uploader are stored URL-encoded; a field the event left out is "-"."""
    return {
        "upload-bucket": upload.bucket,
        "upload-key": quote(upload.key, safe="/"),
        "upload-version-id": upload.version_id or "null",
        "match-id": match_id,
        "uploader": quote(upload.uploader or "-", safe=":/@"),
        "uploader-ip": upload.source_ip or "-",
        "upload-request-id": upload.request_id or "-",
    }


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

    def verify(self, upload: Upload, sha256: str | None) -> dict:
        """The named version's HEAD, once it is shown to be the object that was hashed: a version is named (versions
        never change), its ETag and size are the message's, and its bytes hash to the message's SHA-256 (read in pieces).
        `sha256` None: an object held without being read for it (too large): its version, ETag and size must match.

        Raises UploadGone when the version is not there, NotTheMatchedObject when it is not the one hashed.
        """
        if not upload.version_id:
            raise NotTheMatchedObject(f"{upload.upload_id}: the message names no version, so the object now at the key may not be the one hashed")
        if sha256 is None and (not upload.etag or upload.size is None):
            raise NotTheMatchedObject(f"{upload.upload_id}: the message carries neither a SHA-256 nor the ETag and size to check")
        if sha256 == "":
            raise NotTheMatchedObject(f"{upload.upload_id}: the message carries no SHA-256 of the upload")
        head = self._head(upload.bucket, upload.key, upload.version_id)
        if head is None:
            raise UploadGone(f"{upload.upload_id} is no longer in {upload.bucket}")
        etag = str(head.get("ETag", "")).strip('"')
        if upload.etag and etag != upload.etag:
            raise NotTheMatchedObject(f"{upload.upload_id}: ETag {etag!r}, not the hashed object's {upload.etag!r}")
        if upload.size is not None and int(head.get("ContentLength", -1)) != upload.size:
            raise NotTheMatchedObject(f"{upload.upload_id}: {head.get('ContentLength')} bytes, not the hashed object's {upload.size}")
        if sha256 is None:
            return head
        digest = hashlib.sha256()
        try:
            body = self.s3.get_object(**upload.address)["Body"]
        except ClientError as error:
            if is_missing(error):
                raise UploadGone(f"{upload.upload_id} is no longer in {upload.bucket}") from None
            raise
        for piece in iter(lambda: body.read(VERIFY_CHUNK_BYTES), b""):
            digest.update(piece)
        if digest.hexdigest() != sha256:
            raise NotTheMatchedObject(f"{upload.upload_id}: its bytes hash to SHA-256 {digest.hexdigest()}, not the hashed object's {sha256}")
        return head

    def quarantine(self, upload: Upload, match_id: str, sha256: str | None) -> Evidence:
        """Copy the upload to the evidence bucket (encrypted, retained), then delete the public copy, once it is
        shown to be the object that was hashed (verify).

        Raises UploadGone when the upload is neither in its bucket nor already in evidence, NotTheMatchedObject
        when the named object is not the one hashed.
        """
        key = evidence_key(upload)
        kept = self._head(self.evidence_bucket, key)
        if kept is None:
            source = self.verify(upload, sha256)
            version_id = self._copy(
                upload.address,
                key,
                int(source.get("ContentLength", 0)),
                MetadataDirective="REPLACE",
                ContentType=source.get("ContentType", "application/octet-stream"),
                Metadata=evidence_metadata(upload, match_id),
                # Open until an operator closes the case (hashmatch admin close-case): only closed cases expire (the lifecycle's tag filter).
                Tagging=f"{CASE_TAG}={CASE_OPEN}",
                TaggingDirective="REPLACE",
                ServerSideEncryption="AES256",
                # A checksum is required to write into a bucket with Object Lock retention.
                ChecksumAlgorithm="SHA256",
            )
            kept_at = datetime.now(timezone.utc)
        else:
            version_id = kept.get("VersionId")
            kept_at = kept["LastModified"]
        self.s3.delete_object(**upload.address)
        retain_until = (kept_at + timedelta(days=self.retention_days)).isoformat(timespec="seconds")
        return Evidence(self.evidence_bucket, key, version_id, retain_until)

    def _copy(self, source: dict, key: str, size: int, **arguments) -> str | None:
        """Copy into the evidence bucket; returns the copy's version. CopyObject takes at most 5 GiB: a larger
        object (an upload held for being too large) is copied in parts (boto3's managed copy, UploadPartCopy)."""
        if size <= COPY_OBJECT_MAX_BYTES:
            return self.s3.copy_object(Bucket=self.evidence_bucket, Key=key, CopySource=source, **arguments).get("VersionId")
        self.s3.copy(source, self.evidence_bucket, key, ExtraArgs={name: value for name, value in arguments.items() if name not in ("MetadataDirective", "TaggingDirective")})
        return self.s3.head_object(Bucket=self.evidence_bucket, Key=key).get("VersionId")

    def legal_hold(self, evidence: Evidence, on: bool) -> None:
        """Put (or lift) a legal hold on kept evidence: held, it is kept past its retention until the hold is lifted."""
        if self._head(evidence.bucket, evidence.key, evidence.version_id) is None:
            raise UploadGone(f"evidence s3://{evidence.bucket}/{evidence.key} is not there (expired after its retention period?)")
        self.s3.put_object_legal_hold(**object_address(evidence.bucket, evidence.key, evidence.version_id), LegalHold={"Status": "ON" if on else "OFF"})

    def close_case(self, evidence: Evidence) -> None:
        """Tag kept evidence as of a closed case: the evidence bucket's lifecycle may expire it once its retention ends."""
        if self._head(evidence.bucket, evidence.key, evidence.version_id) is None:
            raise UploadGone(f"evidence s3://{evidence.bucket}/{evidence.key} is not there (expired after its retention period?)")
        self.s3.put_object_tagging(**object_address(evidence.bucket, evidence.key, evidence.version_id), Tagging={"TagSet": [{"Key": CASE_TAG, "Value": CASE_CLOSED}]})

    def check_restorable(self, upload: Upload, evidence: Evidence, taken_down_at: datetime | None = None) -> dict:
        """The kept object's HEAD, once a restore is shown to be possible: the evidence is there, and nothing uploaded
        to the key since the takedown (`taken_down_at`) is there now: a restore never overwrites a newer object. An
        older version that became current when the matched one was removed is not newer. Raises UploadGone or KeyOccupied."""
        head = self._head(evidence.bucket, evidence.key, evidence.version_id)
        if head is None:
            raise UploadGone(f"evidence s3://{evidence.bucket}/{evidence.key} is not there (expired after its retention period?)")
        current = self._head(upload.bucket, upload.key)
        # HEAD dates are whole seconds: anything from the takedown's second on counts as newer (the safe side).
        if current is not None and (taken_down_at is None or current["LastModified"] >= taken_down_at.replace(microsecond=0)):
            raise KeyOccupied(f"s3://{upload.bucket}/{upload.key} holds an object uploaded since the takedown (version {current.get('VersionId')}); restoring would overwrite it")
        return head

    def restore(self, upload: Upload, evidence: Evidence, taken_down_at: datetime | None = None) -> Upload:
        """Copy the kept object back to the upload's bucket and key; returns the restored object (its new version, ETag and size)."""
        head = self.check_restorable(upload, evidence, taken_down_at)
        restored = self.s3.copy_object(
            Bucket=upload.bucket,
            Key=upload.key,
            CopySource=object_address(evidence.bucket, evidence.key, evidence.version_id),
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType", "application/octet-stream"),
        )
        etag = str(restored.get("CopyObjectResult", {}).get("ETag", "")).strip('"') or None
        return Upload.from_object(upload.bucket, upload.key, restored.get("VersionId"), etag=etag, size=int(head.get("ContentLength", 0)))
