"""The messages at the pipeline's edges as pydantic models; schemas/ holds the JSON Schema each generates (model_json_schema).

  HashesMessageModel   hasher -> matcher          schemas/hashes-message.schema.json
  MatchMessage         matcher -> SNS -> takedown schemas/match-message.schema.json
  HoldMessage          matcher -> SNS -> takedown schemas/hold-message.schema.json (an upload that could not be checked)
  RestoreRequestBody   operator -> RestoreUploadFunction (and `admin restore`): schemas/restore-request.schema.json;
                       RestoreRequest adds who signed the call

The models are strict (a number is not a string, "yes" is not true); the schemas are generated from
them (`python -m hashmatch_tools.schemas`, `--write` to regenerate), and tests/unit/test_messages.py
checks that schemas/ holds what they generate and that events/ conform. So what a consumer of a
schema reads is in the models: each class's docstring is its object's description and each field's
description is its Field's; a rule between fields that a validator enforces is also written as JSON
Schema (json_schema_extra), so that the schema refuses what the model refuses.

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
# 6: each match's `track`: which of the upload's pictures matched (a second video stream, cover art, a page), when it holds more than one;
#    and its `rule`: which rule of the verdict decided (query_share, reference_share or segment: an excerpt played through; verdict.py);
#    and the upload's request_id (the S3 request that put it, kept on the evidence object with the uploader).
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
# 2: `uncovered`, the stretches of the media no hashed frame stands for (a partial check), and the upload's request_id.
HOLD_MESSAGE_VERSION = 2

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
PdqHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")]  # empty for a hash-only request
Md5Hex = Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{32})?$")]
Uuid = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"), Field(json_schema_extra={"format": "uuid"})]
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


UPLOADER = "Who put the object there: the S3 event's userIdentity.principalId (kept in the takedown's audit record)."
SOURCE_IP = "The S3 event's requestParameters.sourceIPAddress."
REQUEST_ID = "The S3 event's responseElements.x-amz-request-id: the request that put the object (kept on the evidence object with the uploader)."


class UploadIdentity(_Model):
    """The uploaded object, or (bucket null) a hash-only request named by upload_id alone."""

    upload_id: NonEmpty
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: Count | None = None
    uploaded_at: str | None = None
    uploader: str | None = Field(None, description=UPLOADER)
    source_ip: str | None = Field(None, description=SOURCE_IP)
    request_id: str | None = Field(None, description=REQUEST_ID)


class FrameHashesModel(_Model):
    timestamp: Seconds = 0.0
    pdq: PdqHex
    quality: Annotated[int, Field(ge=0, le=100)] = 100
    variants: list[PdqHex] = []
    signals: dict[str, str] = {}
    track: Count = Field(0, description="Which of the upload's pictures (tracks) the frame is of; 0 the main one.")


# model.MediaHashes as it travels (MediaHashes.to_dict()); messages.hashes converts it.
class MediaHashesModel(_Model):
    """MediaHashes.to_dict(): the upload's kind, shape, digests and per-frame PDQ hashes."""

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
    partial: bool = Field(
        False,
        description="True when the frames do not cover enough of the media to call it checked: the hasher's time budget ran out first, or part of it "
        "could not be reached or decoded within the limits (uncovered); the matcher holds it if nothing matches.",
    )
    covered_seconds: Seconds | None = Field(None, description="Seconds of the main picture the hashed frames stand for.")
    uncovered: Segments = Field([], description="Stretches [first, last] (seconds) of the main picture no hashed frame stands for (not reached or not decodable within the limits).")
    tracks: list["TrackModel"] = Field([], description="Every picture a player or viewer can show, when the upload holds more than one (index 0 the main one), each with its coverage.")


class TrackModel(_Model):
    """One of the pictures an upload holds, when more than one (model.TrackHashes): a video stream, cover art, bitmap
    subtitles, a page or entry, an archive member; and how much of it the hashed frames cover."""

    index: Count = Field(description="The track's number, as the frames' track names it.")
    source: str = Field(description="What it is: video, animation, picture, attached-picture, subtitles, page or member.")
    kind: MediaKindValue
    duration: Seconds = 0.0
    name: str = ""
    covered_seconds: Seconds = 0.0
    uncovered: Annotated[list[Segment], Field(max_length=10_000)] = Field([], description="Stretches [first, last] (seconds) of it no hashed frame stands for.")
    note: str = Field("", description="Why it was not (wholly) looked at, when it was not.")
    uncovered_share: Share = Field(0.0, description="The share of it no hashed frame stands for; over a tenth the upload is partial.")


