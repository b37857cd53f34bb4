"""Media to hashes: sample frames, remove borders, hash every frame with every signal, drop near-duplicates."""

from __future__ import annotations

import io
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image

from hashmatch.errors import MediaError
from hashmatch.media.decode import open_media
from hashmatch.media.frames import Frame, Media
from hashmatch.media.limits import DEFAULT_LIMITS, Limits
from hashmatch.media.sampling import DENSE, SPARSE, Sampling
from hashmatch.media.schedule import DEFAULT_SAMPLING_SECRET, Schedule
from hashmatch.media.source import Source, read_source
from hashmatch.model import Box, DetailPicture, EncodedDetailPicture, FrameFeatures, FrameHashes, LocalFeatures, MediaHashes, TrackHashes
from hashmatch.signals import PRIMARY_SIGNAL, SIGNAL_TYPES, SignalType
from hashmatch.signals.base import SignalValue
from hashmatch.vocabulary import MediaKind, Role

# Consecutive reference frames whose PDQ hashes are this close add nothing a match could use
# (two encodes of one frame differ by more), so dense reference hashing keeps one of them.
REFERENCE_DEDUP_DISTANCE = 8
# Reference feature frames are deduplicated the same way, but only above this PDQ quality (PDQ's own
# "usable hash" floor).
FEATURE_DEDUP_MIN_QUALITY = 50

ROLE_SAMPLING = {Role.REFERENCE: DENSE, Role.UPLOAD: SPARSE}
# An upload is hashed in part (held when nothing matches, like one the time budget cut short) when more than
# this share of any of its pictures' time is uncovered: frames that could not be decoded with the frames they
# refer to within the limits, a stream over a limit, a picture that cannot be read here. A tenth: the video
# rules match a copy making half of the upload or of the reference, so what hides in a tenth is too little
# for them to have matched anyway, and what is more is held for a reviewer rather than passed unseen.
MAX_UNCOVERED_SHARE = 0.10
DEFAULT_EXTRA_SIGNALS = ("phash",)
# Detail pictures travel as JPEG at this quality (the hasher's S3 object; the evaluation's round trip).
DETAIL_JPEG_QUALITY = 85
# ... and at this one when their longer side is SMALL_DETAIL_SIDE pixels or less. A small picture
# has few corners, and quality 85's block artefacts add false ones among them: the 256-px seascape
# filmed off a screen (a 348-px detail picture) keeps 30 inliers through quality 85 and 45 through
# 95; mirrored and filmed, 27 and 39 (threshold 30). Its JPEG grows from 20 to 31 KB; pictures
# larger than SMALL_DETAIL_SIDE, most of what the hasher stores, are not affected.
SMALL_DETAIL_SIDE = 512
SMALL_DETAIL_JPEG_QUALITY = 95

# Local features of one grey picture and the boxes inside it (local_features.orb.extract_with_insets):
# passed in by callers that have OpenCV, so that hashing itself never needs it.
FeatureExtractor = Callable[[np.ndarray, Sequence[Box]], LocalFeatures]


def encode_detail_picture(picture: DetailPicture, quality: int | None = None) -> EncodedDetailPicture:
    """A detail picture as it travels to the matcher: grey JPEG (by default at DETAIL_JPEG_QUALITY, or
    SMALL_DETAIL_JPEG_QUALITY for a picture no larger than SMALL_DETAIL_SIDE)."""
    if quality is None:
        quality = SMALL_DETAIL_JPEG_QUALITY if max(picture.grey.shape[:2]) <= SMALL_DETAIL_SIDE else DETAIL_JPEG_QUALITY
    out = io.BytesIO()
    Image.fromarray(picture.grey, "L").save(out, format="JPEG", quality=quality)
    return EncodedDetailPicture(picture.timestamp, out.getvalue(), picture.insets)


