"""The closed sets every part names, defined once (stdlib only, so the functions without numpy use them too)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """How media is sampled: a reference densely (every distinct frame), an upload sparsely and fast."""

    REFERENCE = "reference"
    UPLOAD = "upload"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"  # an animated GIF/WebP too: a timed frame sequence


class Stage(StrEnum):
    """A matching stage, and so what decided a verdict. The values are the match message's `signal_type`."""

    MD5 = "md5"  # the whole file's MD5 is a hash-list entry's (an exact copy)
    SHA256 = "sha256"  # the whole file's SHA-256 is a hash-list entry's
    PDQ = "pdq"  # PDQ frame hashes (with the upload's mirror, rotation and inner-picture variants)
    LOCAL_FEATURES = "orb"  # ORB local features verified by a homography


class Action(StrEnum):
    """What a match to a reference recommends to the subscribers."""

    QUARANTINE = "quarantine"  # take the upload down, keep it as evidence
    REVIEW = "review"  # leave it up for a person to look at


class CannotCheckReason(StrEnum):
    """Why an upload could not be checked; CannotCheckAction decides what happens to it (held for review or allowed)."""

    OVERSIZED = "oversized"  # media over a size, pixel, frame or duration limit
    CORRUPT = "corrupt"  # media that starts like a known format and does not decode (damaged or cut short)
    UNSUPPORTED = "unsupported"  # media in a format the hasher recognises and cannot decode (HEIC, AVIF)
    PARTIAL = "partial"  # hashed in part within the time budget, and that part matched nothing
    FAILED = "failed"  # the hasher ended without an outcome on it (out of memory, out of time) more than once


class CannotCheckAction(StrEnum):
    """What becomes of an upload that cannot be checked (the CannotCheckAction parameter)."""

    HOLD = "hold"  # a hold message: the takedown quarantines it and reviewers decide
    ALLOW = "allow"  # recorded and counted only; it stays online unchecked


class TakedownMode(StrEnum):
    """What the takedown does with a match (template parameter TakedownMode: the same values)."""

    QUARANTINE = "quarantine"  # move the upload into the evidence bucket
    REVIEW_ONLY = "review-only"  # record it for review and leave it in place
