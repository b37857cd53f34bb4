"""S3 object addressing shared by every adapter: a (bucket, key, optional version) request, and what "not there" looks like."""

from __future__ import annotations

from botocore.exceptions import ClientError

# Error codes of an object or version that is not there (HEAD answers with a bare 404).
MISSING_CODES = frozenset({"NoSuchKey", "NoSuchVersion", "404"})
# ... or no longer as it was read: a conditional GET whose ETag no longer matches.
CHANGED_CODES = frozenset({"PreconditionFailed", "412"})


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_missing(error: ClientError) -> bool:
    return error_code(error) in MISSING_CODES


def object_address(bucket: str, key: str, version_id: str | None = None) -> dict:
    """Bucket, Key and, when there is one, VersionId: the arguments of get/head/delete_object and a CopySource."""
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
