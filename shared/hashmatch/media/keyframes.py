"""Sparse sampling of a video: which packets to decode so that the frame shown at each keyed instant is reached at the least cost.

The instants come from a Schedule (schedule.py): secret, one per step, anywhere in the step. At
each one the frame then on screen is taken, decoded from its GOP's keyframe with all the frames
it refers to, never without them. Two shortcuts keep this cheap, and both are checked:

- A short GOP's keyframe stands for the instants inside it (decoding one picture instead of up to
  a step of them), while the keyframes are seen to be like the frames around them: at one keyed
  instant in each run of CHECK_EVERY (schedule.py) such a GOP is decoded to the instant all the
  same, and the keyframe compared with the frame shown then. The first keyframe found unlike its
  GOP ends the shortcut for the whole upload: every later instant is decoded, and the GOPs a
  keyframe already stood for are decoded again at their instants (a second pass), so an upload
  whose keyframes are benign and whose other frames are not is sampled as if there were no shortcut.
- Frames no other frame refers to (most B-frames) are skipped, except the one shown at an instant:
  the decoder is told to decode it and to skip the others around it.

What cannot be reached within the budget for decoding between keyframes, or because the frames
before it in its GOP were not decoded, is left uncovered (frames.Coverage), never stood in for by
a keyframe that does not show it.
"""

from __future__ import annotations

import math
from typing import Iterator

import av
import numpy as np

from hashmatch.errors import MediaError
from hashmatch.media.frames import Coverage, Deadline, frame_time
from hashmatch.media.limits import Limits
from hashmatch.media.sampling import Sampling
from hashmatch.media.schedule import Instant, Schedule, default_schedule


# A run of packets without a keyframe is decoded in full past this many packets (a stream that
# flags no keyframes, or refreshes gradually), so that no more than this is ever held back.
MAX_HELD_PACKETS = 2000
# A keyframe and the frame shown at a checked instant of its GOP are alike when their 24 x 24 grey
# thumbnails correlate by at least MIN_CORRELATION at some shift of up to MAX_SHIFT pixels (a pan moves
# the picture). Measured: a keyframe and the frames of its 2 s GOP correlate by 0.55 at the least and
# 0.97 in the median on the 720p bench video, 0.53 and 0.87 on the corpus's chair clip; unrelated
# pictures by 0.44 at the 99th percentile (0.53 at most of 435 pairs). PDQ is no measure here: a pan
# of a few per cent moves it as far as an unrelated picture does (a median 114 bits on the bench video).
MIN_CORRELATION = 0.5
MAX_SHIFT = 3
THUMBNAIL_SIDE = 24
# A thumbnail this flat (standard deviation of its grey levels) has no layout to correlate: two flat ones are alike when
# their brightness is.
FLAT = 2.0


def thumbnail(frame) -> np.ndarray:
    return frame.reformat(width=THUMBNAIL_SIDE, height=THUMBNAIL_SIDE, format="gray", interpolation="AREA").to_ndarray().astype(np.float32)