class HashedFrames(NamedTuple):
    """What hash_frames gives: the kept frames' hashes and what came with them."""

    frames: list[FrameHashes]
    sampled: int  # frames sampled, kept or not
    features: list[FrameFeatures]
    pictures: list[DetailPicture]
    partial: bool  # the deadline passed before the media's end, or too much of a picture is uncovered (MAX_UNCOVERED_SHARE)
    covered_seconds: float  # seconds of the main picture's time the frames stand for (its duration when wholly covered)
    uncovered: tuple[tuple[float, float], ...] = ()  # stretches of the main picture no frame stands for
    tracks: tuple[TrackHashes, ...] = ()  # every picture, when there is more than one


def hash_frames(
    media: Media,
    *,
    role: Role = Role.UPLOAD,
    sampling: Sampling | None = None,
    extra_signals: Iterable[str] = DEFAULT_EXTRA_SIGNALS,
    remove_borders: bool = True,
    variants: bool | None = None,
    features: FeatureExtractor | None = None,
    keep_detail_pictures: bool | None = None,
    progress: Callable[[float], None] | None = None,
    deadline: float | None = None,
    schedule: Schedule | None = None,
) -> HashedFrames:
    """Hash the sampled frames of `media`.

    `features` takes the local features of the frames the sampling picks for them (references,
    added where OpenCV is); `keep_detail_pictures` keeps those grey frames instead, for the
    matcher to take their features (default: for uploads; the Lambda hasher has no OpenCV).
    When `deadline` (a time.monotonic() value) passes, no more frames are taken and the frames
    hashed so far are returned as partial; MediaError("oversized") when there are none.
    `schedule` keys the instants sparse sampling takes (hash_media makes it from the secret and the bytes).
    """
    role = Role(role)
    if keep_detail_pictures is None:
        keep_detail_pictures = role == Role.UPLOAD
    sampling = sampling or ROLE_SAMPLING[role]
    want_variants = (role == Role.UPLOAD) if variants is None else variants
    extras: list[type[SignalType]] = [SIGNAL_TYPES[name] for name in extra_signals if name != PRIMARY_SIGNAL.name]
    dedup = role == Role.REFERENCE
    exact = media.kind == MediaKind.IMAGE  # a single picture affords the exact variants; a video's frames take the cheap form
    kept: list[tuple[FrameHashes, Future | None]] = []
    local: list[FrameFeatures] = []
    pictures: list[DetailPicture] = []
    sampled = 0
    last_kept = None
    last_featured = None
    last_time = 0.0
    last_track = 0

    def work(frame: Frame) -> _FrameWork:
        """What one frame needs, apart from the frames before it (run on the worker threads)."""
        content = np.ascontiguousarray(frame.content)
        if want_variants:
            value, variants = PRIMARY_SIGNAL.hash_frame_and_variants(content, exact=exact)
            if frame.has_borders:
                # Shared hash lists hold hashes of whole pictures, borders and all.
                variants.append(PRIMARY_SIGNAL.hash_frame(frame.rgb).hash)
            # A picture inside the picture (picture-in-picture) is hashed on its own.
            variants.extend(PRIMARY_SIGNAL.hash_frame(picture).hash for picture in frame.inner)
        else:
            value, variants = PRIMARY_SIGNAL.hash_frame(content), []
        for alternate in frame.alternates:
            # The picture as shown on a light and on a dark page (transparency): searched like the frame itself, and the frame's
            # own hash when its colour channels alone are too flat to match on (black, with the picture in the alpha channel).
            if want_variants:
                shown, turned = PRIMARY_SIGNAL.hash_frame_and_variants(np.ascontiguousarray(alternate), exact=exact)
                variants.extend([shown.hash, *turned])
            else:
                shown = PRIMARY_SIGNAL.hash_frame(np.ascontiguousarray(alternate))
                variants.append(shown.hash)
            if shown.quality > value.quality and value.quality < PRIMARY_SIGNAL.min_quality:
                variants.append(value.hash)
                value = shown
        feature = features(frame.detail, frame.inner_boxes) if features is not None and frame.detail is not None else None
        return _FrameWork(content, value, variants, feature)

    pool = _Workers()
    for frame, done in pool.in_order(media.frames(sampling, remove_borders=remove_borders, deadline=deadline, schedule=schedule), work):
        sampled += 1
        if frame.track == 0:
            last_time = max(last_time, frame.timestamp)
        if frame.detail is not None:
            if keep_detail_pictures:
                pictures.append(DetailPicture(frame.timestamp, frame.detail, tuple(frame.inner_boxes)))
        value = done.value
        if frame.detail is not None and done.features is not None:
            # A reference's still shot (a talking head, a slide) gives the same features every
            # second: a frame PDQ calls the same as the last feature frame adds nothing to verify
            # against, and its time is covered by that frame's span (LocalFeatureIndex.add). Only
            # where PDQ is sure of the picture: flat or dark frames hash close whatever they show.
            same = last_featured is not None and value.quality >= FEATURE_DEDUP_MIN_QUALITY and value.hash - last_featured <= REFERENCE_DEDUP_DISTANCE
            if not (dedup and same):
                local.append(FrameFeatures(frame.timestamp, done.features))
                last_featured = value.hash
        if dedup and last_kept is not None and frame.track == last_track and value.hash - last_kept <= REFERENCE_DEDUP_DISTANCE:
            continue
        frame_variants = tuple(str(h) for h in done.variants)
        # The other signals are taken for the kept frames only, on the worker threads too.
        signals = pool.submit(_extra_signals, extras, done.content) if extras else None
        kept.append((FrameHashes(frame.timestamp, str(value.hash), value.quality, frame_variants, track=frame.track), signals))
        last_kept, last_track = value.hash, frame.track
        if progress is not None and media.duration:
            progress(min(1.0, frame.timestamp / media.duration))
    frames = [replace(frame, signals=signals.result()) if signals is not None else frame for frame, signals in kept]
    # Stand-in keyframes a second pass found shown at none of their instants are withdrawn (keyframes.py).
    withdrawn = {(track.index, round(time, 6)) for track in getattr(media, "tracks", None) or [] for time in getattr(track, "retracted", ())}
    if withdrawn:
        frames = [frame for frame in frames if (frame.track or 0, round(frame.timestamp, 6)) not in withdrawn]
        # Detail pictures and local features come from track 0.
        pictures = [picture for picture in pictures if (0, round(picture.timestamp, 6)) not in withdrawn]
        local = [features for features in local if (0, round(features.timestamp, 6)) not in withdrawn]
    # A keyframe found unlike its GOP sends a second pass back over the video: frames in the order of their time, track by track.
    frames.sort(key=lambda frame: (frame.track, frame.timestamp))
    if media.partial and not sampled:
        raise MediaError("oversized", "no frame could be hashed within the time budget", recognised=True)
    tracks = getattr(media, "tracks", None) or []
    described = tuple(_track_hashes(track) for track in tracks)
    main = described[0] if described else None
    if main is not None and main.kind == MediaKind.VIDEO and main.duration > 0:
        covered, uncovered = main.covered_seconds, main.uncovered
        if media.partial:
            # What the deadline cut off was never seen, whatever the plan had meant to cover.
            covered = min(covered, last_time)
            uncovered = tuple(gap for gap in uncovered if gap[1] <= last_time) + ((last_time, main.duration),)
    else:
        covered, uncovered = (last_time if media.partial else media.duration), ()
    partial = media.partial or any(track.uncovered_share > MAX_UNCOVERED_SHARE for track in described)
    return HashedFrames(frames, sampled, local, pictures, partial, covered, uncovered, described if len(described) > 1 else ())


