"""Bounds that keep one object from exhausting a function, and how they follow from its memory and time."""

from __future__ import annotations

from dataclasses import dataclass

from hashmatch.errors import MediaError


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
