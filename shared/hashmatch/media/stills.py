"""Pictures with Pillow: stills, EXIF orientation applied, animated GIF/WebP/APNG as timed frame sequences, every page or entry of a
multi-picture file (TIFF pages, MPO, ICO and ICNS entries), and pictures with transparency as shown on a light and on a dark page."""

from __future__ import annotations

import io
import struct
from typing import BinaryIO, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hashmatch.errors import MediaError
from hashmatch.media.borders import content_box, inner_boxes, inner_picture
from hashmatch.media.frames import Deadline, Frame, Media, Track, TrackSource
from hashmatch.media.limits import Limits
from hashmatch.media.pixels import displayable, has_transparency, on_pages, rgb_array, shrink, small_rgb
from hashmatch.media.sampling import FEATURE_MAX_SIDE, PICTURE_MAX_SIDE, SPARSE, FeatureCells, Sampling
from hashmatch.media.schedule import Schedule, default_schedule
from hashmatch.media.sniff import HEIF_BRANDS
from hashmatch.media.source import Source


# A frame without a delay of its own, or with none, shows for 0.1 s, as browsers show it.
_DEFAULT_DELAY = 0.1
# Browsers (Chromium, Firefox) show a frame whose delay is 10 ms or less for 0.1 s: a frame counts for the time it is on screen.
_SHORTEST_DELAY = 0.011
# Formats whose frames are an animation (timed, each drawn over the last); the frames of any other
# multi-frame picture (TIFF pages, MPO) are pictures of their own, each a track.
ANIMATED_FORMATS = frozenset({"gif", "webp", "png", "avif"})
# Icon files hold one picture per size: every entry is a picture a viewer may show.
ICON_FORMATS = frozenset({"ico", "icns"})