def _track_hashes(track) -> TrackHashes:
    """What hashing found of one picture of the media (frames.Track): its kind, how much of it is covered, and why not the rest."""
    duration = float(track.duration or 0.0)
    timed = track.kind == MediaKind.VIDEO and duration > 0
    covered = track.coverage.covered_seconds(duration) if timed else (duration if track.hashed else 0.0)
    gaps = tuple(track.coverage.uncovered(duration)) if timed else ()
    return TrackHashes(track.index, str(track.source), MediaKind(track.kind), duration, track.name, covered, gaps, track.uncovered, track.uncovered_share())


def _extra_signals(extras: Sequence[type[SignalType]], content: np.ndarray) -> dict[str, str]:
    return {signal.name: str(signal.hash_frame(content).hash) for signal in extras}


@dataclass(frozen=True)
class _FrameWork:
    content: np.ndarray
    value: SignalValue
    variants: list
    features: LocalFeatures | None


class _Workers:
    """Threads for hashing, as many as the CPUs this process may use (on Lambda, the share of
    CPU time behind them grows with memory: a whole vCPU per 1,769 MB).

    pdqhash, Pillow, OpenCV and FFmpeg release the GIL for part of their work, so hashing one
    frame overlaps decoding the next and, with more than one CPU, hashing others. With one CPU
    the work runs inline. The threads end when the frames do.
    """

    def __init__(self) -> None:
        try:
            count = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            count = os.cpu_count() or 1
        self.count = max(1, count)
        self._pool = ThreadPoolExecutor(max_workers=self.count, thread_name_prefix="hash") if self.count > 1 else None

    def submit(self, function: Callable, *args) -> Future:
        if self._pool is not None:
            return self._pool.submit(function, *args)
        done: Future = Future()
        done.set_result(function(*args))
        return done

    def in_order(self, frames: Iterator[Frame], work: Callable[[Frame], _FrameWork]) -> Iterator[tuple[Frame, _FrameWork]]:
        """(frame, work(frame)) in the frames' order; at most two frames per thread wait."""
        waiting: deque = deque()
        try:
            for frame in frames:
                waiting.append((frame, self.submit(work, frame)))
                if len(waiting) >= 2 * self.count:
                    frame, future = waiting.popleft()
                    yield frame, future.result()
            while waiting:
                frame, future = waiting.popleft()
                yield frame, future.result()
        finally:
            for _frame, future in waiting:
                future.cancel()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=False)


