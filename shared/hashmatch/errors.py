"""Errors that cross the core's boundary: input that cannot be hashed, whatever decoded it."""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why an input cannot be hashed: counted per reason, and the CLI's exit status follows it."""

    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    OVERSIZED = "oversized"


class MediaError(Exception):
    """Input that cannot be hashed, with the RejectReason."""

    def __init__(self, reason: RejectReason | str, message: str):
        super().__init__(message)
        self.reason = RejectReason(reason)
