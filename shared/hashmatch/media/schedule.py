"""Which instants of an upload are sampled: keyed by a per-deployment secret and the upload's bytes, so that an uploader cannot aim at them.

A fixed grid (every 2 s from t = 0) lets an uploader put a benign frame exactly where each sample
falls and the known picture everywhere else. Here the timeline is cut into cells of the sampling
step starting at a secret phase, and one instant falls at a secret place inside each cell
(stratified sampling): every moment of the media is equally likely to be sampled (density 1/step),
the frame shown at a sampled instant is taken, so a frame counts for the time it is on screen,
and there is still one sample per step. The key is HMAC-SHA256(secret, SHA-256 of the upload): the
same bytes give the same instants (a redelivery hashes alike), other bytes give others, and without
the secret nothing about them can be told in advance.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterator

# The secret offline tools use when none is given (the CLI, the evaluation, tests): public, so its
# instants are predictable to anyone who reads this; the deployed hasher reads its own secret.
DEFAULT_SAMPLING_SECRET = b"hashmatch offline sampling secret (public: not for deployment)"
# Short GOPs whose keyframe stands for the instants in them (keyframes.py) are checked at one keyed instant in each run
# of CHECK_EVERY (instants 0-4, 5-9, ...): the frame shown at that instant is decoded and compared with the keyframe, and
# one unlike it ends the keyframes' standing for the whole upload. One in each run rather than each instant at a rate: a
# deceptive stretch (benign keyframes, other frames between them) of k instants, k_i of them in run i, escapes every check
# with probability prod(1 - k_i / 5), never more than (1 - 1/5)^k, and not at all once it holds a whole run (from 9
# instants, 18 s, on). Each instant checked at a quarter (before 2026-12-07) let 15 instants escape 1.3 % of the time and
# 9 instants 7.5 %; it caught 1 to 5 instants at 0.25, 0.44, 0.58, 0.68, 0.76, where this catches them at 0.20, 0.36, 0.52,
# 0.64, 0.76 at the least, and 6 to 8 at 0.82, 0.87, 0.90 against 0.84, 0.92, 0.96. The checks are most of what keyed
# sampling costs over the fixed grid on 2 s GOPs (docs/sampling.md): each decodes the frames from its keyframe to its
# instant, half a GOP on average, and checking a fifth of the instants instead of a quarter brought that cost within bound.
CHECK_EVERY = 5


@dataclass(frozen=True)
class Instant:
    """A sampled instant and the cell of the timeline it stands for (seconds)."""

    index: int
    time: float
    start: float
    end: float


class Schedule:
    """The keyed instants of one upload, and which keyframe checks it makes."""

    def __init__(self, key: bytes):
        self.key = key

    @classmethod
    def of(cls, secret: bytes, sha256: str) -> "Schedule":
        """The schedule of the upload whose bytes have this SHA-256 (hex), under the deployment's secret."""
        return cls(hmac.new(secret, b"hashmatch sampling\n" + sha256.encode("ascii"), hashlib.sha256).digest())

    def uniform(self, label: bytes, index: int) -> float:
        """A number in [0, 1) that only the key tells, one per label and index."""
        digest = hmac.new(self.key, label + b"\n" + str(index).encode("ascii"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64

    def instants(self, step: float, duration: float = 0.0) -> Iterator[Instant]:
        """The instants in ascending order, without end (the media's end is the caller's): one at a keyed place in each
        step-long cell, the cells starting at a keyed phase (the first one cut at t = 0). With the media's `duration`,
        an instant is drawn from the part of its cell before the end, so that media shorter than a step (or ending
        inside a cell) still has an instant in it, whatever the key."""
        if step <= 0:
            raise ValueError("a sparse schedule needs a positive step")
        phase = step * self.uniform(b"phase", 0)
        index = 0
        while True:
            start, end = max(0.0, phase + (index - 1) * step), phase + index * step
            # The first cell is cut at t = 0 and its instant falls inside what is left of it.
            drawn = min(end, duration) if duration and start < duration else end
            yield Instant(index, start + (drawn - start) * self.uniform(b"instant", index), start, end)
            index += 1

    def for_track(self, track: int) -> "Schedule":
        """The schedule of another picture stream of the same upload (track 0 is this one)."""
        return self if track == 0 else Schedule(hmac.new(self.key, b"track\n" + str(track).encode("ascii"), hashlib.sha256).digest())

    def checked(self, index: int) -> bool:
        """Whether the keyframe standing for instant `index` is checked against the frame shown then: one keyed instant
        of each run of CHECK_EVERY."""
        run, place = divmod(index, CHECK_EVERY)
        return place == int(CHECK_EVERY * self.uniform(b"check", run))


def default_schedule(sha256: str = "") -> Schedule:
    """The schedule offline tools use for the upload with this SHA-256 (DEFAULT_SAMPLING_SECRET)."""
    return Schedule.of(DEFAULT_SAMPLING_SECRET, sha256)
