"""The hashes queue, hasher to matcher: a hashes message sent (inline, or its hashes by claim check in S3) and received."""

from __future__ import annotations

import json

from hashmatch.clock import now
from hashmatch.messages.hashes import INLINE_LIMIT, DetailPicturesObject, HashesMessage, Unchecked, claim_check_key, hashes_message_of
from hashmatch.messages.models import HashesMessageModel, MediaHashesModel
from hashmatch.model import MediaHashes
from hashmatch.uploads import Upload


class HashesQueue:
    """The hashes queue (SQS) and the bucket its large hashes wait in (S3), with boto3 clients."""

    def __init__(self, sqs, queue_url: str, s3, bucket: str):
        self.sqs, self.queue_url, self.s3, self.bucket = sqs, queue_url, s3, bucket

    def send(self, upload: Upload, hashes: MediaHashes, detail_pictures: DetailPicturesObject | None = None) -> dict:
        """Queue the upload's hashes (and where its detail pictures are) for the matcher; returns the message body as sent."""
        message = HashesMessage(upload, hashes, now(), detail_pictures).to_dict()
        body = json.dumps(message, separators=(",", ":"))
        if len(body.encode()) > INLINE_LIMIT:
            key = claim_check_key(hashes)
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(message["hashes"], separators=(",", ":")).encode(), ContentType="application/json")
            message["hashes"] = None
            message["hashes_location"] = {"bucket": self.bucket, "key": key}
            body = json.dumps(message, separators=(",", ":"))
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        return message

    def send_unchecked(self, upload: Upload, unchecked: Unchecked) -> dict:
        """Queue an upload the hasher could not hash, for the matcher to record and hold (or allow); returns the message as sent."""
        message = HashesMessage(upload, None, now(), unchecked=unchecked).to_dict()
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message, separators=(",", ":")))
        return message


def read_hashes_message(s3, body: dict | str | bytes) -> HashesMessage:
    """Validate a hashes message (HashesMessageModel; JSON text or parsed), fetching claim-checked hashes.

    Raises pydantic's ValidationError (a ValueError) on a malformed message or claim check.
    """
    message = HashesMessageModel.model_validate(body) if isinstance(body, dict) else HashesMessageModel.model_validate_json(body)
    fetched = None
    if message.unchecked is None and message.hashes is None:
        location = message.hashes_location
        fetched = MediaHashesModel.model_validate_json(s3.get_object(Bucket=location.bucket, Key=location.key)["Body"].read())
    return hashes_message_of(message, fetched)