MediaHashesModel.model_rebuild()


class StoredPictureModel(_Closed):
    timestamp: Seconds = Field(description="Seconds into the upload.")
    offset: Count
    length: Annotated[int, Field(ge=1)]
    insets: list[Annotated[list[Share], Field(min_length=4, max_length=4)]] = Field(
        [],
        description="Boxes of pictures found inside this one (picture-in-picture) as [top, bottom, left, right] shares of its height and width; the matcher adds their keypoints.",
    )


# detail_pictures.DetailPicturesObject as it travels.
class DetailPicturesModel(_Closed):
    """The upload's detail pictures: grey JPEGs (at most 1024 px; 16 spread over a video, no closer than its sampled frames; one for a picture)
    stored one after another in one S3 object; each picture is the byte range [offset, offset + length)."""

    bucket: NonEmpty
    key: NonEmpty
    pictures: Annotated[list[StoredPictureModel], Field(min_length=1, max_length=16)]


class HashesLocation(_Model):
    """Where the hashes wait in S3 (a claim check): the object holds the hashes field's value."""

    bucket: str
    key: str


class UncheckedModel(_Closed):
    """Why the hasher could not hash the upload (media it recognised, over a limit, damaged, or failing it)."""

    reason: CannotCheckReasonValue
    detail: str
    # Empty over uploads.DIGEST_MAX_BYTES.
    sha256: Sha256Hex = Field(description="Of the whole object, read in pieces; empty for an object too large to read for it (over 2 GiB), held by its version, ETag and size.")


class HashesMessageModel(_Model):
    """What the matcher reads from the hashes queue: the hasher's output for an upload, or a hash-only request (upload_id alone, no bucket).
    hashes null means either that they wait in S3 at hashes_location (a claim check, for large hashes) or, with unchecked, that the upload
    could not be hashed. details, when present, says where the upload's detail pictures are, for the local-feature stage; without it the
    message is matched by PDQ alone."""

    # hashes null needs hashes_location or unchecked: _hashes_somewhere, and the same rule for the schema's readers.
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"hashes": {"type": "null"}}},
            "then": {
                "anyOf": [
                    {"required": ["hashes_location"], "properties": {"hashes_location": {"type": "object"}}},
                    {"required": ["unchecked"], "properties": {"unchecked": {"type": "object"}}},
                ]
            },
        }
    )

    message_type: Literal["hashmatch.hashes"] = HASHES_MESSAGE_TYPE
    message_version: Literal[1] = HASHES_MESSAGE_VERSION
    upload: UploadIdentity
    hashed_at: str = Field(default_factory=now)
    hashes: MediaHashesModel | None
    hashes_location: HashesLocation | None = None
    details: DetailPicturesModel | None = None
    unchecked: UncheckedModel | None = Field(
        None, description="The upload is media the hasher could not hash (hashes null): the matcher records it and holds or allows it as CannotCheckAction says."
    )

    @model_validator(mode="after")
    def _hashes_somewhere(self) -> "HashesMessageModel":
        if self.hashes is None and self.hashes_location is None and self.unchecked is None:
            raise ValueError("hashes is null and there is neither hashes_location nor unchecked")
        return self


# ------------------------------------------------------------------ match message


class MatchedUpload(_Closed):
    """The uploaded object. bucket and key are null for a hash-only request, which names itself by upload_id alone."""

    upload_id: NonEmpty = Field(description="s3://bucket/key?versionId=... for an object.")
    bucket: str | None
    key: str | None = Field(description="URL-decoded.")
    version_id: str | None = Field(description="The version that was hashed (null in an unversioned bucket).")
    etag: str | None
    size: Count | None
    uploaded_at: str | None = Field(description="The S3 event time.")
    sha256: Sha256Hex = Field(
        description="Of the whole object, read in pieces (even when it was not hashed); empty for a hash-only request, and for an object over 2 GiB, "
        "which the takedown verifies by its version, ETag and size."
    )
    md5: Md5Hex = Field(description="Of the whole object as hashed; empty for a hash-only request, and in a hold message unless the upload was hashed (in part).")
    # Absent from messages published before they were carried.
    uploader: str | None = Field(None, description=UPLOADER)
    source_ip: str | None = Field(None, description=SOURCE_IP)
    request_id: str | None = Field(None, description=REQUEST_ID)


