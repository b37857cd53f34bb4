"""The hashes message, hasher to matcher: an upload's identity and MediaHashes, inline or by claim check.

Only the hasher's role may send to the hashes queue (template.yaml: HashesQueuePolicy), since a
message naming an object leads to its takedown; a message without an object (a hash-only
request, bucket null) is still matched, and never leads to a takedown.
An upload the hasher could not hash although it is media (over a limit, damaged, a format it cannot
decode, or one that keeps failing it) travels as `unchecked` (reason, detail) with hashes null, so
that the matcher records and holds it as CannotCheckAction says; a partial hash (the time budget ran
out) travels as hashes with `partial` true, and becomes unchecked in the matcher when it matches nothing.
Uploads the hasher read also carry `details`: where their detail pictures are (detail_pictures.py), for
the local-feature stage; a message without them is matched by PDQ alone.
The matcher reads every message through its model (models.HashesMessageModel); hashmatch.aws.hashes_queue
sends and receives them (SQS, and S3 for the claim check and detail pictures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hashmatch.messages.models import HASHES_MESSAGE_TYPE, HASHES_MESSAGE_VERSION, HashesMessageModel, MediaHashesModel
from hashmatch.model import Box, EncodedDetailPicture, MediaHashes
from hashmatch.uploads import Upload
from hashmatch.vocabulary import CannotCheckReason

# Hashes over this many bytes travel through S3 (claim check) and the message carries a pointer.
# An upload frame costs about 0.7 KB (PDQ, 7 dihedral variants, maybe the uncropped hash), so
# this is about 280 frames, 9 minutes of video at one frame per 2 s; it keeps a full batch of 10 messages
# under Lambda's 6 MB invocation payload and fits SQS's older 256 KiB limit as well as its 1 MiB one.
INLINE_LIMIT = 192 * 1024


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


def pack_detail_pictures(pictures: Sequence[EncodedDetailPicture]) -> tuple[bytes, tuple[StoredPicture, ...]]:
    """An upload's detail pictures as one body, the JPEGs one after another, and where each one is in it."""
    body, stored = bytearray(), []
    for picture in pictures:
        stored.append(StoredPicture(picture.timestamp, len(body), len(picture.jpeg), tuple(tuple(box) for box in picture.insets)))
        body += picture.jpeg
    return bytes(body), tuple(stored)


@dataclass(frozen=True)
class DetailPicturesObject:
    """The object that holds an upload's detail pictures (the hashes message's `details`): where each JPEG is in it."""

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


@dataclass(frozen=True)
class Unchecked:
    """Why an upload could not be checked, and what the hasher saw."""

    reason: CannotCheckReason
    detail: str
    sha256: str  # of the whole object, read in pieces: what the takedown verifies and a restore exempts


@dataclass(frozen=True)
class HashesMessage:
    upload: Upload
    hashes: MediaHashes | None  # None: the upload could not be hashed (unchecked says why)
    hashed_at: str
    detail_pictures: DetailPicturesObject | None = None
    unchecked: Unchecked | None = None

    def to_dict(self) -> dict:
        message = {
            "message_type": HASHES_MESSAGE_TYPE,
            "message_version": HASHES_MESSAGE_VERSION,
            "upload": self.upload.to_dict(),
            "hashed_at": self.hashed_at,
            "hashes": self.hashes.to_dict() if self.hashes is not None else None,
        }
        if self.detail_pictures is not None:
            message["details"] = self.detail_pictures.to_dict()
        if self.unchecked is not None:
            message["unchecked"] = {"reason": str(self.unchecked.reason), "detail": self.unchecked.detail, "sha256": self.unchecked.sha256}
        return message


def claim_check_key(hashes: MediaHashes) -> str:
    # Identical bytes hash identically, so the content digest names the stored hashes.
    return f"uploads/{hashes.sha256}.json"


def hashes_message_of(message: HashesMessageModel, hashes: MediaHashesModel | None = None) -> HashesMessage:
    """The message as the core holds it, from its validated model; `hashes`: claim-checked hashes fetched by the caller."""
    upload = Upload(**message.upload.model_dump())
    if message.unchecked is not None:
        unchecked = Unchecked(CannotCheckReason(message.unchecked.reason), message.unchecked.detail, message.unchecked.sha256)
        return HashesMessage(upload, None, message.hashed_at, unchecked=unchecked)
    hashes = message.hashes if message.hashes is not None else hashes
    if hashes is None:
        raise ValueError("the hashes are claim-checked: fetch them from hashes_location first")
    detail_pictures = DetailPicturesObject.from_dict(message.details.model_dump()) if message.details else None
    # MediaHashes stays the core's dataclass; its from_dict fills what the message left out.
    return HashesMessage(upload, MediaHashes.from_dict(hashes.model_dump(exclude_none=True)), message.hashed_at, detail_pictures)

