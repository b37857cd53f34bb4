"""Sparse sampling of a video: which frames to decode so that the sampled instants are reached at the least cost."""

from __future__ import annotations

import math
from typing import Iterator

import av

from hashmatch.errors import MediaError
from hashmatch.media.frames import Deadline, frame_time
from hashmatch.media.limits import Limits
from hashmatch.media.sampling import Sampling


# A run of packets without a keyframe is decoded in full past this many packets (a stream that
# flags no keyframes, or refreshes gradually), so that no more than this is ever held back.
MAX_HELD_PACKETS = 2000


class KeyframePlan:
    """Decides, one GOP (keyframe to keyframe) at a time, which packets reach the decoder and which frames are taken.

    The packets of a GOP are held until the next keyframe shows where it ends. A GOP gets a
    sample where one is due: its keyframe when the keyframe itself is due, and times inside it
    that are due before its last quarter step, while the allowance for decoding between
    keyframes lasts; only then are its later packets decoded, up to the last such time.
    Decoded frames are taken at the first frame at or after each due time.
    """

    def __init__(self, sampling: Sampling, duration: float, limits: Limits, clock: Deadline | None = None):
        self.step = sampling.step(duration)
        self.every_keyframe = sampling.keyframes
        self.limits = limits
        self.clock = clock or Deadline(None)
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
                time = frame_time(frame, base, last_time)
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
