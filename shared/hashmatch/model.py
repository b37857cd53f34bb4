"""The value types that cross every boundary: an object's hashes, its frames' hashes and local features, its detail pictures.

Pure data (numpy arrays at most): the hasher makes them, messages carry them, the matcher reads
them. Decoding (PyAV, Pillow) lives in media/, feature extraction (OpenCV) in local_features/.
"""

from __future__ import annotations

import base64
import io
import zipfile
from dataclasses import dataclass, field, replace

import numpy as np

from hashmatch.signals import PRIMARY_SIGNAL, SIGNAL_TYPES
from hashmatch.vocabulary import MediaKind, Role

# A box inside a picture: top, bottom, left, right as shares of its height and width.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameHashes:
    """The hashes of one sampled frame."""

    timestamp: float
    pdq: str
    quality: int
    # PDQ of the frame's mirrored and rotated versions (and of the uncropped frame when borders
    # were removed): only the upload side computes them, so a flipped copy finds its reference.
    variants: tuple[str, ...] = ()
    signals: dict[str, str] = field(default_factory=dict)
    # Which of the upload's pictures (MediaHashes.tracks) the frame is of; 0 the main one.
    track: int = 0

    @property
    def query_hashes(self) -> list[str]:
        """What an upload frame is searched with: its own hash and its variants."""
        return [self.pdq, *self.variants]

    def to_dict(self, with_variants: bool = True) -> dict:
        data = {"timestamp": round(self.timestamp, 3), "pdq": self.pdq, "quality": self.quality}
        if self.signals:
            data["signals"] = dict(self.signals)
        if with_variants and self.variants:
            data["variants"] = list(self.variants)
        if self.track:
            data["track"] = self.track
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FrameHashes":
        pdq = str(PRIMARY_SIGNAL.parse(data["pdq"]))
        variants = tuple(str(PRIMARY_SIGNAL.parse(v)) for v in data.get("variants", ()))
        signals = {name: str(SIGNAL_TYPES[name].parse(value)) for name, value in data.get("signals", {}).items() if name in SIGNAL_TYPES}
        return cls(float(data.get("timestamp", 0.0)), pdq, int(data.get("quality", 100)), variants, signals, int(data.get("track", 0)))


@dataclass(frozen=True)
class LocalFeatures:
    """One picture's keypoints (N x 2, pixels at feature size) and their 256-bit ORB descriptors (N x 32)."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.descriptors)

    @classmethod
    def empty(cls) -> "LocalFeatures":
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))

    def to_dict(self) -> dict:
        return {
            "points": base64.b64encode(np.round(self.points).astype("<u2").tobytes()).decode("ascii"),
            "descriptors": base64.b64encode(self.descriptors.tobytes()).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "LocalFeatures":
        points = np.frombuffer(base64.b64decode(data["points"]), dtype="<u2").astype(np.float32).reshape(-1, 2)
        descriptors = np.frombuffer(base64.b64decode(data["descriptors"]), dtype=np.uint8).reshape(-1, 32)
        if len(points) != len(descriptors):
            raise ValueError("feature points and descriptors differ in number")
        return cls(points, descriptors)


@dataclass(frozen=True)
class FrameFeatures:
    """The local features of one sampled frame."""

    timestamp: float
    features: LocalFeatures

    def to_dict(self) -> dict:
        return {"timestamp": round(self.timestamp, 3), **self.features.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "FrameFeatures":
        return cls(float(data.get("timestamp", 0.0)), LocalFeatures.from_dict(data))


# Stored feature frames: a .npz of plain arrays (np.load refuses pickled objects), written
# uncompressed since ORB descriptors are near random bits. 36 bytes a keypoint (32 of descriptor,
# 4 of point) against the 48 of base64 JSON, and read without parsing text.
FEATURE_FRAMES_FORMAT = 1


def feature_frames_to_bytes(frames: list[FrameFeatures]) -> bytes:
    """Feature frames as one binary object: timestamps, descriptors per frame, points (uint16) and descriptors, stacked."""
    out = io.BytesIO()
    np.savez(
        out,
        format=np.array([FEATURE_FRAMES_FORMAT], np.int64),
        timestamps=np.array([round(frame.timestamp, 3) for frame in frames], np.float64),
        counts=np.array([len(frame.features) for frame in frames], np.int64),
        points=np.concatenate([np.round(frame.features.points).astype("<u2").reshape(-1, 2) for frame in frames]) if frames else np.zeros((0, 2), "<u2"),
        descriptors=np.concatenate([frame.features.descriptors.reshape(-1, 32) for frame in frames]) if frames else np.zeros((0, 32), np.uint8),
    )
    return out.getvalue()


def feature_frames_from_bytes(data: bytes) -> list[FrameFeatures]:
    """What feature_frames_to_bytes wrote; ValueError for anything else."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if int(arrays["format"][0]) != FEATURE_FRAMES_FORMAT:
                raise ValueError(f"feature frames of format {int(arrays['format'][0])}, not {FEATURE_FRAMES_FORMAT}")
            timestamps, counts = arrays["timestamps"], arrays["counts"]
            points, descriptors = arrays["points"].astype(np.float32), arrays["descriptors"]
    except (KeyError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"not stored feature frames: {error}") from error
    if len(timestamps) != len(counts) or counts.sum() != len(points) or len(points) != len(descriptors) or descriptors.shape[1:] != (32,):
        raise ValueError("stored feature frames do not add up")
    starts = np.concatenate(([0], np.cumsum(counts)))
    return [
        FrameFeatures(float(timestamps[n]), LocalFeatures(points[starts[n] : starts[n + 1]], descriptors[starts[n] : starts[n + 1]]))
        for n in range(len(timestamps))
    ]