def shown_for(delay: float) -> float:
    """How long a frame with this delay (seconds) is on screen in a browser."""
    return delay if delay >= _SHORTEST_DELAY else _DEFAULT_DELAY


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
            delays.append(shown_for(delay or 0.0))
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
            delays.append(shown_for(int.from_bytes(fields[12:15], "little") / 1000.0))
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
        self._pages: list = []  # frame numbers (TIFF, MPO) or sizes (icons) of the pictures after the first
        self._limits = limits
        try:
            # Reading EXIF and counting frames parse past the header: a cut-off file fails here.
            self._orientation = image.getexif().get(0x0112, 1)
            if self.format in ICON_FORMATS:
                sizes = sorted(image.info.get("sizes") or [image.size], key=lambda size: size[0] * size[1], reverse=True)
                self._pages = [size for size in sizes if tuple(size) != tuple(image.size)]
                self._durations = [0.0]
            elif self.format not in ANIMATED_FORMATS and getattr(image, "n_frames", 1) > 1:
                self._pages = list(range(1, image.n_frames))
                self._durations = [0.0]
            else:
                self._durations = self._animation(source, limits)
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
            raise MediaError("corrupt", f"cannot decode {fmt} image: {error}", recognised=True) from None
        self.kind = "video" if len(self._durations) > 1 else "image"
        self.duration = float(sum(self._durations)) if self.kind == "video" else 0.0
        swap = self.kind == "image" and self._orientation in (5, 6, 7, 8)
        self.width, self.height = (image.size[1], image.size[0]) if swap else image.size
        main = TrackSource.ANIMATION if self.kind == "video" else TrackSource.PICTURE
        self.tracks = [Track(0, main, self.kind, self.duration)]
        for number, page in enumerate(self._pages, start=1):
            name = f"{page[0]}x{page[1]} entry" if isinstance(page, (tuple, list)) else f"page {page + 1}"
            track = Track(number, TrackSource.PAGE, "image", name=name)
            if number > limits.max_frames:
                track.uncovered = f"over {limits.max_frames} pictures in one file"
            self.tracks.append(track)

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
            delays.append(shown_for(max(0.0, float(image.info.get("duration", 0) or 0)) / 1000.0))
        image.seek(0)
        return delays

    def _frame(self, timestamp: float, image, max_side: int, remove_borders: bool, with_detail: bool, with_inner: bool = False, track: int = 0) -> Frame:
        try:
            image.load()
            if self.kind == "image" and track == 0 and self._orientation in (2, 3, 4, 5, 6, 7, 8):
                # In place, so that the picture is not held twice; it is upright from then on.
                ImageOps.exif_transpose(image, in_place=True)
                self._orientation = 1
            # A picture with transparency is also hashed as shown on a light and on a dark page: its colour channels alone
            # (what shared hash lists hash) may be anything, black included, with the picture in its alpha channel.
            alternates = on_pages(image, max_side) if has_transparency(image) else ()
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
            return Frame(timestamp, whole, whole, detail, inner, shares, track=track, alternates=alternates)
        content = small_rgb(shrink(upright.crop((box.left, box.top, box.right, box.bottom)), max_side))
        return Frame(timestamp, whole, content, detail, inner, shares, track=track, alternates=alternates)

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None, schedule: Schedule | None = None) -> Iterator[Frame]:
        clock = Deadline(deadline)
        self.partial = False
        main = self.tracks[0]
        for track in self.tracks:
            track.coverage = type(track.coverage)()
            track.hashed = False
        if self.kind == "image":
            if clock.up():
                self.partial = True
                return
            main.hashed = True
            yield self._frame(0.0, self._image, PICTURE_MAX_SIDE, remove_borders, sampling.feature_interval is not None, sampling.inner_pictures)
        else:
            yield from self._animation_frames(sampling, remove_borders, clock, schedule or default_schedule())
            if clock.passed:
                self.partial = True
                return
        yield from self._page_frames(sampling, remove_borders, clock)
        self.partial = clock.passed

    def _animation_frames(self, sampling: Sampling, remove_borders: bool, clock: Deadline, schedule: Schedule) -> Iterator[Frame]:
        """Every frame (dense) or the frames on screen at the schedule's instants: each frame counts for the time it is shown."""
        main = self.tracks[0]
        detail_due = FeatureCells(sampling.feature_step(self.duration))
        instants = None if sampling.every_frame else schedule.instants(sampling.step(self.duration), self.duration)
        instant = next(instants) if instants is not None else None
        start = 0.0
        for index, duration in enumerate(self._durations):
            if clock.up():
                return
            end = start + duration
            due = []
            if instants is not None:
                while instant.time < end:
                    due.append(instant)
                    instant = next(instants)
            start_of_frame, start = start, end
            if instants is not None and not due:
                if index + 1 == len(self._durations) or instant.time >= self.duration:
                    break  # no instant falls in the frames left: they need not be decoded
                try:
                    self._image.seek(index)  # decoded all the same: a later frame may be drawn over this one
                except EOFError:
                    break
                except (OSError, ValueError, SyntaxError) as error:
                    raise MediaError("corrupt", f"cannot decode frame {index}: {error}", recognised=True) from None
                continue
            try:
                self._image.seek(index)
            except EOFError:
                break
            except (OSError, ValueError, SyntaxError) as error:
                raise MediaError("corrupt", f"cannot decode frame {index}: {error}", recognised=True) from None
            with_detail = detail_due.due(start_of_frame)
            for each in due:
                main.coverage.cover(each.start, each.end)
            if instants is None:
                main.coverage.cover(start_of_frame, end)
            main.hashed = True
            yield self._frame(start_of_frame, self._image.copy(), PICTURE_MAX_SIDE, remove_borders, with_detail, sampling.inner_pictures)

    def _page_frames(self, sampling: Sampling, remove_borders: bool, clock: Deadline) -> Iterator[Frame]:
        """The pictures after the first of a multi-picture file, each as a still of its own track."""
        for track, page in zip(self.tracks[1:], self._pages):
            if track.uncovered:
                continue
            if clock.up():
                return
            try:
                if isinstance(page, (tuple, list)):
                    picture = self._icon_entry(tuple(page))
                else:
                    self._image.seek(page)
                    picture = self._image.copy()
            except EOFError:
                track.uncovered = "the file ends before this picture"
                continue
            except (OSError, ValueError, SyntaxError) as error:
                raise MediaError("corrupt", f"cannot decode {track.name} of the {self.format} image: {error}", recognised=True) from None
            width, height = picture.size
            if width * height > self._limits.max_pixels:
                track.uncovered = f"{width}x{height} pixels is over the limit of {self._limits.max_pixels} for a picture"
                continue
            track.hashed = True
            yield self._frame(0.0, picture, PICTURE_MAX_SIDE, remove_borders, False, sampling.inner_pictures, track=track.index)

    def _icon_entry(self, size: tuple[int, int]):
        """One entry of an icon file, by its size (Pillow opens the largest)."""
        reader = getattr(self._image, "ico", None) or getattr(self._image, "icns", None)
        if reader is not None and hasattr(reader, "getimage"):
            return reader.getimage(size)
        self._image.size = size
        self._image.load()
        return self._image.copy()
