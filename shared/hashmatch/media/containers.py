"""Files that hold pictures without being one: a ZIP archive of pictures, an SVG drawing with embedded rasters. Each picture inside
is opened as media of its own and becomes tracks of the whole, so that it is hashed like an upload of its own.

What a viewer would show but cannot be read here is an uncovered track (the upload is held if nothing matches): an encrypted or
nested archive member, a member over the limits, an SVG image fetched from elsewhere. Pure vector drawings carry no picture a
hash list holds (PDQ lists hold photographs and video frames) and are refused as not media, as before.
"""

from __future__ import annotations

import base64
import binascii
import re
import zipfile
from dataclasses import replace
from typing import Callable, Iterator

from hashmatch.errors import MediaError
from hashmatch.media.frames import Deadline, Frame, Media, Track, TrackSource
from hashmatch.media.limits import Limits
from hashmatch.media.sampling import SPARSE, Sampling
from hashmatch.media.schedule import Schedule, default_schedule
from hashmatch.media.sniff import sniff

# A member that inflates more than this many times over is a decompression bomb's shape, not a picture's.
MAX_COMPRESSION_RATIO = 200
# An embedded picture in an SVG: a data URI of an image type, base64-encoded.
_DATA_URI = re.compile(rb"data:image/(png|jpe?g|gif|webp|bmp|tiff|avif|svg\+xml)[^,\"']*?;base64,([A-Za-z0-9+/=\s]+)", re.IGNORECASE)
# An image an SVG draws from elsewhere (a viewer fetches it; the hasher cannot).
_EXTERNAL_IMAGE = re.compile(rb"<image\b[^>]*?href\s*=\s*[\"'](?!data:|#)([^\"']+)[\"']", re.IGNORECASE | re.DOTALL)

Opener = Callable[[bytes, Limits], Media]


class EmbeddedMedia(Media):
    """The pictures inside one file, each opened as media of its own; their tracks follow one another."""

    kind = "image"
    duration = 0.0

    def __init__(self, fmt: str, members: list[tuple[str, bytes | None, str]], limits: Limits, opener: Opener):
        """`members`: (name, bytes or None when they cannot be read here, why not) in the order a viewer lists them."""
        self.format = fmt
        self._parts: list[tuple[int, Media | None]] = []
        self.tracks = []
        for name, data, why in members:
            if data is None:
                self.tracks.append(Track(len(self.tracks), TrackSource.MEMBER, "image", name=name, uncovered=why))
                continue
            try:
                media = opener(data, limits)
            except MediaError as error:
                if not error.recognised:
                    continue  # not a picture after all (a text file beside the pictures)
                self.tracks.append(Track(len(self.tracks), TrackSource.MEMBER, "image", name=name, uncovered=str(error)))
                continue
            self._parts.append((len(self.tracks), media))
            for track in media.tracks:
                self.tracks.append(replace(track, index=len(self.tracks), source=TrackSource.MEMBER, name=f"{name} {track.name}".strip()))
        if not self.tracks:
            raise MediaError("unsupported", f"a {fmt} file without pictures")
        first = next((media for _offset, media in self._parts if media is not None), None)
        self.width, self.height = (first.width, first.height) if first is not None else (0, 0)

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None, schedule: Schedule | None = None) -> Iterator[Frame]:
        clock = Deadline(deadline)
        self.partial = False
        schedule = schedule or default_schedule()
        for offset, media in self._parts:
            if clock.up():
                break
            for frame in media.frames(sampling, remove_borders, deadline, schedule.for_track(offset)):
                yield replace(frame, track=offset + frame.track)
            for track in media.tracks:
                mine = self.tracks[offset + track.index]
                mine.coverage, mine.hashed, mine.uncovered = track.coverage, track.hashed, track.uncovered or mine.uncovered
            if media.partial:
                break
        self.partial = clock.up()


def open_zip(data_source, limits: Limits, opener: Opener) -> EmbeddedMedia:
    """A ZIP archive: each member that is media, within the limits (size, count, compression), as tracks."""
    try:
        archive = zipfile.ZipFile(data_source)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise MediaError("corrupt", f"damaged zip archive ({error})", recognised=True) from None
    members: list[tuple[str, bytes | None, str]] = []
    total = 0
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            if len(members) >= limits.max_frames:
                members.append((info.filename, None, f"over {limits.max_frames} members in one archive"))
                break
            if info.flag_bits & 0x1:
                members.append((info.filename, None, "encrypted"))
                continue
            total += info.file_size
            if info.file_size > limits.max_bytes or total > limits.max_bytes:
                members.append((info.filename, None, f"over the limit of {limits.max_bytes} bytes unpacked"))
                continue
            if info.compress_size and info.file_size > MAX_COMPRESSION_RATIO * info.compress_size:
                members.append((info.filename, None, f"inflates over {MAX_COMPRESSION_RATIO} times (a decompression bomb's shape)"))
                continue
            try:
                with archive.open(info) as member:
                    content = member.read(info.file_size + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError) as error:
                members.append((info.filename, None, f"cannot be unpacked here ({error})"))
                continue
            if len(content) > info.file_size:
                members.append((info.filename, None, "larger than its header says"))
                continue
            found = sniff(content[:512])
            if found is not None and found[1] in ("zip", "archive"):
                members.append((info.filename, None, "an archive inside the archive"))
                continue
            if found is None and not _looks_like_svg(content[:512]):
                continue  # not a picture (text, data): nothing a viewer shows as one
            members.append((info.filename, content, ""))
    return EmbeddedMedia("zip", members, limits, opener)


def _looks_like_svg(head: bytes) -> bool:
    return b"<svg" in head.lower()


def open_svg(data: bytes, limits: Limits, opener: Opener) -> EmbeddedMedia:
    """An SVG drawing: its embedded rasters (data URIs) as tracks; images it fetches from elsewhere as uncovered ones."""
    members: list[tuple[str, bytes | None, str]] = []
    for number, found in enumerate(_DATA_URI.finditer(data), start=1):
        try:
            picture = base64.b64decode(re.sub(rb"\s+", b"", found.group(2)), validate=True)
        except (binascii.Error, ValueError):
            members.append((f"image {number}", None, "an embedded picture that is not valid base64"))
            continue
        members.append((f"image {number}", picture, ""))
        if len(members) >= limits.max_frames:
            break
    for found in _EXTERNAL_IMAGE.finditer(data):
        members.append((found.group(1)[:80].decode("utf-8", "replace"), None, "an image the drawing fetches from elsewhere"))
    if not members:
        raise MediaError("unsupported", "an SVG drawing without pictures (vectors only)")
    return EmbeddedMedia("svg", members, limits, opener)


def read_all(source, limits: Limits) -> bytes:
    """The bytes of a source that is read whole (an SVG is text, within the byte limit)."""
    with source.open() as file:
        return file.read(limits.max_bytes + 1)


__all__ = ["EmbeddedMedia", "open_svg", "open_zip", "read_all"]
