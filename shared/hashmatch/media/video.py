"""Video with PyAV: every picture stream a player can show (each video stream, cover art, bitmap subtitles), real timestamps
(variable frame rate included), display rotation applied, truncation detected."""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from hashmatch.errors import MediaError
from hashmatch.media.borders import BorderTracker, InnerTracker
from hashmatch.media.frames import Deadline, Frame, Media, Track, TrackSource, frame_time
from hashmatch.media.keyframes import KeyframePlan
from hashmatch.media.limits import Limits
from hashmatch.media.pixels import composites, upright, working_size
from hashmatch.media.sampling import FEATURE_MAX_SIDE, PICTURE_MAX_SIDE, SPARSE, FeatureCells, Sampling
from hashmatch.media.schedule import Schedule, default_schedule
from hashmatch.media.source import Source


# A video whose frames stop this long (or 10 %) before its declared duration is truncated:
# containers with the index at the front decode a cut-off file without an error.
TRUNCATION_SLACK = 1.0
# Bitmap subtitle codecs whose pictures can be drawn here: PGS carries its palette in its own packets.
# DVD, DVB and XSUB subtitles take theirs from elsewhere (the stream's header, a CLUT) that PyAV does
# not hand over, so their streams are uncovered (held) rather than guessed at.
DRAWN_SUBTITLES = frozenset({"pgssub"})
BITMAP_SUBTITLES = frozenset({"pgssub", "dvdsub", "dvbsub", "xsub"})


