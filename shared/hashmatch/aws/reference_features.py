"""Reference features in S3: each reference's local features (ORB), for the matcher's second stage.

One JSON object per reference, `[FrameFeatures.to_dict(), ...]` (about 36 KB a frame, one frame
per second of video), at references/<reference_id>/<sha256>.json in the reference-features
bucket. Not in DynamoDB: a 10-minute reference would be 21 MB, 55 items at the 400 KB limit,
read and paid for on every matcher reload. The meta item of the hash set names the key.

The key carries the media's SHA-256 so that replacing a reference (same reference_id, other
media) writes a new object before the hash set points at it, and the old one is deleted after.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence
from urllib.parse import quote

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import is_missing
from hashmatch.model import FrameFeatures

KEY_PREFIX = "references/"
# Parallel GETs when a matcher loads the whole set (boto3 clients are thread-safe).
LOAD_THREADS = 8


def features_key(reference_id: str, sha256: str) -> str:
    # reference_id is an operator's free text: quoted, so a "/" in it makes no folders.
    return f"{KEY_PREFIX}{quote(reference_id, safe='')}/{sha256}.json"


class ReferenceFeaturesBucket:
    """The reference-features bucket (a boto3 S3 client and the bucket name)."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def put(self, reference_id: str, sha256: str, frames: Sequence[FrameFeatures]) -> str:
        key = features_key(reference_id, sha256)
        body = json.dumps([frame.to_dict() for frame in frames], separators=(",", ":")).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def get(self, key: str) -> list[FrameFeatures] | None:
        """A reference's features; None when the object is gone (its reference is being replaced or removed)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing(error):
                return None
            raise
        return [FrameFeatures.from_dict(frame) for frame in json.loads(body)]

    def get_many(self, keys: Iterable[str]) -> dict[str, list[FrameFeatures] | None]:
        keys = list(keys)
        if len(keys) <= 1:
            return {key: self.get(key) for key in keys}
        with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(keys))) as pool:
            return dict(zip(keys, pool.map(self.get, keys)))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
