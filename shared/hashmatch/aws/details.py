"""Detail pictures: the hasher's grey frames in S3, for the matcher's local-feature stage.

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

from hashmatch.hashing import FrameFeatures, MediaHashes, features_of_jpeg

KEY_PREFIX = "details/"
JPEG_QUALITY = 85


@dataclass(frozen=True)
class DetailPicture:
    """One picture's place in the details object, and the boxes of pictures found inside it."""

    timestamp: float
    offset: int
    length: int
    insets: tuple[tuple[float, float, float, float], ...] = ()

    def to_dict(self) -> dict:
        data = {"timestamp": round(self.timestamp, 3), "offset": self.offset, "length": self.length}
        if self.insets:
            data["insets"] = [[round(share, 4) for share in box] for box in self.insets]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "DetailPicture":
        insets = tuple(tuple(float(share) for share in box) for box in data.get("insets", ()))
        if any(len(box) != 4 for box in insets):
            raise ValueError("an inset is four shares: top, bottom, left, right")
        return cls(float(data["timestamp"]), int(data["offset"]), int(data["length"]), insets)


@dataclass(frozen=True)
class Details:
    """Where an upload's detail pictures are."""

    bucket: str
    key: str
    pictures: tuple[DetailPicture, ...]

    def to_dict(self) -> dict:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "pictures": [picture.to_dict() for picture in self.pictures],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Details":
        pictures = tuple(DetailPicture.from_dict(picture) for picture in data["pictures"])
        if any(p.offset < 0 or p.length <= 0 for p in pictures):
            raise ValueError("a detail picture needs a non-negative offset and a positive length")
        return cls(str(data["bucket"]), str(data["key"]), pictures)


def details_key(sha256: str) -> str:
    return f"{KEY_PREFIX}{sha256}.jpegs"


def store_details(s3, bucket: str, hashes: MediaHashes) -> Details | None:
    """Write the upload's detail pictures (hash_media(..., keep_details=True)) as one object; None when it has none."""
    if not hashes.details:
        return None
    body, pictures = bytearray(), []
    for detail in hashes.details:
        jpeg = detail.to_jpeg(JPEG_QUALITY)
        pictures.append(DetailPicture(detail.timestamp, len(body), len(jpeg), tuple(tuple(box) for box in detail.insets)))
        body += jpeg
    key = details_key(hashes.sha256)
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body), ContentType="application/octet-stream")
    return Details(bucket, key, tuple(pictures))


def detail_features(s3, details: Details) -> tuple[FrameFeatures, ...]:
    """The local features of every detail picture (needs OpenCV); one GET for all of them."""
    body = s3.get_object(Bucket=details.bucket, Key=details.key)["Body"].read()
    features = []
    for picture in details.pictures:
        if picture.offset + picture.length > len(body):
            raise ValueError(f"s3://{details.bucket}/{details.key} is {len(body)} bytes, shorter than its pictures")
        features.append(features_of_jpeg(picture.timestamp, body[picture.offset : picture.offset + picture.length], picture.insets))
    return tuple(features)