@dataclass(frozen=True)
class DetailPicture:
    """A grey frame at feature size, from which the matcher takes local features.

    The Lambda hasher cannot carry OpenCV beside PyAV (package size), so it ships these
    pictures (as JPEG, EncodedDetailPicture) and the matcher, which has OpenCV, takes their
    features when PDQ finds nothing.
    """

    timestamp: float
    grey: np.ndarray
    # Pictures found inside this one, whose keypoints the features add.
    insets: tuple[Box, ...] = ()


@dataclass(frozen=True)
class EncodedDetailPicture:
    """A DetailPicture as it travels (JPEG), and what the local-feature stage reads."""

    timestamp: float
    jpeg: bytes
    insets: tuple[Box, ...] = ()


@dataclass(frozen=True)
class TrackHashes:
    """One of the pictures of an upload beyond a single one (a video stream, cover art, subtitles, a page, an archive member),
    and how much of it the hashed frames cover."""

    index: int
    source: str  # frames.TrackSource: video, animation, picture, attached-picture, subtitles, page, member
    kind: MediaKind
    duration: float = 0.0
    name: str = ""
    covered_seconds: float = 0.0
    uncovered: tuple[tuple[float, float], ...] = ()  # stretches of its time no hashed frame stands for
    note: str = ""  # why it was not (wholly) looked at
    uncovered_share: float = 0.0

    def to_dict(self) -> dict:
        data = {"index": self.index, "source": self.source, "kind": str(self.kind), "duration": round(self.duration, 3), "covered_seconds": round(self.covered_seconds, 3)}
        if self.name:
            data["name"] = self.name
        if self.uncovered:
            data["uncovered"] = [[round(a, 3), round(b, 3)] for a, b in self.uncovered]
        if self.note:
            data["note"] = self.note
        data["uncovered_share"] = round(self.uncovered_share, 4)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrackHashes":
        return cls(
            int(data["index"]), str(data.get("source", "")), MediaKind(data.get("kind", MediaKind.IMAGE)), float(data.get("duration", 0.0)), str(data.get("name", "")),
            float(data.get("covered_seconds", 0.0)), tuple((float(a), float(b)) for a, b in data.get("uncovered", ())), str(data.get("note", "")), float(data.get("uncovered_share", 0.0)),
        )