class VideoMedia(Media):
    kind = "video"

    def __init__(self, source: Source, fmt: str | None, limits: Limits):
        self._source = source
        try:
            container = av.open(source.for_av(), mode="r")
        except av.error.FFmpegError as error:
            if fmt is not None:
                # It starts like a known container but does not open: damaged or cut short.
                raise MediaError("corrupt", f"damaged or truncated {fmt} ({av_message(error)})", recognised=True) from None
            raise MediaError("unsupported", f"not a readable image or video ({av_message(error)})") from None
        try:
            videos, attached, subtitles = [], [], []
            for stream in container.streams:
                if stream.type == "video" and stream.codec_context is not None:
                    (attached if stream.disposition & av.stream.Disposition.attached_pic else videos).append(stream)
                elif stream.type == "subtitle" and stream.codec_context is not None and stream.codec_context.name in BITMAP_SUBTITLES:
                    subtitles.append(stream)
            if not videos and not attached and not subtitles:
                # Not recognised media even in a video container: there is no picture to check.
                raise MediaError("unsupported", "no video stream (audio-only or not media)")
            self.format = fmt or (container.format.name.split(",")[0] if container.format else "video")
            main = (videos or attached or subtitles)[0]
            self.width = getattr(main.codec_context, "width", 0) or 0
            self.height = getattr(main.codec_context, "height", 0) or 0
            if videos and (not self.width or not self.height):
                raise MediaError("corrupt", "the video stream has no picture size", recognised=True)
            if videos:
                limits.check_pixels(self.width, self.height, video=True)
            self.duration = _duration(main, container) if videos or subtitles else 0.0
            if not videos and not subtitles:
                self.kind = "image"  # an audio file whose only picture is its cover art
            if self.duration > limits.max_duration:
                raise MediaError("oversized", f"{self.duration:.0f} s is over the limit of {limits.max_duration:.0f} s", recognised=True)
            self.tracks = []
            self._streams: list[int] = []
            for stream in videos:
                self._add(stream, TrackSource.VIDEO, "video", _duration(stream, container), limits)
            for stream in attached:
                self._add(stream, TrackSource.ATTACHED_PICTURE, "image", 0.0, limits)
            for stream in subtitles:
                track = self._add(stream, TrackSource.SUBTITLES, "video", self.duration or _duration(stream, container), limits)
                if stream.codec_context.name not in DRAWN_SUBTITLES:
                    track.uncovered = f"{stream.codec_context.name} bitmap subtitles cannot be drawn here"
        finally:
            container.close()
        self._limits = limits

    def _add(self, stream, source: str, kind: str, duration: float, limits: Limits) -> Track:
        track = Track(len(self.tracks), source, kind, duration, name=f"stream {stream.index}")
        width, height = getattr(stream.codec_context, "width", 0) or 0, getattr(stream.codec_context, "height", 0) or 0
        if track.index and source != TrackSource.SUBTITLES and width * height > limits.max_video_pixels:
            track.uncovered = f"{width}x{height} pixels is over the limit of {limits.max_video_pixels} for a video frame"
        self.tracks.append(track)
        self._streams.append(stream.index)
        return track

    def frames(self, sampling: Sampling = SPARSE, remove_borders: bool = True, deadline: float | None = None, schedule: Schedule | None = None) -> Iterator[Frame]:
        clock = Deadline(deadline)
        self.partial = False
        schedule = schedule or default_schedule()
        for track in self.tracks:
            track.coverage = type(track.coverage)()
            track.hashed = False
            track.retracted = frozenset()
        for track, stream_index in zip(self.tracks, self._streams):
            if track.uncovered or clock.up():
                continue
            if track.source == TrackSource.VIDEO:
                # Local features come from the main stream only: the matcher's second stage looks at one sequence.
                chosen = sampling if track.index == 0 else replace(sampling, feature_interval=None)
                frames = self._stream_frames(track, stream_index, chosen, remove_borders, clock, schedule.for_track(track.index))
            elif track.source == TrackSource.ATTACHED_PICTURE:
                frames = self._attached_picture(track, stream_index)
            else:
                frames = self._subtitle_pictures(track, stream_index, clock)
            for frame in frames:
                track.hashed = True
                yield frame
        self.partial = clock.passed

    def _stream_frames(self, track: Track, stream_index: int, sampling: Sampling, remove_borders: bool, clock: Deadline, schedule: Schedule) -> Iterator[Frame]:
        tracker = BorderTracker() if remove_borders else None
        if tracker is not None and sampling.every_frame:
            # Decoded frame by frame, the first frames span a fraction of a second: a reference that opens on a slow
            # pan over a bright plain area would be cropped for its whole length. Its box is agreed over frames spread
            # over the video instead, as sparse sampling's are.
            self._observe_spread(tracker, track, stream_index, sampling, clock)
        inner = InnerTracker() if sampling.inner_pictures else None
        pending: list[tuple[float, np.ndarray, np.ndarray | None]] = []

        def frame(timestamp: float, rgb: np.ndarray, detail: np.ndarray | None) -> Frame:
            content = tracker.crop(rgb) if tracker is not None else rgb
            picture = inner.crop(rgb) if inner is not None else None
            if picture is None:
                return Frame(timestamp, rgb, content, detail, track=track.index)
            return Frame(timestamp, rgb, content, detail, (picture,), (inner.box.shares(rgb.shape),), track=track.index)

        for timestamp, rgb, detail in self._decoded(track, stream_index, sampling, clock, schedule):
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

    def _observe_spread(self, tracker: BorderTracker, track: Track, stream_index: int, sampling: Sampling, clock: Deadline) -> None:
        """Show `tracker` the frames shown at BorderTracker.FRAMES instants spread evenly over the track (each reached by a
        seek to the keyframe before it and decoding on to it)."""
        duration = track.duration or self.duration
        if duration <= 0:
            return
        container = av.open(self._source.for_av(), mode="r")
        try:
            stream = container.streams[stream_index]
            time_base = float(stream.time_base) if stream.time_base is not None else None
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base is not None else 0.0
            to_rgb = VideoReformatter()
            for number in range(tracker.FRAMES):
                if clock.up() or time_base is None:
                    return
                instant = duration * (number + 0.5) / tracker.FRAMES
                container.seek(int((start + instant) / time_base), stream=stream, backward=True)
                last_time = -1.0
                for frame in container.decode(stream):
                    last_time = frame_time(frame, time_base, last_time)
                    if last_time + 1e-3 < start + instant:
                        continue
                    width, height = working_size(frame.width, frame.height, sampling.max_side)
                    tracker.observe(upright(to_rgb.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray(), getattr(frame, "rotation", 0) or 0))
                    break
        except av.error.FFmpegError:
            return  # the frame-by-frame pass decodes the video again and says what is wrong with it
        finally:
            container.close()

    def _decoded(self, track: Track, stream_index: int, sampling: Sampling, clock: Deadline, schedule: Schedule) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
        duration = track.duration or self.duration
        detail_due = FeatureCells(sampling.feature_step(duration))
        container = av.open(self._source.for_av(), mode="r")
        try:
            stream = container.streams[stream_index]
            stream.thread_type = "AUTO"
            plan = None if sampling.every_frame else KeyframePlan(sampling, duration, self._limits, clock, schedule)
            frames = _every_frame(container, stream, self._limits, clock) if plan is None else plan.frames(container, stream)
            # One scaler per output kept for the whole video: setting up FFmpeg's scaler costs
            # more than scaling a frame, and a frame's own to_ndarray sets up a new one each time.
            to_rgb, to_grey = VideoReformatter(), VideoReformatter()
            count = 0
            last_time = -1.0
            try:
                for frame, time in frames:
                    last_time = max(last_time, time)
                    width, height = working_size(frame.width, frame.height, sampling.max_side)
                    rgb = to_rgb.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
                    rotation = getattr(frame, "rotation", 0) or 0
                    detail = None
                    if detail_due.due(time):
                        width, height = working_size(frame.width, frame.height, FEATURE_MAX_SIDE)
                        detail = upright(to_grey.reformat(frame, width=width, height=height, format="gray", interpolation="AREA").to_ndarray(), rotation)
                    count += 1
                    yield max(0.0, float(time)), upright(rgb, rotation), detail
            except av.error.FFmpegError as error:
                raise MediaError("corrupt", f"decoding failed after {count} frames ({av_message(error)})", recognised=True) from None
            # A sparse plan knows how far the packets go; its last frame can be a GOP earlier.
            end = plan.extent if plan is not None and plan.extent is not None else last_time
            if plan is None:
                track.coverage.cover(0.0, last_time if clock.passed else max(duration, end))
            else:
                track.coverage = plan.coverage
                track.retracted = frozenset(plan.retracted)
            if clock.passed:
                return  # stopped on purpose: the frames end early, not the file
            if count == 0:
                raise MediaError("corrupt", "no decodable video frames (truncated or damaged)", recognised=True)
            if duration and end < duration - max(TRUNCATION_SLACK, 0.1 * duration):
                raise MediaError("corrupt", f"truncated: frames stop at {end:.1f} s of {duration:.1f} s", recognised=True)
        finally:
            container.close()

    def _attached_picture(self, track: Track, stream_index: int) -> Iterator[Frame]:
        """Cover art: the stream's one picture, as a still."""
        container = av.open(self._source.for_av(), mode="r")
        try:
            stream = container.streams[stream_index]
            try:
                for frame in container.decode(stream):
                    rgb = _picture_array(frame)
                    yield Frame(0.0, rgb, rgb, track=track.index)
                    return
            except av.error.FFmpegError as error:
                raise MediaError("corrupt", f"cannot decode the attached picture ({av_message(error)})", recognised=True) from None
            track.uncovered = "the attached picture has no decodable frame"
        finally:
            container.close()

    def _subtitle_pictures(self, track: Track, stream_index: int, clock: Deadline) -> Iterator[Frame]:
        """Each picture a bitmap subtitle stream shows, drawn from its palette, at the time it is shown: on a dark and a light page."""
        container = av.open(self._source.for_av(), mode="r")
        shown = 0
        try:
            stream = container.streams[stream_index]
            base = float(stream.time_base) if stream.time_base is not None else 0.001
            palettes: dict[int, np.ndarray] = {}
            screen_height = 0
            for packet in container.demux(stream):
                if clock.up():
                    return
                if packet.size == 0:
                    continue
                screen_height = _read_pgs_palettes(bytes(packet), palettes, screen_height)
                time = (packet.pts or 0) * base
                try:
                    decoded = stream.decode(packet)
                except av.error.FFmpegError as error:
                    raise MediaError("corrupt", f"cannot decode subtitles ({av_message(error)})", recognised=True) from None
                for subtitle in decoded:
                    for rect in getattr(subtitle, "rects", None) or [subtitle]:
                        picture = _draw_bitmap(rect, palettes)
                        if picture is None:
                            continue
                        shown += 1
                        if shown > self._limits.max_frames:
                            track.uncovered = f"over {self._limits.max_frames} subtitle pictures"
                            return
                        dark, light = composites(picture, PICTURE_MAX_SIDE)
                        track.coverage.cover(time, time + 1e-3)
                        yield Frame(max(0.0, time), dark, dark, track=track.index, alternates=(light,))
            # A subtitle stream shows nothing most of the time: what it does show was all looked at.
            track.coverage.cover(0.0, track.duration)
        finally:
            container.close()


