"""Bytes or a path to decoded RGB frames with timestamps: PyAV for video, Pillow for images."""

from __future__ import annotations

import hashlib
import io
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import BinaryIO, Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageOps, UnidentifiedImageError

from hashmatch.errors import MediaError
from hashmatch.media.borders import BorderTracker, InnerTracker, content_box, inner_boxes, inner_picture

# Frames are handed to the hashers at most this many pixels on the long side. Hashing a
# 720p frame costs 17-20 ms, the same frame scaled to 512 px 2.4 ms; but PDQ is not scale
# invariant: at 512 px the corpus video frames land 8-11 bits (mean) from the full-size
# hashes that vPDQ and shared hash lists hold, at full size within 1-2 bits. So references
# are hashed at full size (up to 1920 px) and uploads, where speed counts, at 512 px.
REFERENCE_MAX_SIDE = 1920
UPLOAD_MAX_SIDE = 512
# Pictures (and GIF/WebP frames) are shrunk by Pillow's box filter, which averages as PDQ's
# own prefilter does: at 512 px every published PDQ value in the corpus is within 10 bits,
# at full size one is 12 bits away. So both roles hash pictures at this size.
PICTURE_MAX_SIDE = 512
# Local features need more pixels than PDQ: a picture-in-picture copy shows the reference at
# a third of the frame, and at 512 px ORB finds too few of its corners to verify (measured:
# 27 inliers at 512 px against 265 at 1024 px, unrelated pictures at most 11).
FEATURE_MAX_SIDE = 1024


# A video whose frames stop this long (or 10 %) before its declared duration is truncated:
# containers with the index at the front decode a cut-off file without an error.
TRUNCATION_SLACK = 1.0

