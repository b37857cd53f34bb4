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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from hashmatch.model import Box, EncodedDetailPicture

if TYPE_CHECKING:  # the hasher writes detail pictures and needs none of the matcher
    from hashmatch.matching.matcher import DetailPictureLoader

KEY_PREFIX = "details/"


@dataclass(frozen=True)
class StoredPicture:
    """Where one detail picture is in the object (a byte range), and the boxes of pictures found inside it."""

    timestamp: float
    offset: int
    length: int
    insets: tuple[Box, ...] = ()

    def to_dict(self) -> dict:
        data = {"timestamp": round(self.timestamp, 3), "offset": self.offset, "length": self.length}
        if self.insets:
            data["insets"] = [[round(share, 4) for share in box] for box in self.insets]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "StoredPicture":
        insets = tuple(tuple(float(share) for share in box) for box in data.get("insets", ()))
        if any(len(box) != 4 for box in insets):
            raise ValueError("an inset is four shares: top, bottom, left, right")
        return cls(float(data["timestamp"]), int(data["offset"]), int(data["length"]), insets)


@dataclass(frozen=True)
class DetailPicturesObject:
    """The S3 object that holds an upload's detail pictures (the hashes message's `details`)."""

    bucket: str
    key: str
    pictures: tuple[StoredPicture, ...]

    def to_dict(self) -> dict:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "pictures": [picture.to_dict() for picture in self.pictures],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "DetailPicturesObject":
        pictures = tuple(StoredPicture.from_dict(picture) for picture in data["pictures"])
        if any(p.offset < 0 or p.length <= 0 for p in pictures):
            raise ValueError("a detail picture needs a non-negative offset and a positive length")
        return cls(str(data["bucket"]), str(data["key"]), pictures)

    def read(self, s3) -> list[EncodedDetailPicture]:
        """Every detail picture, with one GET."""
        body = s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        found = []
        for picture in self.pictures:
            if picture.offset + picture.length > len(body):
                raise ValueError(f"s3://{self.bucket}/{self.key} is {len(body)} bytes, shorter than its pictures")
            found.append(EncodedDetailPicture(picture.timestamp, body[picture.offset : picture.offset + picture.length], picture.insets))
        return found

    def loader(self, s3) -> "DetailPictureLoader":
        """For the Matcher: read only when its local-feature stage runs."""
        return lambda: self.read(s3)


def detail_pictures_key(sha256: str) -> str:
    return f"{KEY_PREFIX}{sha256}.jpegs"


def store_detail_pictures(s3, bucket: str, sha256: str, pictures: Sequence[EncodedDetailPicture]) -> DetailPicturesObject | None:
    """Write an upload's detail pictures (media.hashing.encode_detail_picture) as one object; None when it has none."""
    if not pictures:
        return None
    body, stored = bytearray(), []
    for picture in pictures:
        stored.append(StoredPicture(picture.timestamp, len(body), len(picture.jpeg), tuple(tuple(box) for box in picture.insets)))
        body += picture.jpeg
    key = detail_pictures_key(sha256)
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body), ContentType="application/octet-stream")
    return DetailPicturesObject(bucket, key, tuple(stored))
