"""Pictures with Pillow: stills, EXIF orientation applied, and animated GIF/WebP/APNG as timed frame sequences."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hashmatch.errors import MediaError
from hashmatch.media.borders import content_box, inner_boxes, inner_picture
from hashmatch.media.frames import Deadline, Frame, Media
from hashmatch.media.limits import Limits
from hashmatch.media.pixels import displayable, rgb_array, shrink, small_rgb
from hashmatch.media.sampling import FEATURE_MAX_SIDE, PICTURE_MAX_SIDE, SPARSE, Sampling
from hashmatch.media.sniff import HEIF_BRANDS
from hashmatch.media.source import Source


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
            if fmt.encode("ascii", "replace") in HEIF_BRANDS:
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
            upright = displayable(image)
        except (OSError, SyntaxError, ValueError) as error:
            raise MediaError("corrupt", f"cannot decode {self.format} image: {error}", recognised=True) from None
        detail = np.asarray(shrink(upright, FEATURE_MAX_SIDE).convert("L"), dtype=np.uint8) if with_detail else None
        whole = small_rgb(shrink(upright, max_side))
        # Borders are found and cut at full resolution, before shrinking: a crop one pixel
        # off at working size moves the PDQ hash of the letterboxed corpus sample by 20 bits.
        box = content_box(rgb_array(upright)) if remove_borders else None
        found = inner_boxes(whole) if with_inner else []
        inner = tuple(inner_picture(whole, b) for b in found)
        shares = tuple(b.shares(whole.shape) for b in found)
        if box is None or box.is_whole((upright.size[1], upright.size[0])):
            return Frame(timestamp, whole, whole, detail, inner, shares)
        content = small_rgb(shrink(upright.crop((box.left, box.top, box.right, box.bottom)), max_side))
        return Frame(timestamp, whole, content, detail, inner, shares)

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None) -> Iterator[Frame]:
        clock = Deadline(deadline)
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