MIB = 1024 * 1024
# Memory a picture takes to hash, measured as the peak RSS of hashing 8192 x 8192 PNG and JPEG
# pictures as uploads (also turned by EXIF; docs/bad-inputs.md): 60 MiB for the process with PyAV,
# Pillow, numpy and pdqhash loaded, then 7.8-7.9 bytes per pixel: Pillow's decoded picture (4: it
# stores RGB as RGBX), the array borders are found in (3), and the decoder's working memory. A
# 16-bit grey picture takes 4.8 (itself 2, its 8-bit grey and that grey's array 1 each).
BYTES_PER_PIXEL = 8
# A video frame takes more: the decoder holds it, the frames it refers to and one per decoding
# thread (1.5 bytes a pixel each, in YUV). Measured: 3840 x 2160 H.264 (3 reference frames, two
# threads) peaked at 189 MiB, 15 bytes a pixel over the process; more reference frames take more.
VIDEO_BYTES_PER_PIXEL = 16
# The process before any picture, with room for what a handler adds (boto3, Powertools: measured
# 60 MiB for the core alone).
PROCESS_BYTES = 150 * MIB
# Of the function's memory, the share a picture may take: the rest is slack for the allocator,
# for the detail pictures and messages, and for pictures that decode less tidily than measured.
MEMORY_SHARE = 0.75
# Decoding animated pictures, measured on one core (Pillow 13): a GIF of 4096 x 4096 textured
# frames at 22 million pixels x frames per second (47 with flat colour), an animated WebP at
# 1024 x 1024 at 32. Every frame up to the last one sampled is decoded, sampled or not: a GIF
# frame is drawn over the one before it, and WebP decodes in order.
ANIMATION_PIXELS_PER_SECOND = 20_000_000
# Stepping through an animation of tiny (64 x 64) frames, sampling as for uploads: 1,300 GIF and
# 1,600 WebP frames per second.
ANIMATION_FRAMES_PER_SECOND = 1000
# Share of the time budget an animation's decoding may be expected to take: the rest is for
# hashing and for pictures slower than the measured ones. Over it, an animation is refused
# before any decoding rather than cut short by the deadline.
ANIMATION_TIME_SHARE = 0.5
# Cheapest measured sparse hashing of video, per second of it: 0.002 s (20 minutes of 160 x 120
# at 15 fps, a keyframe every 250 frames, in 2.2 s); 1080p30 takes 0.29 s (the review's measure).
# A video longer than a budget covers at the cheapest pace cannot be wholly hashed at any size
# and is refused.
CHEAPEST_SECONDS_PER_VIDEO_SECOND = 0.002


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one object from exhausting a function (decompression bombs, endless streams,
    animations that take longer to decode than the function lives)."""

    max_bytes: int = 2 * 1024**3
    # Pixels of one picture, and of one video frame (width x height): the memory they decode into.
    # The defaults take about 2 GiB (BYTES_PER_PIXEL, VIDEO_BYTES_PER_PIXEL), for the CLI on a workstation.
    max_pixels: int = 16384 * 16384
    max_video_pixels: int = 16384 * 8192
    max_duration: float = 4 * 3600.0
    # Frames of an animated picture (GIF, WebP, APNG), and its pixels x frames: the work of decoding
    # it (the default, about ten minutes at ANIMATION_PIXELS_PER_SECOND).
    max_frames: int = 100_000
    max_decoded_pixels: int = 600 * ANIMATION_PIXELS_PER_SECOND

    def check_size(self, size: int, recognised: bool = False) -> None:
        if size == 0:
            raise MediaError("empty", "the file is empty")
        if size > self.max_bytes:
            raise MediaError("oversized", f"{size} bytes is over the limit of {self.max_bytes}", recognised=recognised)

    def check_pixels(self, width: int, height: int, video: bool = False) -> None:
        limit = self.max_video_pixels if video else self.max_pixels
        if width * height > limit:
            what = "a video frame" if video else "a picture"
            raise MediaError("oversized", f"{width}x{height} pixels is over the limit of {limit} for {what}", recognised=True)

    def check_animation(self, width: int, height: int, frames: int) -> None:
        if frames > self.max_frames:
            raise MediaError("oversized", f"over {self.max_frames} frames, the limit for an animated picture", recognised=True)
        if width * height * frames > self.max_decoded_pixels:
            raise MediaError(
                "oversized",
                f"{frames} frames of {width}x{height} pixels are over the decoding limit of {self.max_decoded_pixels} pixels",
                recognised=True,
            )

    @classmethod
    def for_budget(cls, memory_mb: int, seconds: float, max_bytes: int) -> "Limits":
        """The limits for a function with this memory (MB) and time (seconds) per object.

        A picture's pixels, and a video frame's, must fit the memory; an animation's frames must
        decode within the time. A video's length is not bounded by the time: hashing stops at
        the deadline (hash_media's) and the part hashed is kept; only a video too long to be
        wholly hashed even at the smallest size is refused.
        """
        room = memory_mb * MIB * MEMORY_SHARE - PROCESS_BYTES
        decoding = seconds * ANIMATION_TIME_SHARE
        return cls(
            max_bytes=max_bytes,
            max_pixels=max(1, int(room // BYTES_PER_PIXEL)),
            max_video_pixels=max(1, int(room // VIDEO_BYTES_PER_PIXEL)),
            max_duration=min(cls.max_duration, max(1.0, seconds / CHEAPEST_SECONDS_PER_VIDEO_SECOND)),
            max_frames=max(1, int(decoding * ANIMATION_FRAMES_PER_SECOND)),
            max_decoded_pixels=max(1, int(decoding * ANIMATION_PIXELS_PER_SECOND)),
        )


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Sampling:
    """Which frames of a video are hashed.

    Reference media is hashed densely (`every_frame`) so that an upload sampled at any phase
    finds a reference frame next to each of its own. Uploads are hashed sparsely: one frame
    per `interval` seconds, keyframes first, because a keyframe decodes on its own while a
    frame between keyframes needs the frames before it. Only where the keyframes are further
    apart than the sampling step (long GOPs, and short media, whose step shrinks towards
    `min_interval` so that they still yield `min_frames` frames) are frames between them
    decoded, and then only up to the last one needed, skipping the frames no other frame
    refers to. Near-duplicate frames are removed after hashing (see hashing.py).
    """

    interval: float | None  # None: every frame
    max_side: int = UPLOAD_MAX_SIDE  # video frames larger than this are scaled down before hashing
    # Take every keyframe besides the frames due (for measuring keyframes-only sampling).
    keyframes: bool = False
    min_frames: int = 16
    min_interval: float = 0.5
    # Frames between keyframes are decoded without the frames no other frame refers to (most
    # B-frames): the reference frames decode bit for bit as in a full decode, at about half its cost.
    skip_unreferenced: bool = True
    # Frames between keyframes are decoded for at most this many seconds of video per upload,
    # spread evenly over it, so that an hour with long GOPs still fits the hasher's time (beyond
    # it, such GOPs give their keyframes alone). None: no limit.
    max_seconds_between_keyframes: float | None = 300.0
    # Local features (local_features/orb.py) are taken from one sampled frame per `feature_interval`
    # seconds, at most `feature_frames` of them spread over the video; None: no features. Sparse
    # sampling spreads `feature_frames` over the video, no closer together than its sampled frames.
    feature_interval: float | None = None
    feature_frames: int = 16
    # Look for a picture inside the picture (picture-in-picture copies); upload side only.
    inner_pictures: bool = False

    @property
    def every_frame(self) -> bool:
        return self.interval is None

    def step(self, duration: float) -> float:
        """Seconds between sampled frames for media of this duration (sparse sampling)."""
        if self.interval is None:
            return 0.0
        if not duration or not self.min_frames:
            return self.interval
        return min(self.interval, max(self.min_interval, duration / self.min_frames))

    def feature_step(self, duration: float) -> float | None:
        """Seconds between feature frames for media of this duration (None: no features)."""
        if self.feature_interval is None:
            return None
        spread = duration / self.feature_frames if duration else 0.0
        if self.interval is None:
            return max(self.feature_interval, spread)
        # Sparse: `feature_frames` pictures spread over the media, no closer together than its sampled
        # frames. A 4-second clip gives 8 rather than the 2 of one per feature_interval: the second or
        # two a short, low-detail clip is recognisable by must get some.
        return max(spread, self.step(duration))


DENSE = Sampling(interval=None, max_side=REFERENCE_MAX_SIDE, feature_interval=1.0, feature_frames=600)
# Upload side: a frame every 2 s, at least 16 frames (down to one per 0.5 s) for short media.
# Measured on the corpus (docs/sampling.md): against a dense reference, one frame per 2 s gives
# the verdicts of 2 and 4 frames a second, at a fraction of the decoding.
SPARSE = Sampling(interval=2.0, max_side=UPLOAD_MAX_SIDE, feature_interval=2.0, feature_frames=16, inner_pictures=True)


@dataclass(frozen=True)
class Frame:
    timestamp: float  # seconds from the start of the media, from the container's timestamps
    rgb: np.ndarray  # the whole picture: H x W x 3 uint8, upright, at most the sampling's max_side
    content: np.ndarray  # the same without uniform borders (rgb itself when there are none)
    # Grey picture at FEATURE_MAX_SIDE for local features, on the frames the sampling picks.
    detail: np.ndarray | None = None
    # Pictures found inside this one (picture-in-picture), when the sampling looks for them,
    # and where they are in `rgb` (top, bottom, left, right as shares of its height and width).
    inner: tuple[np.ndarray, ...] = ()
    inner_boxes: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def has_borders(self) -> bool:
        return self.content.shape != self.rgb.shape


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
_HEIF_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1")
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
        if brand in _HEIF_BRANDS:
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


class Source:
    """Media bytes in memory or in a file; a file is read a piece at a time, never whole."""

    def __init__(self, path: Path | None = None, data: bytes | None = None):
        self.path = path
        self.data = data
        if path is not None:
            try:
                if path.is_dir():
                    raise MediaError("unsupported", "is a directory, not a media file")
                self.size = path.stat().st_size
                with path.open("rb") as file:
                    self.head = file.read(HEAD_BYTES)
            except OSError as error:
                raise MediaError("unsupported", f"cannot read: {error.strerror or error}") from None
        else:
            self.size = len(data)
            self.head = data[:HEAD_BYTES]

    def open(self) -> BinaryIO:
        return self.path.open("rb") if self.path is not None else io.BytesIO(self.data)

    def for_av(self) -> str | BinaryIO:
        # From a path FFmpeg reads the file itself, without a call into Python per read.
        return str(self.path) if self.path is not None else io.BytesIO(self.data)

    def digests(self) -> tuple[str, str]:
        """MD5 and SHA-256 of the bytes. MD5 is a content identifier hash lists exchange (whole-file matches), not a security check."""
        md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        if self.path is None:
            md5.update(self.data)
            sha256.update(self.data)
        else:
            with self.path.open("rb") as file:
                while chunk := file.read(MIB):
                    md5.update(chunk)
                    sha256.update(chunk)
        return md5.hexdigest(), sha256.hexdigest()


def read_source(source: bytes | str | os.PathLike | Source, limits: Limits = DEFAULT_LIMITS) -> Source:
    """A path or a bytes object as a Source, within the size limit (over it: recognised when it starts like media)."""
    if isinstance(source, Source):
        found = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        found = Source(data=bytes(source))
    else:
        found = Source(path=Path(source))
    limits.check_size(found.size, recognised=sniff(found.head) is not None)
    return found


class Media:
    """Decoded media: what it is, how long it lasts, and its frames under a sampling."""

    kind: str  # "image" or "video" (an animated GIF/WebP is a video: a timed frame sequence)
    format: str
    duration: float  # seconds; 0.0 for a still image
    width: int
    height: int
    # Set by frames(): True when the deadline ended them before the media's end.
    partial: bool = False

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None) -> Iterator[Frame]:
        """The sampled frames; when `deadline` (a time.monotonic() value) passes, no more (and `partial` is set)."""
        raise NotImplementedError


def open_media(source: bytes | str | os.PathLike | Source, limits: Limits = DEFAULT_LIMITS) -> Media:
    """Open media from bytes or a path; the type is sniffed from the bytes, never from a name."""
    found = read_source(source, limits)
    sniffed = sniff(found.head)
    if sniffed is not None and sniffed[0] == "image":
        return ImageMedia(found, sniffed[1], limits)
    return VideoMedia(found, sniffed[1] if sniffed else None, limits)


class _Clock:
    """A deadline (a time.monotonic() value, or None for none) that remembers once it has passed."""

    def __init__(self, deadline: float | None):
        self.deadline = deadline
        self.passed = False

    def up(self) -> bool:
        if not self.passed and self.deadline is not None and monotonic() >= self.deadline:
            self.passed = True
        return self.passed


# ---------------------------------------------------------------- images

# Rows converted at a time from deep (16- and 32-bit) pictures and into arrays: about a megapixel.
_STRIP_PIXELS = 1 << 20


def _strips(image) -> Iterator[tuple[int, int, np.ndarray]]:
    """(top, bottom, pixels) of the picture's rows a strip at a time: np.asarray of a whole picture
    holds its bytes twice over while it joins them."""
    width, height = image.size
    rows = max(1, _STRIP_PIXELS // max(1, width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        yield top, bottom, np.asarray(image.crop((0, top, width, bottom)))


def _deep_to_grey(image):
    """A 16-bit or 32-bit grey picture as 8-bit grey, a strip at a time: converted whole, in float64,
    an 8192 x 8192 PNG of 160 KB took 1.96 GB."""
    high = image.getextrema()[1]
    top = 65535.0 if image.mode.startswith("I;16") or high > 255 else 255.0
    grey = np.empty((image.size[1], image.size[0]), np.uint8)
    for first, last, values in _strips(image):
        scaled = values.astype(np.float64)
        scaled *= 255.0 / top
        grey[first:last] = np.clip(np.rint(scaled, out=scaled), 0, 255, out=scaled)
    return Image.fromarray(grey)


def _displayable(image):
    """Any Pillow mode to a grey (L) or RGB picture, as a viewer would show it.

    Grey stays grey (a third of RGB's memory) until shrunk: shrinking the three equal channels
    gives the grey shrunk, so the hashes are those of the RGB picture.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _deep_to_grey(image)
    if mode == "LAB":
        from PIL import ImageCms  # littlecms, loaded for the rare LAB picture only

        return ImageCms.applyTransform(
            image,
            ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"),
        )
    if mode in ("L", "1"):
        return image if mode == "L" else image.convert("L")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    # Alpha is dropped, not composited: the reference PDQ hashers read the colour channels only.
    return image if mode == "RGB" else image.convert("RGB")


def _rgb_array(image) -> np.ndarray:
    """A grey or RGB picture as an H x W x 3 uint8 array (a grey one's three channels are one array)."""
    width, height = image.size
    if image.mode == "L":
        grey = np.empty((height, width), np.uint8)
        for top, bottom, pixels in _strips(image):
            grey[top:bottom] = pixels
        return np.broadcast_to(grey[:, :, None], (height, width, 3))
    rgb = np.empty((height, width, 3), np.uint8)
    for top, bottom, pixels in _strips(image):
        rgb[top:bottom] = pixels
    return rgb


def _small_rgb(image) -> np.ndarray:
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)


def _shrink(image, max_side: int):
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    # A box filter averages every source pixel, as PDQ's own Jarosz filters do.
    return image.resize(size, Image.Resampling.BOX)


# A frame without a delay of its own, or with none, shows for 0.1 s, as browsers show it.
_DEFAULT_DELAY = 0.1


def _gif_frames(file: BinaryIO, max_frames: int) -> tuple[list[float], int, int]:
    """(delays in seconds, width, height the frames reach) of a GIF, from its blocks without decoding
    them; at most max_frames + 1 frames are read. Pillow would decode every frame to give its delay."""
    header = file.read(13)
    if len(header) < 13:
        raise EOFError("no GIF screen descriptor")
    width, height, flags = struct.unpack("<HHB", header[6:11])
    if flags & 0x80:
        file.seek(3 << ((flags & 7) + 1), io.SEEK_CUR)
    delays: list[float] = []
    delay = None

    def skip_blocks() -> None:
        while (length := file.read(1)) and length[0]:
            file.seek(length[0], io.SEEK_CUR)

    while len(delays) <= max_frames:
        introducer = file.read(1)
        if not introducer or introducer == b";":
            break
        if introducer == b"!":
            label = file.read(1)
            length = file.read(1)
            block = file.read(length[0]) if length else b""
            if label == b"\xf9" and len(block) >= 3:
                delay = struct.unpack("<H", block[1:3])[0] / 100.0
            if length and length[0]:
                skip_blocks()
        elif introducer == b",":
            descriptor = file.read(9)
            if len(descriptor) < 9:
                break
            left, top, frame_width, frame_height, frame_flags = struct.unpack("<HHHHB", descriptor)
            # A frame may reach past the screen, and the picture grows to hold it (as Pillow draws it).
            width, height = max(width, left + frame_width), max(height, top + frame_height)
            if frame_flags & 0x80:
                file.seek(3 << ((frame_flags & 7) + 1), io.SEEK_CUR)
            file.read(1)  # LZW code size
            skip_blocks()
            delays.append(delay or _DEFAULT_DELAY)
            delay = None
        # Anything else is stray bytes between blocks, which Pillow skips too.
    return delays, width, height


def _webp_delays(file: BinaryIO) -> list[float]:
    """Frame delays of an animated WebP, from its ANMF chunks without decoding them."""
    file.seek(12)
    delays = []
    while len(header := file.read(8)) == 8:
        name, size = header[:4], struct.unpack("<I", header[4:])[0]
        if name == b"ANMF":
            fields = file.read(16)
            if len(fields) < 16:
                break
            delays.append((int.from_bytes(fields[12:15], "little") / 1000.0) or _DEFAULT_DELAY)
            size -= 16
        file.seek(size + (size & 1), io.SEEK_CUR)
    return delays


class ImageMedia(Media):
    def __init__(self, source: Source, fmt: str, limits: Limits):
        Image.MAX_IMAGE_PIXELS = None  # checked against our own limit below, without a warning
        try:
            image = Image.open(source.path if source.path is not None else io.BytesIO(source.data))
        except UnidentifiedImageError:
            if fmt.encode("ascii", "replace") in _HEIF_BRANDS:
                raise MediaError("unsupported", f"HEIC/AVIF images cannot be decoded here (HEIF brand {fmt!r})", recognised=True) from None
            raise MediaError("unsupported", f"not a readable {fmt} image", recognised=True) from None
        except (OSError, SyntaxError, ValueError) as error:
            raise MediaError("corrupt", f"cannot decode {fmt} image: {error}", recognised=True) from None
        limits.check_pixels(*image.size)
        self._image = image
        self.format = (image.format or fmt).lower()
        try:
            # Reading EXIF and counting frames parse past the header: a cut-off file fails here.
            self._orientation = image.getexif().get(0x0112, 1)
            self._durations = self._animation(source, limits)
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
            raise MediaError("corrupt", f"cannot decode {fmt} image: {error}", recognised=True) from None
        self.kind = "video" if len(self._durations) > 1 else "image"
        self.duration = float(sum(self._durations)) if self.kind == "video" else 0.0
        swap = self.kind == "image" and self._orientation in (5, 6, 7, 8)
        self.width, self.height = (image.size[1], image.size[0]) if swap else image.size

    def _animation(self, source: Source, limits: Limits) -> list[float]:
        """Each frame's delay (one for a still picture), after the frame and decoding limits are checked."""
        image = self._image
        if self.format == "gif":
            with source.open() as file:
                delays, width, height = _gif_frames(file, limits.max_frames)
            if len(delays) > 1:
                limits.check_pixels(width, height)
                limits.check_animation(width, height, len(delays))
            return delays or [_DEFAULT_DELAY]
        count = getattr(image, "n_frames", 1)  # WebP, APNG and AVIF know it from their headers
        if count <= 1:
            return [0.0]
        limits.check_animation(image.size[0], image.size[1], count)
        if self.format == "webp":
            with source.open() as file:
                delays = _webp_delays(file)
            return (delays + [_DEFAULT_DELAY] * count)[:count]
        delays = []
        for index in range(count):
            image.seek(index)
            delays.append(max(0.0, float(image.info.get("duration", 0) or 0)) / 1000.0 or _DEFAULT_DELAY)
        image.seek(0)
        return delays

    def _frame(self, timestamp: float, image, max_side: int, remove_borders: bool, with_detail: bool, with_inner: bool = False) -> Frame:
        try:
            image.load()
            if self.kind == "image" and self._orientation in (2, 3, 4, 5, 6, 7, 8):
                # In place, so that the picture is not held twice; it is upright from then on.
                ImageOps.exif_transpose(image, in_place=True)
                self._orientation = 1
            upright = _displayable(image)
        except (OSError, SyntaxError, ValueError) as error:
            raise MediaError("corrupt", f"cannot decode {self.format} image: {error}", recognised=True) from None
        detail = np.asarray(_shrink(upright, FEATURE_MAX_SIDE).convert("L"), dtype=np.uint8) if with_detail else None
        whole = _small_rgb(_shrink(upright, max_side))
        # Borders are found and cut at full resolution, before shrinking: a crop one pixel
        # off at working size moves the PDQ hash of the letterboxed corpus sample by 20 bits.
        box = content_box(_rgb_array(upright)) if remove_borders else None
        found = inner_boxes(whole) if with_inner else []
        inner = tuple(inner_picture(whole, b) for b in found)
        shares = tuple(b.shares(whole.shape) for b in found)
        if box is None or box.is_whole((upright.size[1], upright.size[0])):
            return Frame(timestamp, whole, whole, detail, inner, shares)
        content = _small_rgb(_shrink(upright.crop((box.left, box.top, box.right, box.bottom)), max_side))
        return Frame(timestamp, whole, content, detail, inner, shares)

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None) -> Iterator[Frame]:
        clock = _Clock(deadline)
        self.partial = False
        if self.kind == "image":
            if clock.up():
                self.partial = True
                return
            yield self._frame(0.0, self._image, PICTURE_MAX_SIDE, remove_borders, sampling.feature_interval is not None, sampling.inner_pictures)
            return
        feature_step = sampling.feature_step(self.duration)
        feature_due = 0.0
        due = 0.0
        start = 0.0
        for index, duration in enumerate(self._durations):
            if clock.up():
                self.partial = True
                return
            try:
                self._image.seek(index)
            except EOFError:
                break
            except (OSError, ValueError, SyntaxError) as error:
                raise MediaError("corrupt", f"cannot decode frame {index}: {error}", recognised=True) from None
            if sampling.every_frame or start >= due or index == 0:
                with_detail = feature_step is not None and start >= feature_due
                if with_detail:
                    feature_due = start + feature_step
                yield self._frame(start, self._image.copy(), PICTURE_MAX_SIDE, remove_borders, with_detail, sampling.inner_pictures)
                if not sampling.every_frame:
                    due = start + sampling.interval
            start += duration


