"""Detail pictures in S3: the hasher's grey frames (JPEG), for the matcher's local-feature stage.

The Lambda hasher cannot carry OpenCV beside PyAV (package size), so it stores the grey frames
the local features are taken from (JPEG; one per 2 s of video, at most 16, one for a picture)
and the hashes message says where they are, with the boxes of any picture found inside each
(picture-in-picture), whose keypoints the features add. The matcher, which has OpenCV, reads
them only when PDQ matched nothing.

All pictures of one upload go into one object, the JPEGs one after another, and the message
gives each picture's byte range: one PUT per upload instead of up to 16 (S3 charges per request:
a video's 12-16 PUTs would cost more than the hasher's compute for it) and one GET for the
matcher. The key is the upload's SHA-256, so identical bytes share one object.

The object's metadata says where each picture is too ("pictures": timestamp:offset:length, separated
by ";"), so that a reviewer's desk (`hashmatch review`), which has only the match or hold message,
can show them one at a time (a ranged GET each) without the hashes message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import is_missing
from hashmatch.messages.hashes import DetailPicturesObject, StoredPicture, pack_detail_pictures
from hashmatch.model import EncodedDetailPicture

if TYPE_CHECKING:  # the hasher writes detail pictures and needs none of the matcher
    from hashmatch.matching.matcher import DetailPictureLoader

KEY_PREFIX = "details/"
# The object metadata that lists its pictures (S3 keeps 2 KB of metadata: 16 pictures take about 400 bytes).
INDEX_METADATA = "pictures"


def read_detail_pictures(s3, stored: DetailPicturesObject) -> list[EncodedDetailPicture]:
    """Every detail picture of the object, with one GET."""
    body = s3.get_object(Bucket=stored.bucket, Key=stored.key)["Body"].read()
    found = []
    for picture in stored.pictures:
        if picture.offset + picture.length > len(body):
            raise ValueError(f"s3://{stored.bucket}/{stored.key} is {len(body)} bytes, shorter than its pictures")
        found.append(EncodedDetailPicture(picture.timestamp, body[picture.offset : picture.offset + picture.length], picture.insets))
    return found


def detail_picture_loader(s3, stored: DetailPicturesObject) -> "DetailPictureLoader":
    """For the Matcher: read only when its local-feature stage runs."""
    return lambda: read_detail_pictures(s3, stored)


def detail_pictures_key(sha256: str) -> str:
    return f"{KEY_PREFIX}{sha256}.jpegs"


def store_detail_pictures(s3, bucket: str, sha256: str, pictures: Sequence[EncodedDetailPicture]) -> DetailPicturesObject | None:
    """Write an upload's detail pictures (media.hashing.encode_detail_picture) as one object; None when it has none."""
    if not pictures:
        return None
    body, stored = pack_detail_pictures(pictures)
    key = detail_pictures_key(sha256)
    index = ";".join(f"{picture.timestamp:.3f}:{picture.offset}:{picture.length}" for picture in stored)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream", Metadata={INDEX_METADATA: index})
    return DetailPicturesObject(bucket, key, stored)


def stored_detail_pictures(s3, bucket: str, sha256: str) -> DetailPicturesObject | None:
    """Where an upload's detail pictures are, from the object's own index (its metadata); None when it has none
    (the upload could not be decoded, or its pictures expired after 15 days)."""
    key = detail_pictures_key(sha256)
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing(error):
            return None
        raise
    index = head.get("Metadata", {}).get(INDEX_METADATA, "")
    pictures = []
    for entry in filter(None, index.split(";")):
        timestamp, offset, length = entry.split(":")
        pictures.append(StoredPicture(float(timestamp), int(offset), int(length)))
    return DetailPicturesObject(bucket, key, tuple(pictures)) if pictures else None


def open_detail_picture(s3, stored: DetailPicturesObject, number: int):
    """One detail picture's bytes as a stream (a ranged GET; the body is read as it is sent, never stored)."""
    picture = stored.pictures[number]
    return s3.get_object(Bucket=stored.bucket, Key=stored.key, Range=f"bytes={picture.offset}-{picture.offset + picture.length - 1}")["Body"]
