"""Bytes or a path to decoded frames with timestamps: the type sniffed from the bytes, then Pillow for pictures, PyAV for video."""

from __future__ import annotations

import io
import os

from hashmatch.errors import MediaError
from hashmatch.media.containers import open_svg, open_zip, read_all
from hashmatch.media.frames import Media
from hashmatch.media.limits import DEFAULT_LIMITS, Limits
from hashmatch.media.sniff import picture_format, sniff
from hashmatch.media.source import Source, read_source
from hashmatch.media.stills import ImageMedia
from hashmatch.media.video import VideoMedia


def open_media(source: bytes | str | os.PathLike | Source, limits: Limits = DEFAULT_LIMITS) -> Media:
    """Open media from bytes or a path; the type is sniffed from the bytes, never from a name."""
    found = read_source(source, limits)
    sniffed = sniff(found.head)
    kind, fmt = sniffed if sniffed is not None else (None, None)
    if sniffed is None:
        with found.open() as stream:
            fmt = picture_format(stream)
        # No signature sniff knows, yet a picture Pillow reads (a TGA has no signature at all): hashed, never passed as not media.
        kind = "image" if fmt is not None else None
    if kind == "image":
        return ImageMedia(found, fmt, limits)
    if kind == "unreadable":
        raise MediaError("unsupported", f"{fmt} pictures cannot be decoded here", recognised=True)
    if kind == "archive" and fmt == "zip":
        return open_zip(found.path if found.path is not None else io.BytesIO(found.data), limits, _open_member)
    if kind == "archive":
        raise MediaError("unsupported", f"a {fmt} archive may hold pictures, and cannot be unpacked here", recognised=True)
    if kind == "drawing":
        return open_svg(read_all(found, limits), limits, _open_member)
    return VideoMedia(found, fmt, limits)


def _open_member(data: bytes, limits: Limits) -> Media:
    """A picture inside an archive or a drawing, opened as media of its own (never another archive)."""
    found = read_source(data, limits)
    sniffed = sniff(found.head)
    if sniffed is not None and sniffed[0] == "archive":
        raise MediaError("unsupported", "an archive inside an archive", recognised=True)
    if sniffed is not None and sniffed[0] == "drawing":
        return open_svg(data, limits, _open_member_flat)
    return open_media(found, limits)


def _open_member_flat(data: bytes, limits: Limits) -> Media:
    found = read_source(data, limits)
    sniffed = sniff(found.head)
    if sniffed is not None and sniffed[0] in ("archive", "drawing"):
        raise MediaError("unsupported", "a drawing or archive nested too deep", recognised=True)
    return open_media(found, limits)
