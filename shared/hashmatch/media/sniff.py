"""What a file is, from its first bytes (never from its name)."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"icns", "icns"),
)
# JPEG XL, as a bare codestream and in its ISO BMFF container: pictures nothing here decodes (no maintained
# Pillow plugin within the hasher's package size, and PyAV's FFmpeg is built without libjxl). Held unread.
_UNREADABLE_PICTURES = (
    (b"\xff\x0a", "jpeg-xl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jpeg-xl"),
)
# Archives that may hold pictures. ZIP is read (containers.py); the others are held unread.
_ARCHIVES = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty ZIP
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_VIDEO_SIGNATURES = (
    (b"\x1a\x45\xdf\xa3", "matroska"),
    (b"FLV", "flv"),
    (b"OggS", "ogg"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    (b"\x00\x00\x01\xba", "mpeg-ps"),
    (b"\x00\x00\x01\xb3", "mpeg-video"),
)
# ISO base media brands of still pictures (HEIF): AVIF (AV1) decodes with Pillow, HEIC (HEVC) does not.
HEIF_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
HEAD_BYTES = 512


def _is_icon(head: bytes) -> bool:
    """An ICO (or CUR) header: reserved 0, type 1 or 2, one or more entries whose first looks like one."""
    if len(head) < 22 or head[0:2] != b"\x00\x00" or head[2:4] not in (b"\x01\x00", b"\x02\x00"):
        return False
    count = int.from_bytes(head[4:6], "little")
    return 0 < count <= 256 and head[9] == 0 and int.from_bytes(head[18:22], "little") >= 6 + 16 * count


# Top-level boxes an ISO base media (MP4, QuickTime) file may start with besides ftyp.
_ISO_BOX_TYPES = (b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, format) from the first bytes, or None when nothing known starts that way.

    Kinds: "image", "video", "unreadable" (a picture format nothing here decodes), "archive" (files that hold
    pictures: ZIP, which is read, and others, which are not), "drawing" (SVG)."""
    for signature, name in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return "image", name
    if _is_icon(head):
        return "image", "ico"
    for signature, name in _UNREADABLE_PICTURES:
        if head.startswith(signature):
            return "unreadable", name
    for signature, name in _ARCHIVES:
        if head.startswith(signature):
            return "archive", name
    if len(head) > 262 and head[257:262] == b"ustar":
        return "archive", "tar"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg", b"<!--")) and b"<svg" in text:
        return "drawing", "svg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "avi"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS:
            return "image", brand.decode("ascii", "replace").strip()
        return "video", "mp4"
    if head[4:8] in _ISO_BOX_TYPES:
        # An MP4/QuickTime file whose first box is not ftyp (FFmpeg decodes it all the same): without
        # this, renaming the ftyp box would make a damaged or oversized copy pass as not media.
        return "video", "mp4"
    if len(head) > 376 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:
        return "video", "mpegts"
    for signature, name in _VIDEO_SIGNATURES:
        if head.startswith(signature):
            return "video", name
    return None


def picture_format(stream: BinaryIO) -> str | None:
    """The picture format Pillow identifies a stream as, or None: for pictures with no signature `sniff` knows (a TGA header
    has none; PSD, PCX, SGI, PPM and the other formats Pillow opens). Identifying reads the header, not the pixels."""
    from PIL import Image, UnidentifiedImageError  # here: the takedown and restore functions read sniff() and carry no Pillow

    try:
        with Image.open(stream) as image:
            return (image.format or "image").lower()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error, EOFError, IndexError):
        return None


def starts_like_media(head: bytes) -> bool:
    """Whether the first bytes are media's: a signature `sniff` knows, or a picture header Pillow identifies."""
    return sniff(head) is not None or picture_format(io.BytesIO(head)) is not None
