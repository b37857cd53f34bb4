"""Video with PyAV: real timestamps (variable frame rate included), display rotation applied, truncation detected."""

from __future__ import annotations

import math
from typing import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from hashmatch.errors import MediaError
from hashmatch.media.borders import BorderTracker, InnerTracker
from hashmatch.media.frames import Deadline, Frame, Media, frame_time
from hashmatch.media.keyframes import KeyframePlan
from hashmatch.media.limits import Limits
from hashmatch.media.pixels import upright, working_size
from hashmatch.media.sampling import FEATURE_MAX_SIDE, SPARSE, Sampling
from hashmatch.media.source import Source


# A video whose frames stop this long (or 10 %) before its declared duration is truncated:
# containers with the index at the front decode a cut-off file without an error.
TRUNCATION_SLACK = 1.0


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
        clock = Deadline(deadline)
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

    def _decoded(self, sampling: Sampling, clock: Deadline) -> Iterator[tuple[float, np.ndarray, np.ndarray | None]]:
        feature_step = sampling.feature_step(self.duration)
        feature_due = 0.0
        container = av.open(self._source.for_av(), mode="r")
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            plan = None if sampling.every_frame else KeyframePlan(sampling, self.duration, self._limits, clock)
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
                    width, height = working_size(frame.width, frame.height, sampling.max_side)
                    rgb = to_rgb.reformat(frame, width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray()
                    rotation = getattr(frame, "rotation", 0) or 0
                    detail = None
                    if feature_step is not None and time >= feature_due:
                        feature_due = time + feature_step
                        width, height = working_size(frame.width, frame.height, FEATURE_MAX_SIDE)
                        detail = upright(to_grey.reformat(frame, width=width, height=height, format="gray", interpolation="AREA").to_ndarray(), rotation)
                    count += 1
                    yield max(0.0, float(time)), upright(rgb, rotation), detail
            except av.error.FFmpegError as error:
                raise MediaError("corrupt", f"decoding failed after {count} frames ({av_message(error)})", recognised=True) from None
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