class MatchedMedia(_Closed):
    kind: MediaKindValue
    format: str
    duration: Seconds = Field(description="Seconds; 0 for a still image.")
    width: Count
    height: Count
    frames_hashed: Count
    usable_frames: Count = Field(description="Frames with PDQ quality >= 50, the ones matched.")


_EXACT = [str(Stage.MD5), str(Stage.SHA256)]


class ReferenceMatchEntry(_Closed):
    """One matched hash-set entry: what decided (signal_type) and by how much."""

    # The measure each signal has: _measure_of_its_signal, and the same rules for the schema's readers.
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"signal_type": {"const": str(Stage.LOCAL_FEATURES)}}},
                    "then": {"properties": {"distance": {"type": "null"}, "inliers": {"type": "integer", "minimum": 1}}},
                    "else": {"properties": {"distance": {"type": "integer"}, "inliers": {"type": "null"}}},
                },
                {"if": {"properties": {"signal_type": {"enum": _EXACT}}}, "then": {"properties": {"distance": {"const": 0}}}},
            ]
        }
    )

    reference_id: NonEmpty
    label: str
    source: str
    action: ActionValue
    signal_type: StageValue = Field(
        description="What decided: md5 or sha256, the whole file's digest is a hash-list entry's (an identical file); pdq, the frames' PDQ hashes; "
        "orb, local features (ORB keypoints verified by a homography), tried only when PDQ matched no reference (crops, picture-in-picture, "
        "filmed screens, large overlays)."
    )
    distance: Annotated[int, Field(ge=0, le=256)] | None = Field(
        description="pdq: the smallest Hamming distance between a matched upload frame and a reference frame; md5 and sha256: 0. null for orb."
    )
    inliers: Count | None = Field(description="orb: the most keypoint matches one homography explains on a matched frame (at least 1). null for the others.")
    threshold: Count = Field(
        description="The threshold of the signal that decided: pdq, the largest distance that matches (PdqMatchThreshold); orb, the fewest inliers that match; md5 and sha256, 0."
    )
    query_match_percent: Percent = Field(
        description="Share of the upload's usable frames that match the reference (for orb: of its detail pictures with enough descriptors to verify, 16 spread over a video)."
    )
    reference_match_percent: Percent = Field(
        description="Share of the reference's duration the matches cover (for orb: of its recognisable seconds, those whose frames have enough descriptors to verify, "
        "where they are a quarter of it or more; 100 for a still reference)."
    )
    matched_query_frames: Annotated[int, Field(ge=1)]
    query_segments: Segments = Field(description="Matched upload timestamps (seconds) as [first, last] ranges.")
    reference_segments: Segments = Field(description="Matched reference timestamps (seconds) as [first, last] ranges.")
    track: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="Version 6: the picture of the upload that matched, when it holds more than one (\"video stream 1\", \"page 2\"); absent otherwise.",
    )
    rule: MatchRuleValue | None = Field(
        default=None,
        description="Version 6: which rule of the verdict decided: query_share (enough of the upload's frames match: a copy, a clip cut from the reference, a picture), "
        "reference_share (the upload covers enough of the reference: a longer video containing it) or segment (the upload plays a long enough stretch of the "
        "reference through, in order: an excerpt inside a longer video). Absent before version 6.",
    )

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