# ---------------------------------------------------------------- video


def _upright(array: np.ndarray, rotation: float) -> np.ndarray:
    """Apply the display rotation (degrees counter-clockwise, FFmpeg's display-matrix convention)."""
    quarter_turns = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(array, k=quarter_turns)) if quarter_turns else array


def _working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(2, round(width * scale)), max(2, round(height * scale))


class VideoMedia(Media):
    kind = "video"

    def __init__(self, source: Source, fmt: str | None, limits: Limits):
        self._source = source
        try:
            container = av.open(source.for_av(), mode="r")
        except av.error.FFmpegError as error:
            if fmt is not None:
                # It starts like a known container but does not open: damaged or cut short.
                raise MediaError("corrupt", f"damaged or truncated {fmt} ({_av_message(error)})", recognised=True) from None
            raise MediaError("unsupported", f"not a readable image or video ({_av_message(error)})") from None
        try:
            if not container.streams.video:
                # Not recognised media even in a video container: there is no picture to check.
                raise MediaError("unsupported", "no video stream (audio-only or not media)")
            stream = container.streams.video[0]
            self.format = fmt or (container.format.name.split(",")[0] if container.format else "video")
            self.width = stream.codec_context.width
            self.height = stream.codec_context.height
            if not self.width or not self.height:
                raise MediaError("corrupt", "the video stream has no picture size", recognised=True)
            limits.check_pixels(self.width, self.height, video=True)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            self.duration = float(duration) if duration and math.isfinite(duration) else 0.0
            if self.duration > limits.max_duration:
                raise MediaError("oversized", f"{self.duration:.0f} s is over the limit of {limits.max_duration:.0f} s", recognised=True)
        finally:
            container.close()
        self._limits = limits

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None) -> Iterator[Frame]:
        clock = _Clock(deadline)
        self.partial = False
        tracker = BorderTracker() if remove_borders else None
        inner = InnerTracker() if sampling.inner_pictures else None
        pending: list[tuple[float, np.ndarray, np.ndarray | None]] = []

        def frame(timestamp: float, rgb: np.ndarray, detail: np.ndarray | None) -> Frame:
            content = tracker.crop(rgb) if tracker is not None else rgb
            picture = inner.crop(rgb) if inner is not None else None
            if picture is None:
                return Frame(timestamp, rgb, content, detail)
            return Frame(timestamp, rgb, content, detail, (picture,), (inner.box.shares(rgb.shape),))

        for timestamp, rgb, detail in self._decoded(sampling, clock):
            unsettled = [t for t in (tracker, inner) if t is not None and not t.settled]
            if unsettled:
                # Hold the first frames back until the crop boxes are settled over all of them.
                for each in unsettled:
                    each.observe(rgb)
                pending.append((timestamp, rgb, detail))
                if any(not t.settled for t in unsettled):
                    continue
                for held in pending:
                    yield frame(*held)
                pending.clear()
                continue
            yield frame(timestamp, rgb, detail)
        for held in pending:
            yield frame(*held)
        self.partial = clock.passed

    def _decoded(self, sampling: Sampling, clock: _Clock) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
        feature_step = sampling.feature_step(self.duration)
        feature_due = 0.0
        container = av.open(self._source.for_av(), mode="r")
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            plan = None if sampling.every_frame else _SparsePlan(sampling, self.duration, self._limits, clock)
            if plan is None:
                frames = _every_frame(container, stream, self._limits, clock)
            else:
                if sampling.skip_unreferenced:
                    stream.codec_context.skip_frame = "NONREF"
                frames = plan.frames(container, stream)
            # One scaler per output kept for the whole video: setting up FFmpeg's scaler costs
            # more than scaling a frame, and a frame's own to_ndarray sets up a new one each time.
            to_rgb, to_grey = VideoReformatter(), VideoReformatter()
            count = 0
            last_time = -1.0
            try:
                for frame, time in frames:
                    last_time = time
                    width, height = _working_size(frame.width, frame.height, sampling.max_side)
                    rgb = to_rgb.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
                    rotation = getattr(frame, "rotation", 0) or 0
                    detail = None
                    if feature_step is not None and time >= feature_due:
                        feature_due = time + feature_step
                        width, height = _working_size(frame.width, frame.height, FEATURE_MAX_SIDE)
                        detail = _upright(to_grey.reformat(frame, width=width, height=height, format="gray", interpolation="AREA").to_ndarray(), rotation)
                    count += 1
                    yield max(0.0, float(time)), _upright(rgb, rotation), detail
            except av.error.FFmpegError as error:
                raise MediaError("corrupt", f"decoding failed after {count} frames ({_av_message(error)})", recognised=True) from None
            if clock.passed:
                return  # stopped on purpose: the frames end early, not the file
            if count == 0:
                raise MediaError("corrupt", "no decodable video frames (truncated or damaged)", recognised=True)
            # A sparse plan knows how far the packets go; its last frame can be a GOP earlier.
            end = plan.extent if plan is not None and plan.extent is not None else last_time
            if self.duration and end < self.duration - max(TRUNCATION_SLACK, 0.1 * self.duration):
                raise MediaError("corrupt", f"truncated: frames stop at {end:.1f} s of {self.duration:.1f} s", recognised=True)
        finally:
            container.close()


