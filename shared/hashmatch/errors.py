"""Errors that cross the core's boundary: input that cannot be hashed, whatever decoded it (its reason: vocabulary.RejectReason)."""

from __future__ import annotations

from hashmatch.vocabulary import RejectReason


class MediaError(Exception):
    """Input that cannot be hashed, with the RejectReason.

    `recognised` is True when the bytes are media of a known image or video format that cannot
    be decoded here or is over a limit (HEIC, a damaged MP4, a decompression bomb): media that
    went unchecked, not input that is no media at all (text, audio, an empty file).
    """

    def __init__(self, reason: RejectReason | str, message: str, recognised: bool = False):
        super().__init__(message)
        self.reason = RejectReason(reason)
        self.recognised = recognised
