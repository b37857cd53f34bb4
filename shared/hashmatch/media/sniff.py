"""What a file is, from its first bytes (never from its name)."""

from __future__ import annotations



_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
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


# Top-level boxes an ISO base media (MP4, QuickTime) file may start with besides ftyp.
_ISO_BOX_TYPES = (b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")


def sniff(head: bytes) -> tuple[str, str] | None:
    """(kind, format) from the first bytes, or None when nothing known starts that way."""
    for signature, name in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return "image", name
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