def _duration(stream, container) -> float:
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    return float(duration) if duration and math.isfinite(duration) else 0.0


def _picture_array(frame) -> np.ndarray:
    width, height = working_size(frame.width, frame.height, PICTURE_MAX_SIDE)
    return np.ascontiguousarray(frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA"))


def _read_pgs_palettes(data: bytes, palettes: dict[int, np.ndarray], screen_height: int) -> int:
    """The palette definition segments (PDS) of a PGS packet into `palettes` (id -> 256 x 4 RGBA), as FFmpeg's decoder (so a
    player) reads them, and the screen height in force after the packet (its composition segments say it).
    A packet is a run of segments (type, size, data), each after a "PG" header in a .sup file."""
    position = 0
    while position + 3 <= len(data):
        if data[position : position + 2] == b"PG":
            position += 10
            continue
        kind, size = data[position], struct.unpack(">H", data[position + 1 : position + 3])[0]
        payload = data[position + 3 : position + 3 + size]
        position += 3 + size
        if kind == 0x16 and len(payload) >= 4:
            screen_height = struct.unpack(">H", payload[2:4])[0]
        if kind != 0x14 or len(payload) < 2:
            continue
        palette = palettes.get(payload[0])
        palette = np.zeros((256, 4), np.uint8) if palette is None else palette.copy()
        # Studio-range Y'CbCr, BT.709 for a high-definition screen and BT.601 for one of at most 576 lines (or none said), as
        # FFmpeg's PGS decoder converts them: drawn otherwise, a picture's PDQ hash lands bits away from what viewers see.
        kr, kb = (0.2126, 0.0722) if screen_height <= 0 or screen_height > 576 else (0.299, 0.114)
        for at in range(2, len(payload) - 4, 5):
            index, y, cr, cb, alpha = payload[at : at + 5]
            luma, red_diff, blue_diff = (y - 16) * 255 / 219, (cr - 128) * 255 / 224, (cb - 128) * 255 / 224
            red = luma + 2 * (1 - kr) * red_diff
            blue = luma + 2 * (1 - kb) * blue_diff
            green = luma - (2 * kb * (1 - kb) * blue_diff + 2 * kr * (1 - kr) * red_diff) / (1 - kr - kb)
            palette[index] = [int(np.clip(round(v), 0, 255)) for v in (red, green, blue)] + [alpha]
        palettes[payload[0]] = palette
    return screen_height


def _draw_bitmap(rect, palettes: dict[int, np.ndarray]) -> np.ndarray | None:
    """A bitmap subtitle's picture as RGBA (H x W x 4), from its indices and the palette in force."""
    width, height = getattr(rect, "width", 0), getattr(rect, "height", 0)
    planes = getattr(rect, "planes", None)
    if not width or not height or not planes or not palettes:
        return None
    indices = np.frombuffer(bytes(planes[0]), np.uint8)
    if indices.size < width * height:
        return None
    stride = indices.size // height
    indices = indices.reshape(height, stride)[:, :width]
    palette = next(reversed(palettes.values()))
    return palette[indices]


def _every_frame(container, stream, limits: Limits, clock: Deadline) -> Iterator[tuple[av.VideoFrame, float]]:
    """Every frame in presentation order, with its time (estimated at 30 fps where the stream gives none), until the clock is up."""
    last_time = -1.0
    for frame in container.decode(stream):
        if clock.up():
            return
        time = frame_time(frame, float(stream.time_base) if stream.time_base is not None else None, last_time)
        if time > limits.max_duration:
            raise MediaError("oversized", f"runs past the limit of {limits.max_duration:.0f} s", recognised=True)
        last_time = time
        yield frame, time


def av_message(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[0].strip() if text else type(error).__name__