def alike(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two thumbnails show the same picture, allowing for a small pan."""
    if a.std() < FLAT or b.std() < FLAT:
        return a.std() < FLAT and b.std() < FLAT and abs(float(a.mean()) - float(b.mean())) < 16.0
    side = THUMBNAIL_SIDE
    for dy in range(-MAX_SHIFT, MAX_SHIFT + 1):
        for dx in range(-MAX_SHIFT, MAX_SHIFT + 1):
            one = a[max(0, dy) : side + min(0, dy), max(0, dx) : side + min(0, dx)]
            two = b[max(0, -dy) : side + min(0, -dy), max(0, -dx) : side + min(0, -dx)]
            one, two = one - one.mean(), two - two.mean()
            scale = float(np.sqrt((one * one).sum() * (two * two).sum()))
            if scale and float((one * two).sum()) / scale >= MIN_CORRELATION:
                return True
    return False


class KeyframePlan:
    """Decides, one GOP (keyframe to keyframe) at a time, which packets reach the decoder and which frames are taken.

    The packets of a GOP are held until the next keyframe shows where it ends; the instants due in
    it are then served by its keyframe (a short GOP, while keyframes are trusted) or by the frames
    shown at them, decoded from the keyframe (within the allowance for decoding between keyframes).
    """

    def __init__(self, sampling: Sampling, duration: float, limits: Limits, clock: Deadline | None = None, schedule: Schedule | None = None):
        self.step = sampling.step(duration)
        self.every_keyframe = sampling.keyframes
        self.skip_unreferenced = sampling.skip_unreferenced
        self.limits = limits
        self.clock = clock or Deadline(None)
        self.schedule = schedule or default_schedule()
        self._instants = self.schedule.instants(self.step, duration)
        self._next: Instant = next(self._instants)
        self.targets: list[float] = []  # times of the frames to take, ascending
        self.extent: float | None = None  # end of the last packet: how far the stream really goes
        self.coverage = Coverage()
        self.trusting = True  # keyframes stand for their short GOPs until a check finds one unlike its GOP
        self.stood_in: dict[float, list[Instant]] = {}  # GOP start -> the instants its keyframe stood for
        # Keyframes taken as stand-ins that the second pass found on screen at none of their instants: their frames
        # are withdrawn (hashing drops them), so that a benign keyframe does not count beside the frames it hid.
        self.retracted: set[float] = set()
        self._keyframes_shown: set[float] = set()  # stand-in keyframes also taken as the frame shown at an instant
        self.checks: dict[float, float] = {}  # keyframe time -> time of the frame it is compared with
        self._thumbnails: dict[float, np.ndarray] = {}
        self._chain = False  # every packet of the current GOP so far reached the decoder
        # Seconds of video that may still be decoded between keyframes (long GOPs): earned as the
        # stream goes, at the rate that spreads the limit over the whole duration.
        limit = sampling.max_seconds_between_keyframes
        self.rate = 1.0 if limit is None or not duration else min(1.0, limit / duration)
        self.allowance = 0.0 if limit is not None else math.inf
        self.checked_gops = 0
        self.failed_checks = 0

    def _gops(self, container, stream) -> Iterator[tuple[list, float, float, bool, bool]]:
        """(packets, start, end, starts_with_keyframe, ends_at_keyframe) per run of packets, in decode order."""
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
                yield held, start, time, held[0].is_keyframe, bool(packet.is_keyframe)
                held = []
            if not held:
                start = time
            held.append(packet)
            length = packet.duration * base if packet.duration and base is not None else 0.0
            end = max(end, time + length)
        if held:
            self.extent = end
            yield held, start, end, held[0].is_keyframe, True

    def _due(self, end: float) -> list[Instant]:
        due = []
        while self._next.time < end:
            due.append(self._next)
            self._next = next(self._instants)
        return due

    @staticmethod
    def _shown(packets: list, instant: float, base: float | None, fallback: float) -> tuple[int, float]:
        """The position (decode order) and time of the packet whose frame is on screen at `instant`: the latest shown by then."""
        best, best_time = None, None
        for position, packet in enumerate(packets):
            stamp = packet.pts if packet.pts is not None else packet.dts
            time = stamp * base if stamp is not None and base is not None else fallback
            if time <= instant + 1e-9 and (best_time is None or time > best_time):
                best, best_time = position, time
        if best is None:  # the instant is before the run's first frame: that frame is the one shown
            for position, packet in enumerate(packets):
                stamp = packet.pts if packet.pts is not None else packet.dts
                time = stamp * base if stamp is not None and base is not None else fallback
                if best_time is None or time < best_time:
                    best, best_time = position, time
        return best, best_time

    def _decode_to(self, packets: list, due: list[Instant], start: float, base, budget: float = math.inf) -> tuple[list, list[Instant]]:
        """The packets to feed (with whether each is a frame to take) so that the frames shown at `due` are decoded,
        those reached within `budget` seconds past `start`; and the instants reached."""
        shown = [(instant, *self._shown(packets, instant.time, base, start)) for instant in due]
        reached = [(instant, position, time) for instant, position, time in shown if time - start <= budget + 1e-9]
        if not reached:
            return [], []
        last = max(position for _instant, position, _time in reached)
        wanted = {position for _instant, position, _time in reached}
        self.targets.extend(sorted({time for _instant, _position, time in reached}))
        self.targets.sort()
        return [(packet, position in wanted) for position, packet in enumerate(packets[: last + 1])], [instant for instant, _p, _t in reached]

    def _plan(self, packets: list, start: float, end: float, keyframe: bool, closed: bool, base) -> list:
        """The packets of one run to decode, as (packet, shown at an instant), adding the frame times they serve to the targets."""
        due = self._due(end)
        self.allowance += (end - start) * self.rate
        if keyframe:
            self._chain = True
        if not self._chain:
            # No keyframe to start from and the frames before this run were not all decoded: nothing in it can be decoded
            # as it is shown. Its instants stay uncovered.
            return []
        if self.every_keyframe and keyframe and not due:
            self.targets.append(start)
            self._chain = closed
            return [(packets[0], True)]
        if not due:
            self._chain = False
            return []
        short = keyframe and closed and end - start <= self.step + 1e-9
        if short and self.trusting and not self.every_keyframe:
            return self._stand_in(packets, start, due, base)
        if short:
            feed, reached = self._decode_to(packets, due, start, base)
        else:
            # A long GOP, or part of one: decoded from its keyframe, within the allowance. A run that does not end at a
            # keyframe is decoded whole, so that the next run of its GOP has the frames it refers to.
            need = end - start if not closed else max(self._shown(packets, i.time, base, start)[1] for i in due) - start
            budget = min(need, self.allowance)
            feed, reached = self._decode_to(packets, due, start, base, budget)
            if not closed and need <= self.allowance:
                feed = [(packet, taken) for packet, taken in feed] + [(packet, False) for packet in packets[len(feed) :]]
            self.allowance -= budget if math.isfinite(self.allowance) else 0.0
            self._chain = not closed and need <= budget + 1e-9
        if keyframe and self.every_keyframe and (not feed or not feed[0][1]):
            self.targets.insert(0, start)
            feed = [(packets[0], True)] + feed[1:] if feed else [(packets[0], True)]
        for instant in reached:
            self.coverage.cover(instant.start, instant.end)
        return feed

    def _stand_in(self, packets: list, start: float, due: list[Instant], base) -> list:
        """A short GOP while keyframes are trusted: its keyframe stands for its instants, except that the frames shown at its
        checked instants are decoded and the last of them compared with the keyframe. The decoding stops there: the frames
        shown at the unchecked instants before it are on the way and are taken, the keyframe stands for those after it, as in
        a GOP with no check (decoding on to them checked nothing more, for 11-15 % more of the checks' decoding on the 2 s-GOP
        bench videos)."""
        checked = [instant for instant in due if self.schedule.checked(instant.index)]
        shown = [instant for instant in due if checked and instant.time <= checked[-1].time]
        stood_for = due[len(shown) :]
        feed, reached = self._decode_to(packets, shown, start, base) if shown else ([], [])
        if checked:
            compared = self._shown(packets, checked[-1].time, base, start)[1]
            if compared > start + 1e-6:  # the keyframe itself on screen at the instant needs no comparing
                self.checks[start] = compared
                self.checked_gops += 1
        if stood_for:
            # The keyframe stands for the instants in its short GOP (the second pass decodes them if trust ends).
            self.stood_in[start] = stood_for
            if feed and feed[0][1]:
                self._keyframes_shown.add(start)  # on screen at an earlier instant too: never withdrawn
            else:
                self.targets.append(start)
                self.targets.sort()
            feed = [(packets[0], True)] + feed[1:]
            for instant in stood_for:
                self.coverage.cover(instant.start, instant.end)
        for instant in reached:
            self.coverage.cover(instant.start, instant.end)
        self._chain = False
        return feed

    def _revisit(self, packets: list, start: float, base) -> list:
        """Second pass: the frames shown at the instants a keyframe stood for, now that keyframes are not trusted."""
        stood_for = self.stood_in.pop(start, None) or []
        # An instant at which the keyframe itself is on screen was served by it already.
        due = [instant for instant in stood_for if self._shown(packets, instant.time, base, start)[1] > start + 1e-6]
        if not due:
            return []
        if len(due) == len(stood_for) and start not in self._keyframes_shown:
            self.retracted.add(start)
        feed, _reached = self._decode_to(packets, due, start, base)
        return feed

    def frames(self, container, stream) -> Iterator[tuple[av.VideoFrame, float]]:
        base = float(stream.time_base) if stream.time_base is not None else None
        context = stream.codec_context
        skipping = self.skip_unreferenced
        last_time = -1.0
        spare = None  # the last frame decoded and not taken

        def check(frame, time: float) -> None:
            if time in self.checks:
                self._thumbnails[time] = thumbnail(frame)
            for keyframe_time, target in list(self.checks.items()):
                if abs(target - time) < 1e-6 and keyframe_time in self._thumbnails:
                    del self.checks[keyframe_time]
                    if not alike(self._thumbnails.pop(keyframe_time), thumbnail(frame)):
                        self.trusting = False
                        self.failed_checks += 1

        def taken(decoded) -> Iterator[tuple[av.VideoFrame, float]]:
            nonlocal last_time, spare
            for frame in decoded:
                time = frame_time(frame, base, last_time)
                last_time = time
                if self.checks:
                    check(frame, time)
                if self.targets and time >= self.targets[0] - 1e-3:
                    while self.targets and self.targets[0] <= time + 1e-3:
                        self.targets.pop(0)
                    spare = None
                    yield frame, time
                else:
                    spare = (frame, time)

        def feed(pairs) -> Iterator[tuple[av.VideoFrame, float]]:
            nonlocal skipping
            for packet, wanted in pairs:
                if self.clock.up():
                    return
                if self.skip_unreferenced and skipping == wanted:
                    # The frame shown at an instant is decoded even when no other frame refers to it.
                    context.skip_frame = "DEFAULT" if wanted else "NONREF"
                    skipping = not wanted
                yield from taken(stream.decode(packet))

        if self.skip_unreferenced:
            context.skip_frame = "NONREF"
        for packets, start, end, keyframe, closed in self._gops(container, stream):
            if self.clock.up():
                return
            yield from feed(self._plan(packets, start, end, keyframe, closed, base))
        yield from taken(stream.decode(None))
        if self.targets and spare is not None:
            # The stream's last frames are often referenced by none: the last one decoded stands in.
            self.targets.clear()
            yield spare
        if self.trusting or not self.stood_in or self.clock.up():
            return
        # A keyframe was found unlike its GOP: the instants keyframes stood for before then are decoded as shown.
        self.targets.clear()
        spare = None
        container.seek(0)
        context.flush_buffers()
        for packets, start, _end, _keyframe, _closed in self._gops(container, stream):
            if self.clock.up() or not self.stood_in:
                break
            yield from feed(self._revisit(packets, start, base))
        yield from taken(stream.decode(None))
