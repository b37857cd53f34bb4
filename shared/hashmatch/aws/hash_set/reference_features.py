"""Reference features in S3: each reference's local features (ORB), for the matcher's second stage.

One binary object per reference (model.feature_frames_to_bytes: stacked uint16 points and 32-byte
descriptors, about 36 KB a frame of 1,000 keypoints, one frame per second of video), at
references/<reference_id>/<sha256>.npz in the reference-features bucket. Objects an earlier version
wrote as JSON (`[FrameFeatures.to_dict(), ...]`, .json, a third larger and slow to parse) are still
read. Not in DynamoDB: a 10-minute reference is about 21 MB, 55 items at the 400 KB limit, read
and paid for on every matcher reload. The meta item of the hash set names the key.

The key carries the media's SHA-256 so that replacing a reference (same reference_id, other
media) writes a new object before the hash set points at it, and the old one is deleted after.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable, Sequence
from urllib.parse import quote

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import is_missing
from hashmatch.model import FrameFeatures, feature_frames_from_bytes, feature_frames_to_bytes

logger = logging.getLogger(__name__)

KEY_PREFIX = "references/"
# Parallel GETs when a matcher loads the whole set (boto3 clients are thread-safe).
LOAD_THREADS = 8


def features_key(reference_id: str, sha256: str) -> str:
    # reference_id is an operator's free text: quoted, so a "/" in it makes no folders.
    return f"{KEY_PREFIX}{quote(reference_id, safe='')}/{sha256}.npz"


class ReferenceFeaturesBucket:
    """The reference-features bucket (a boto3 S3 client and the bucket name)."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def put(self, reference_id: str, sha256: str, frames: Sequence[FrameFeatures]) -> str:
        key = features_key(reference_id, sha256)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=feature_frames_to_bytes(list(frames)), ContentType="application/octet-stream")
        return key

    def get(self, key: str) -> list[FrameFeatures] | None:
        """A reference's features; None when the object is gone (its reference is being replaced or removed)."""
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing(error):
                return None
            raise
        if key.endswith(".json"):
            return [FrameFeatures.from_dict(frame) for frame in json.loads(body)]
        return feature_frames_from_bytes(body)

    def _readable(self, key: str) -> list[FrameFeatures] | None:
        try:
            return self.get(key)
        except ValueError as error:
            # One damaged object must not stop the matcher: its reference is matched by PDQ alone
            # until the features are written again (hashmatch admin add-reference).
            logger.error("reference features unreadable, left out of the second stage", extra={"features_key": key, "error": str(error)})
            return None

    def get_many(self, keys: Iterable[str]) -> dict[str, list[FrameFeatures] | None]:
        """Many references' features; a key whose object is gone or unreadable is None (the latter logged)."""
        keys = list(keys)
        if len(keys) <= 1:
            return {key: self._readable(key) for key in keys}
        with ThreadPoolExecutor(max_workers=min(LOAD_THREADS, len(keys))) as pool:
            return dict(zip(keys, pool.map(self._readable, keys)))

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)