@dataclass(frozen=True)
class MediaHashes:
    """Everything hashed from one media object: identity, shape and per-frame hashes."""

    kind: MediaKind
    format: str
    duration: float
    width: int
    height: int
    md5: str
    sha256: str
    role: Role
    frames: tuple[FrameHashes, ...]
    frames_sampled: int = 0
    # References only: their frames' local features (one per second), for the second stage.
    features: tuple[FrameFeatures, ...] = ()
    # Only with keep_detail_pictures=True; never serialised (pixels, not hashes).
    detail_pictures: tuple[DetailPicture, ...] = ()
    # True when a time budget ran out first: the frames cover the media's first covered_seconds only.
    partial: bool = False
    covered_seconds: float | None = None
    # Stretches of the main picture's time that no hashed frame stands for (could not be reached or decoded correctly).
    uncovered: tuple[tuple[float, float], ...] = ()
    # Every picture a player or viewer can show, when there is more than one (track 0 is the main one); empty: one picture.
    tracks: tuple[TrackHashes, ...] = ()

    @property
    def usable_frames(self) -> list[FrameHashes]:
        """Frames whose PDQ quality is high enough to match on (vPDQ's rule)."""
        return [frame for frame in self.frames if frame.quality >= PRIMARY_SIGNAL.min_quality]

    def track_views(self) -> list["MediaHashes"]:
        """One MediaHashes per picture the upload holds (itself when it holds one): each matched on its own, so that a known
        second video stream or page is not outnumbered by the benign ones beside it. Detail pictures stay with track 0."""
        if len(self.tracks) <= 1 and all(frame.track == 0 for frame in self.frames):
            return [self]
        views = []
        described = {track.index: track for track in self.tracks}
        for index in sorted({frame.track for frame in self.frames} | set(described)):
            frames = tuple(frame for frame in self.frames if frame.track == index)
            if not frames:
                continue
            track = described.get(index)
            kind = track.kind if track is not None else self.kind
            duration = track.duration if track is not None else self.duration
            views.append(replace(self, kind=kind, duration=duration, frames=frames, frames_sampled=len(frames), tracks=(), detail_pictures=self.detail_pictures if index == 0 else ()))
        return views or [self]

    def to_dict(self, with_variants: bool = True, with_features: bool = True) -> dict:
        data = {
            "kind": str(self.kind),
            "format": self.format,
            "duration": round(self.duration, 3),
            "width": self.width,
            "height": self.height,
            "md5": self.md5,
            "sha256": self.sha256,
            "role": str(self.role),
            "frames_sampled": self.frames_sampled,
            "frames": [frame.to_dict(with_variants) for frame in self.frames],
        }
        if self.partial:
            data["partial"] = True
        if self.covered_seconds is not None and (self.partial or self.uncovered or self.kind == MediaKind.VIDEO):
            data["covered_seconds"] = round(self.covered_seconds or 0.0, 3)
        if self.uncovered:
            data["uncovered"] = [[round(a, 3), round(b, 3)] for a, b in self.uncovered]
        if self.tracks:
            data["tracks"] = [track.to_dict() for track in self.tracks]
        if with_features and self.features:
            data["features"] = [frame.to_dict() for frame in self.features]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "MediaHashes":
        return cls(
            kind=MediaKind(data["kind"]),
            format=data.get("format", ""),
            duration=float(data.get("duration", 0.0)),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            md5=data.get("md5", ""),
            sha256=data.get("sha256", ""),
            role=Role(data.get("role", Role.UPLOAD)),
            frames=tuple(FrameHashes.from_dict(frame) for frame in data["frames"]),
            frames_sampled=int(data.get("frames_sampled", len(data["frames"]))),
            features=tuple(FrameFeatures.from_dict(frame) for frame in data.get("features", ())),
            partial=bool(data.get("partial", False)),
            covered_seconds=float(data["covered_seconds"]) if data.get("covered_seconds") is not None else None,
            uncovered=tuple((float(a), float(b)) for a, b in data.get("uncovered", ())),
            tracks=tuple(TrackHashes.from_dict(track) for track in data.get("tracks", ())),
        )
