"""The messages at the pipeline's edges as pydantic models; schemas/ holds the JSON Schema each generates (model_json_schema).

  HashesMessageModel   hasher -> matcher          schemas/hashes-message.schema.json
  MatchMessage         matcher -> SNS -> takedown schemas/match-message.schema.json
  HoldMessage          matcher -> SNS -> takedown schemas/hold-message.schema.json (an upload that could not be checked)
  RestoreRequest       operator -> RestoreUploadFunction (and `admin restore`)

The models are strict (a number is not a string, "yes" is not true); the schemas are generated from
them (`python -m hashmatch_tools.schemas`), and tests/unit/test_messages.py checks that schemas/
holds what they generate and that events/ conform.

This module needs pydantic only, never numpy: the takedown and restore functions, whose package is
the shared layer alone, import it. The Lambda envelopes around them (SQS, SNS) are
hashmatch.aws.envelopes. The closed sets come from hashmatch.vocabulary
(stdlib only) as Literal types of their values: strict models take plain strings from JSON and
dicts alike, and the matcher passes the enum members, which are those strings.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hashmatch.clock import now
from hashmatch.vocabulary import Action, CannotCheckReason, MatchRule, MediaKind, Stage

HASHES_MESSAGE_TYPE = "hashmatch.hashes"
HASHES_MESSAGE_VERSION = 1
MATCH_MESSAGE_TYPE = "hashmatch.match"
# 2: matches by local features (signal_type "orb", distance null, inliers).
# 3: exact matches of the whole file to hash-list entries (signal_type "md5" or "sha256", distance 0).
# 4: retroactive (true for a match found in the upload hash log after the hash was added).
# 5: the upload's uploader and source_ip (from the S3 event); hold messages share the topic (message_type hashmatch.hold).
# 6: each match's rule (query_share, reference_share or segment: an excerpt played through; verdict.py).
MATCH_MESSAGE_VERSION = 6
# SNS takes 256 KB; these caps keep a match message well below it whatever the video or the hash set.
MAX_MATCHES = 100
MAX_SEGMENTS = 100

ActionValue = Literal[tuple(str(action) for action in Action)]
StageValue = Literal[tuple(str(stage) for stage in Stage)]
MatchRuleValue = Literal[tuple(str(rule) for rule in MatchRule)]
MediaKindValue = Literal[tuple(str(kind) for kind in MediaKind)]
CannotCheckReasonValue = Literal[tuple(str(reason) for reason in CannotCheckReason)]
HOLD_MESSAGE_TYPE = "hashmatch.hold"
HOLD_MESSAGE_VERSION = 1

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
PdqHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")]  # empty for a hash-only request
Md5Hex = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{32})?$")]
Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
Seconds = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]
Share = Annotated[float, Field(ge=0, le=1)]
# [first, last] seconds. A list, not a tuple: strict validation of a Python dict takes JSON's arrays as lists.
Segment = Annotated[list[Seconds], Field(min_length=2, max_length=2)]
Segments = Annotated[list[Segment], Field(max_length=MAX_SEGMENTS)]


class _Model(BaseModel):
    """Strict and immutable; unknown fields ignored, as the schema allows them."""

    model_config = ConfigDict(strict=True, frozen=True)


class _Closed(_Model):
    """A schema object with additionalProperties false."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ hashes message


class UploadIdentity(_Model):
    """The hashes message's `upload`: an object, or (bucket null) a hash-only request named by upload_id alone."""

    upload_id: NonEmpty
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: Count | None = None
    uploaded_at: str | None = None
    uploader: str | None = None
    source_ip: str | None = None


class FrameHashesModel(_Model):
    timestamp: Seconds = 0.0
    pdq: PdqHex
    quality: Annotated[int, Field(ge=0, le=100)] = 100
    variants: list[PdqHex] = []
    signals: dict[str, str] = {}


class MediaHashesModel(_Model):
    """model.MediaHashes as it travels (MediaHashes.to_dict()); hash_messages.py converts it."""

    kind: MediaKindValue
    format: str = ""
    duration: Seconds = 0.0
    width: int = 0
    height: int = 0
    # Empty for a hash-only request that has no whole file.
    md5: Md5Hex = ""
    sha256: Sha256Hex = ""
    role: Literal["upload"] = "upload"
    frames_sampled: Count | None = None  # absent: as many as frames
    frames: list[FrameHashesModel]
    # True when the time budget ran out first: the frames cover the first covered_seconds of the media.
    partial: bool = False
    covered_seconds: Seconds | None = None


class StoredPictureModel(_Closed):
    timestamp: Seconds
    offset: Count
    length: Annotated[int, Field(ge=1)]
    insets: list[Annotated[list[Share], Field(min_length=4, max_length=4)]] = []


class DetailPicturesModel(_Closed):
    """Where the upload's detail pictures are (detail_pictures.DetailPicturesObject)."""

    bucket: NonEmpty
    key: NonEmpty
    pictures: Annotated[list[StoredPictureModel], Field(min_length=1, max_length=16)]


class HashesLocation(_Model):
    bucket: str
    key: str


class UncheckedModel(_Closed):
    """Why the hasher could not hash the upload (media it recognised, over a limit, damaged, or failing it)."""

    reason: CannotCheckReasonValue
    detail: str
    sha256: Sha256Hex  # empty when the object was too large to read for it (uploads.DIGEST_MAX_BYTES)