# Every field is required, as the builder (messages.building) names the type and version.
class MatchMessage(_Closed):
    """One SNS message per upload that matched the hash set. SNS message attributes: label (String.Array of the matched labels),
    action (String), media_kind (String), for subscription filter policies."""

    message_type: Literal["hashmatch.match"]
    # 2 and 3 are still read: messages published before an update may wait in the takedown queue.
    message_version: Literal[2, 3, 4, 5, 6] = Field(
        description="6 (published now) added each match's track: which of the upload's pictures matched (a second video stream, cover art, a page), "
        "when it holds more than one, its rule: which rule of the verdict decided (query_share, reference_share or segment), and the upload's request_id. 5 added the upload's uploader and source_ip (from the S3 event); from 5 on, the topic also carries hold messages "
        "(message_type hashmatch.hold, schemas/hold-message.schema.json, action hold) for uploads that could not be checked, so a subscriber that "
        "takes every action tells them apart by message_type. 4 added retroactive: true for a match found in the upload hash log after a hash was "
        "added. 3 added exact matches of the whole file to hash-list entries: signal_type md5 or sha256, distance 0, threshold 0. 2 added matches "
        "by local features: signal_type orb, distance null, inliers. Consumers read all five."
    )
    match_id: Uuid = Field(
        description="Names the match, derived from what was matched: a redelivered upload (or a retro-match run again) gives the same id, published once; the takedown's audit record cites it."
    )
    action: ActionValue = Field(description="The recommended action: quarantine when any matched reference asks for it, otherwise review.")
    upload: MatchedUpload
    media: MatchedMedia
    matches: Annotated[list[ReferenceMatchEntry], Field(min_length=1, max_length=MAX_MATCHES)] = Field(
        description="Every matched hash-set entry, best first: PDQ matches by smallest distance, then local-feature matches by most inliers."
    )
    matches_total: Annotated[int, Field(ge=1)]
    truncated: bool = Field(description=f"True when matches or segments were cut to the message's caps ({MAX_MATCHES} matches, {MAX_SEGMENTS} segments).")
    times: MatchTimes
    retroactive: bool = Field(
        False,
        description="True when the match was found later, in the upload hash log, after the reference or hash-list entry was added (retro-match); "
        "times.uploaded_at is when the upload was made. Absent (false) in versions 2 and 3.",
    )


class HoldTimes(_Closed):
    uploaded_at: str | None
    held_at: str


class HoldMessage(_Closed):
    """One SNS message, on the match topic beside the match messages, per upload that is media but could not be checked, when CannotCheckAction
    is hold. SNS message attributes: action (String, always hold), reason (String), media_kind (String, when the upload was hashed in part).
    The takedown quarantines it (outcome held) after checking that the named version is the object read (its version, ETag and size, and its
    SHA-256 where the upload was read); the review queue receives it for a person to decide (admin restore puts it back)."""

    message_type: Literal["hashmatch.hold"]
    message_version: Literal[1, 2] = Field(
        description="2 (published now) added uncovered, the stretches of the media no hashed frame stands for, and the upload's request_id. Consumers read both."
    )
    hold_id: Uuid = Field(description="One per upload (version): a redelivered upload gives the same id, published once.")
    action: Literal["hold"]
    upload: MatchedUpload = Field(description="The uploaded object, as in the match message.")
    reason: CannotCheckReasonValue = Field(
        description="oversized: over a size, pixel, frame or duration limit; corrupt: starts like a known format and does not decode; unsupported: "
        "a format recognised and not decoded here (HEIC, AVIF, JPEG XL, archives other than ZIP); partial: hashed in part (the time budget ran out, "
        "or more than a tenth of one of its pictures could not be reached or decoded within the limits) and that part matched nothing; "
        "failed: hashing it raised (held at once), the hasher ended without an outcome on it more than once (out of memory or time), "
        "or the matcher failed on it on its last delivery."
    )
    detail: str
    media_kind: MediaKindValue | None
    covered_seconds: Seconds | None = Field(description="reason partial: seconds of the media the hashed frames stand for.")
    duration: Seconds | None
    times: HoldTimes
    uncovered: Segments | None = Field(
        None, description=f"Version 2, reason partial: the stretches [first, last] (seconds) of the media no hashed frame stands for, at most {MAX_SEGMENTS}; absent when none."
    )

    @property
    def match_id(self) -> str:
        """The takedown's evidence metadata and records name what led to them by this id."""
        return self.hold_id


# ------------------------------------------------------------------ restore request


class RestoreRequestBody(_Closed):
    """The body of a POST to RestoreUploadFunctionUrl, SigV4-signed (service lambda) by a session of the stack's RestoreRoleName role.
    The requester is the IAM identity that signed the call, kept as requested_by in the audit records; a body that names requested_by
    is refused (400)."""

    upload_id: NonEmpty = Field(description="The quarantined upload, as its takedown audit record names it: s3://bucket/key?versionId=...")
    reason: NonEmpty = Field(description="Why it is restored: the complaint and the decision.")
    # The values are audit.ExemptionScope's.
    scope: Literal["upload", "bytes"] = Field(
        "upload",
        description="What the exemption from matching covers, for RestoreExemptionDays: upload, these bytes at the upload's own bucket and key only "
        "(the same bytes uploaded elsewhere are matched again); bytes, these bytes wherever they are uploaded, by anyone (content judged lawful).",
    )


class RestoreRequest(RestoreRequestBody):
    """A restore: the body of a signed call to RestoreUploadFunction's URL and, as requested_by, the IAM identity that signed it,
    never a field of the body."""

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
