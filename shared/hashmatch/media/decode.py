"""Bytes or a path to decoded frames with timestamps: the type sniffed from the bytes, then Pillow for pictures, PyAV for video."""

from __future__ import annotations

import os

from hashmatch.media.frames import Media
from hashmatch.media.limits import DEFAULT_LIMITS, Limits
from hashmatch.media.sniff import sniff
from hashmatch.media.source import Source, read_source
from hashmatch.media.stills import ImageMedia
from hashmatch.media.video import VideoMedia


def open_media(source: bytes | str | os.PathLike | Source, limits: Limits = DEFAULT_LIMITS) -> Media:
    """Open media from bytes or a path; the type is sniffed from the bytes, never from a name."""
    found = read_source(source, limits)
    sniffed = sniff(found.head)
    if sniffed is not None and sniffed[0] == "image":
        return ImageMedia(found, sniffed[1], limits)
    return VideoMedia(found, sniffed[1] if sniffed else None, limits)