def _every_frame(container, stream, limits: Limits, clock: _Clock) -> Iterator[tuple[av.VideoFrame, float]]:
    """Every frame in presentation order, with its time (estimated at 30 fps where the stream gives none), until the clock is up."""
    last_time = -1.0
    for frame in container.decode(stream):
        if clock.up():
            return
        time = _frame_time(frame, float(stream.time_base) if stream.time_base is not None else None, last_time)
        if time > limits.max_duration:
            raise MediaError("oversized", f"runs past the limit of {limits.max_duration:.0f} s", recognised=True)
        last_time = time
        yield frame, time


def _frame_time(frame, base: float | None, last_time: float) -> float:
    """A decoded frame's time in seconds: from its own timestamp (frames flushed out of a decoder
    carry no time base, so the stream's is used), else 1/30 s after the last one."""
    if frame.pts is not None and base is not None:
        return frame.pts * base
    return last_time + 1.0 / 30.0 if last_time >= 0 else 0.0


# A run of packets without a keyframe is decoded in full past this many packets (a stream that
# flags no keyframes, or refreshes gradually), so that no more than this is ever held back.
MAX_HELD_PACKETS = 2000


class _SparsePlan:
    """Decides, one GOP (keyframe to keyframe) at a time, which packets reach the decoder and which frames are taken.

    The packets of a GOP are held until the next keyframe shows where it ends. A GOP gets a
    sample where one is due: its keyframe when the keyframe itself is due, and times inside it
    that are due before its last quarter step, while the allowance for decoding between
    keyframes lasts; only then are its later packets decoded, up to the last such time.
    Decoded frames are taken at the first frame at or after each due time.
    """

    def __init__(self, sampling: Sampling, duration: float, limits: Limits, clock: _Clock | None = None):
        self.step = sampling.step(duration)
        self.every_keyframe = sampling.keyframes
        self.limits = limits
        self.clock = clock or _Clock(None)
        self.due: float | None = None  # next time a sample is due
        self.targets: list[float] = []  # due times not yet taken, ascending
        self.extent: float | None = None  # end of the last packet: how far the stream really goes
        # Seconds of video that may still be decoded between keyframes: earned as the stream
        # goes, at the rate that spreads the limit over the whole duration.
        limit = sampling.max_seconds_between_keyframes
        self.rate = 1.0 if limit is None or not duration else min(1.0, limit / duration)
        self.allowance = 0.0 if limit is not None else math.inf

    def _gops(self, container, stream) -> Iterator[tuple[list, float, float, bool]]:
        """(packets, start, end, starts_with_keyframe) per GOP, in decode order."""
        base = float(stream.time_base) if stream.time_base is not None else None
        held: list = []
        start = end = 0.0
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            stamp = packet.pts if packet.pts is not None else packet.dts
            time = stamp * base if stamp is not None and base is not None else end
            if time > self.limits.max_duration:
                raise MediaError("oversized", f"runs past the limit of {self.limits.max_duration:.0f} s", recognised=True)
            if held and (packet.is_keyframe or len(held) >= MAX_HELD_PACKETS):
                yield held, start, time, held[0].is_keyframe
                held = []
            if not held:
                start = time
            held.append(packet)
            length = packet.duration * base if packet.duration and base is not None else 0.0
            end = max(end, time + length)
        if held:
            self.extent = end
            yield held, start, end, held[0].is_keyframe

    def _plan(self, packets: list, start: float, end: float, keyframe: bool, base) -> list:
        """The packets of one GOP to decode, adding the due times they serve to the targets."""
        slack = self.step / 4
        if self.due is None:
            self.due = start
        wanted = []
        if self.every_keyframe or start >= self.due - slack:
            wanted.append(start)
            self.due = start + self.step
        inside = []
        while self.due < end - slack:
            inside.append(self.due)
            self.due += self.step
        self.allowance += (end - start) * self.rate
        if inside and keyframe:
            cost = inside[-1] - start
            if cost <= self.allowance:
                self.allowance -= cost
            else:
                inside = []  # over the limit: this GOP gives its keyframe alone
                self.due = min(self.due, end)
        wanted.extend(inside)
        if not keyframe:
            # No keyframe to start from (a stream's first packets, or a run too long to hold):
            # the decoder needs all of it, in order, whether or not a sample falls in it.
            self.targets.extend(wanted)
            return packets
        if not wanted:
            return []
        self.targets.extend(wanted)
        last = wanted[-1]
        if last == start:
            return packets[:1]
        # The frame at `last` may be one that is skipped: decode on to the reference frame after it.
        limit = last + 2 * slack
        return [p for p in packets if p.dts is None or base is None or p.dts * base <= limit or p is packets[0]]

    def frames(self, container, stream) -> Iterator[tuple[av.VideoFrame, float]]:
        base = float(stream.time_base) if stream.time_base is not None else None
        last_time = -1.0
        spare = None  # the last frame decoded and not taken

        def taken(decoded) -> Iterator[tuple[av.VideoFrame, float]]:
            nonlocal last_time, spare
            for frame in decoded:
                time = _frame_time(frame, base, last_time)
                last_time = time
                if self.targets and time >= self.targets[0] - 1e-3:
                    while self.targets and self.targets[0] <= time + 1e-3:
                        self.targets.pop(0)
                    spare = None
                    yield frame, time
                else:
                    spare = (frame, time)

        for packets, start, end, keyframe in self._gops(container, stream):
            if self.clock.up():
                return
            for packet in self._plan(packets, start, end, keyframe, base):
                if self.clock.up():
                    return
                yield from taken(stream.decode(packet))
        yield from taken(stream.decode(None))
        if self.targets and spare is not None:
            # The stream's last frames are often referenced by none: the last one decoded stands in.
            self.targets.clear()
            yield spare


def _av_message(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[0].strip() if text else type(error).__name__