def hash_media(
    source: bytes | str | os.PathLike | Source,
    *,
    role: Role = Role.UPLOAD,
    limits: Limits = DEFAULT_LIMITS,
    deadline: float | None = None,
    sampling_secret: bytes | None = None,
    **options,
) -> MediaHashes:
    """Open and hash one media object (options: hash_frames'). Raises MediaError for input that cannot be hashed.

    A path is read a piece at a time (digests, the first bytes), and decoded from the file, never
    held whole in memory. `deadline` (a time.monotonic() value) ends hashing early: see hash_frames.
    `sampling_secret`: the deployment's secret that keys which instants are sampled (schedule.py); None: the public
    offline one, for tools whose uploads are not adversaries (the CLI, the evaluation).
    """
    found = read_source(source, limits)
    media = open_media(found, limits)
    md5, sha256 = found.digests()
    # The instants sampled are keyed by the deployment's secret and these bytes (schedule.py).
    schedule = Schedule.of(sampling_secret if sampling_secret is not None else DEFAULT_SAMPLING_SECRET, sha256)
    frames, sampled, local, pictures, partial, covered, uncovered, tracks = hash_frames(media, role=role, deadline=deadline, schedule=schedule, **options)
    return MediaHashes(
        kind=MediaKind(media.kind),
        format=media.format,
        duration=media.duration,
        width=media.width,
        height=media.height,
        md5=md5,
        sha256=sha256,
        role=Role(role),
        frames=tuple(frames),
        frames_sampled=sampled,
        features=tuple(local),
        detail_pictures=tuple(pictures),
        partial=partial,
        covered_seconds=covered,
        uncovered=uncovered,
        tracks=tracks,
    )