class HashesMessageModel(_Model):
    """What the matcher reads from the hashes queue; `hashes` null means they wait in S3 at `hashes_location` (claim check),
    or, with `unchecked`, that the upload could not be hashed (the matcher records it and holds or allows it)."""

    message_type: Literal["hashmatch.hashes"] = HASHES_MESSAGE_TYPE
    message_version: Literal[1] = HASHES_MESSAGE_VERSION
    upload: UploadIdentity
    hashed_at: str = Field(default_factory=now)
    hashes: MediaHashesModel | None
    hashes_location: HashesLocation | None = None
    details: DetailPicturesModel | None = None
    unchecked: UncheckedModel | None = None

    @model_validator(mode="after")
    def _hashes_somewhere(self) -> "HashesMessageModel":
        if self.hashes is None and self.hashes_location is None and self.unchecked is None:
            raise ValueError("hashes is null and there is neither hashes_location nor unchecked")
        return self


# ------------------------------------------------------------------ match message


class MatchedUpload(_Closed):
    upload_id: NonEmpty
    bucket: str | None
    key: str | None
    version_id: str | None
    etag: str | None
    size: Count | None
    uploaded_at: str | None
    sha256: Sha256Hex
    md5: Md5Hex
    # The S3 event's principal and source IP address (absent from messages published before they were carried).
    uploader: str | None = None
    source_ip: str | None = None


class MatchedMedia(_Closed):
    kind: MediaKindValue
    format: str
    duration: Seconds
    width: Count
    height: Count
    frames_hashed: Count
    usable_frames: Count


class ReferenceMatchEntry(_Closed):
    """One matched reference: what decided (signal_type) and by how much."""

    reference_id: NonEmpty
    label: str
    source: str
    action: ActionValue
    signal_type: StageValue
    distance: Annotated[int, Field(ge=0, le=256)] | None
    inliers: Count | None
    threshold: Count
    query_match_percent: Percent
    reference_match_percent: Percent
    matched_query_frames: Annotated[int, Field(ge=1)]
    query_segments: Segments
    reference_segments: Segments
    # Which rule of the verdict decided (absent before version 6).
    rule: MatchRuleValue | None = None

    @model_validator(mode="after")
    def _measure_of_its_signal(self) -> "ReferenceMatchEntry":
        if self.signal_type == "orb" and (self.distance is not None or self.inliers is None or self.inliers < 1):
            raise ValueError("an orb match has inliers (at least 1) and distance null")
        if self.signal_type != "orb" and (self.distance is None or self.inliers is not None):
            raise ValueError(f"a {self.signal_type} match has a distance and inliers null")
        if self.signal_type in (Stage.MD5, Stage.SHA256) and self.distance != 0:
            raise ValueError("an exact digest match has distance 0")
        return self


class MatchTimes(_Closed):
    uploaded_at: str | None
    hashed_at: str
    matched_at: str


class MatchMessage(_Closed):
    """One SNS message per matched upload. Every field is required, as in the schema: the builder names the type and version."""

    message_type: Literal["hashmatch.match"]
    # 2 and 3 are still read: messages published before an update may wait in the takedown queue.
    message_version: Literal[2, 3, 4, 5, 6]
    match_id: Uuid
    action: ActionValue
    upload: MatchedUpload
    media: MatchedMedia
    matches: Annotated[list[ReferenceMatchEntry], Field(min_length=1, max_length=MAX_MATCHES)]
    matches_total: Annotated[int, Field(ge=1)]
    truncated: bool
    times: MatchTimes
    retroactive: bool = False


class HoldTimes(_Closed):
    uploaded_at: str | None
    held_at: str


class HoldMessage(_Closed):
    """One SNS message per upload that could not be checked, under CannotCheckAction hold: the takedown quarantines it
    (verifying the version, ETag and size, and the SHA-256 where the upload was read) and reviewers decide."""

    message_type: Literal["hashmatch.hold"]
    message_version: Literal[1]
    hold_id: Uuid
    action: Literal["hold"]
    upload: MatchedUpload
    reason: CannotCheckReasonValue
    detail: str
    media_kind: MediaKindValue | None
    # A partial check: how much of the media was hashed (and matched nothing) out of how much.
    covered_seconds: Seconds | None
    duration: Seconds | None
    times: HoldTimes

    @property
    def match_id(self) -> str:
        """The takedown's evidence metadata and records name what led to them by this id."""
        return self.hold_id


# ------------------------------------------------------------------ restore request


class RestoreRequest(_Closed):
    """A restore: the body of a signed call to RestoreUploadFunction's URL (schemas/restore-request.schema.json) and,
    as requested_by, the IAM identity that signed it, never a field of the body.

    scope: what the exemption covers. "upload" (the default): these bytes at the restored upload's own bucket and
    key only, so the same bytes uploaded elsewhere are matched again; "bytes": these bytes wherever they are uploaded,
    by anyone (content judged lawful). The values are audit.ExemptionScope's.
    """

    upload_id: NonEmpty
    reason: NonEmpty
    scope: Literal["upload", "bytes"] = "upload"
    requested_by: NonEmpty

    @classmethod
    def from_call(cls, body: object, caller_arn: str) -> "RestoreRequest":
        """The request a call makes: its JSON body, requested by `caller_arn` (the function URL's authenticated caller).
        A body that names requested_by is refused (ValueError): the requester is whoever signed the call."""
        if not isinstance(body, dict):
            raise ValueError('the body must be a JSON object: {"upload_id": ..., "reason": ..., "scope": "upload" | "bytes"}')
        if "requested_by" in body:
            raise ValueError("requested_by is not a field of the body: the requester is the IAM identity that signed the call")
        return cls.model_validate({**body, "requested_by": caller_arn})
