"""Reference pictures in S3: small grey JPEGs of known media's frames, for reviewers to see beside a match (ReferencePicturesBucket).

Written when a reference is added (hashmatch_tools.references.add_reference: the frames its local
features come from: one a second, sixteen over a reference shorter than 16 s; shrunk), read by the review desk (`hashmatch review`) to show the
reference's frames at the matched timestamps. Never taken from the public upload. One object a
picture, keyed by the reference and its timestamp in milliseconds: <reference id, URL-quoted>/<ms>.jpg.

The bucket is readable by the reviewers' role only (template.yaml): these are pictures of the
worst content there is, kept so that a person deciding on a match need not fetch the original.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Sequence
from urllib.parse import quote

from hashmatch.model import EncodedDetailPicture

SUFFIX = ".jpg"
# PUTs at once when a reference's pictures are written (boto3 clients are thread-safe).
WRITE_THREADS = 8


def reference_prefix(reference_id: str) -> str:
    return f"{quote(reference_id, safe='')}/"


def reference_picture_key(reference_id: str, timestamp: float) -> str:
    return f"{reference_prefix(reference_id)}{round(timestamp * 1000):010d}{SUFFIX}"


class ReferencePictures:
    """The reference-pictures bucket (a boto3 S3 client and the bucket's name)."""

    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def put(self, reference_id: str, pictures: Sequence[EncodedDetailPicture]) -> int:
        """Write a reference's pictures, replacing any it had (a reference added again); returns how many."""
        keys = {reference_picture_key(reference_id, picture.timestamp): picture for picture in pictures}
        stale = [key for key in self._keys(reference_id) if key not in keys]

        def write(item):
            key, picture = item
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=picture.jpeg, ContentType="image/jpeg")

        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            list(pool.map(write, keys.items()))
        self._delete(stale)
        return len(keys)

    def timestamps(self, reference_id: str) -> list[float]:
        """The timestamps (seconds) of the reference's pictures, in order; empty when it has none (a hash-list entry)."""
        prefix = reference_prefix(reference_id)
        return sorted(int(key[len(prefix) : -len(SUFFIX)]) / 1000 for key in self._keys(reference_id))

    def open(self, reference_id: str, timestamp: float):
        """One picture's bytes as a stream (read as it is sent on, never stored)."""
        return self.s3.get_object(Bucket=self.bucket, Key=reference_picture_key(reference_id, timestamp))["Body"]

    def delete(self, reference_id: str) -> int:
        """Remove a reference's pictures (the reference was removed); returns how many."""
        keys = list(self._keys(reference_id))
        self._delete(keys)
        return len(keys)

    def _keys(self, reference_id: str):
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=reference_prefix(reference_id)):
            for found in page.get("Contents", []):
                if found["Key"].endswith(SUFFIX):
                    yield found["Key"]

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True})
