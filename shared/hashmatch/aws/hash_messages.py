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
The matcher reads every message through its model (messages.HashesMessageModel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hashmatch.aws.audit import now
from hashmatch.aws.detail_pictures import DetailPicturesObject
from hashmatch.aws.messages import HASHES_MESSAGE_TYPE, HASHES_MESSAGE_VERSION, HashesMessageModel, MediaHashesModel
from hashmatch.aws.uploads import Upload
from hashmatch.model import MediaHashes
from hashmatch.vocabulary import CannotCheckReason

# Hashes over this many bytes travel through S3 (claim check) and the message carries a pointer.
# An upload frame costs about 0.7 KB (PDQ, 7 dihedral variants, maybe the uncropped hash), so
# this is about 280 frames, 9 minutes of video at one frame per 2 s; it keeps a full batch of 10 messages
# under Lambda's 6 MB invocation payload and fits SQS's older 256 KiB limit as well as its 1 MiB one.
INLINE_LIMIT = 192 * 1024


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


def send_hashes(sqs, queue_url: str, s3, bucket: str, upload: Upload, hashes: MediaHashes, detail_pictures: DetailPicturesObject | None = None) -> dict:
    """Queue the upload's hashes (and where its detail pictures are) for the matcher; returns the message body as sent."""
    message = HashesMessage(upload, hashes, now(), detail_pictures).to_dict()
    body = json.dumps(message, separators=(",", ":"))
    if len(body.encode()) > INLINE_LIMIT:
        key = claim_check_key(hashes)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(message["hashes"], separators=(",", ":")).encode(), ContentType="application/json")
        message["hashes"] = None
        message["hashes_location"] = {"bucket": bucket, "key": key}
        body = json.dumps(message, separators=(",", ":"))
    sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    return message


def send_unchecked(sqs, queue_url: str, upload: Upload, unchecked: Unchecked) -> dict:
    """Queue an upload the hasher could not hash, for the matcher to record and hold (or allow); returns the message as sent."""
    message = HashesMessage(upload, None, now(), unchecked=unchecked).to_dict()
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message, separators=(",", ":")))
    return message


def read_hashes_message(s3, body: dict | str | bytes) -> HashesMessage:
    """Validate a hashes message (HashesMessageModel; JSON text or parsed), fetching claim-checked hashes.

    Raises pydantic's ValidationError (a ValueError) on a malformed message or claim check.
    """
    message = HashesMessageModel.model_validate(body) if isinstance(body, dict) else HashesMessageModel.model_validate_json(body)
    if message.unchecked is not None:
        unchecked = Unchecked(CannotCheckReason(message.unchecked.reason), message.unchecked.detail, message.unchecked.sha256)
        return HashesMessage(Upload(**message.upload.model_dump()), None, message.hashed_at, unchecked=unchecked)
    hashes = message.hashes
    if hashes is None:
        location = message.hashes_location
        hashes = MediaHashesModel.model_validate_json(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())
    detail_pictures = DetailPicturesObject.from_dict(message.details.model_dump()) if message.details else None
    return HashesMessage(
        Upload(**message.upload.model_dump()),
        # MediaHashes stays the core's dataclass; its from_dict fills what the message left out.
        MediaHashes.from_dict(hashes.model_dump(exclude_none=True)),
        message.hashed_at,
        detail_pictures,
    )
