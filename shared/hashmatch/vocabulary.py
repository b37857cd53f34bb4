"""The closed sets every part names, defined once (stdlib only, so the functions without numpy use them too)."""

from __future__ import annotations

from enum import StrEnum
from typing import Iterable


class Role(StrEnum):
    """How media is sampled: a reference densely (every distinct frame), an upload sparsely and fast."""

    REFERENCE = "reference"
    UPLOAD = "upload"


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"  # an animated GIF/WebP too: a timed frame sequence


class Stage(StrEnum):
    """A matching stage, and so what decided a verdict.

    In code it is the stage everywhere: a Verdict's `stage`, a MatchResult's `stages` (those that ran) and
    `deciding_stage`. On the wire its values keep the names of the contracts that carry them: the match
    message's `signal_type` and `hashmatch compare --json`'s `signal` (never renamed).
    """

    MD5 = "md5"  # the whole file's MD5 is a hash-list entry's (an exact copy)
    SHA256 = "sha256"  # the whole file's SHA-256 is a hash-list entry's
    PDQ = "pdq"  # PDQ frame hashes (with the upload's mirror, rotation and inner-picture variants)
    LOCAL_FEATURES = "orb"  # ORB local features verified by a homography


class MatchRule(StrEnum):
    """Which rule of the verdict (matching/verdict.py) made an upload match a reference; the match message's `rule`."""

    QUERY_SHARE = "query_share"  # enough of the upload's frames match (a copy, a clip cut from the reference; an image)
    REFERENCE_SHARE = "reference_share"  # the upload covers enough of the reference (a longer video containing it)
    SEGMENT = "segment"  # the upload plays a long enough stretch of the reference through (an excerpt in a longer video)


class ListedSignal(StrEnum):
    """The signal type of a hash-list entry (a listed hash): PDQ, or a digest of the whole file for exact matches.
    Each value is also the Stage that searches such entries."""

    PDQ = "pdq"
    MD5 = "md5"
    SHA256 = "sha256"



class Action(StrEnum):
    """What a match to a known item recommends to the subscribers."""

    QUARANTINE = "quarantine"  # take the upload down, keep it as evidence
    REVIEW = "review"  # leave it up for a person to look at


def strongest(actions: Iterable[Action | str]) -> Action:
    """Quarantine wins: the action of several (the matched items of one upload, the sources listing one hash) is
    quarantine when any of them asks for it, otherwise review. The one place this rule is written."""
    return Action.QUARANTINE if any(Action(action) == Action.QUARANTINE for action in actions) else Action.REVIEW


class RejectReason(StrEnum):
    """Why an input cannot be hashed (errors.MediaError's reason): counted per reason; the CLI's exit status follows it."""

    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    OVERSIZED = "oversized"


class CannotCheckReason(StrEnum):
    """Why an upload that is media could not be checked; CannotCheckAction decides what happens to it (held or allowed).

    The first three are the RejectReasons media can have (an empty file is no media), with the same values:
    `of_rejection` turns one into the other. The last two arise only in the pipeline.
    """

    OVERSIZED = RejectReason.OVERSIZED.value  # media over a size, pixel, frame or duration limit
    CORRUPT = RejectReason.CORRUPT.value  # media that starts like a known format and does not decode (damaged or cut short)
    UNSUPPORTED = RejectReason.UNSUPPORTED.value  # media in a format the hasher recognises and cannot decode (HEIC)
    PARTIAL = "partial"  # hashed in part within the time budget, and that part matched nothing
    FAILED = "failed"  # hashing it raised (held at once), or the hasher ended without an outcome on it (out of memory, out of time) more than once, or the matcher failed on its last delivery

    @classmethod
    def of_rejection(cls, reason: RejectReason) -> "CannotCheckReason":
        """Why rejected media goes unchecked: the same reason (ValueError for EMPTY, which is never media)."""
        return cls(RejectReason(reason).value)


class CannotCheckAction(StrEnum):
    """What becomes of an upload that cannot be checked (the CannotCheckAction parameter)."""

    HOLD = "hold"  # a hold message: the takedown quarantines it and reviewers decide
    ALLOW = "allow"  # recorded and counted only; it stays online unchecked


class TakedownMode(StrEnum):
    """What the takedown does with a match (template parameter TakedownMode: the same values)."""

    QUARANTINE = "quarantine"  # move the upload into the evidence bucket
    REVIEW_ONLY = "review-only"  # record it for review and leave it in place
