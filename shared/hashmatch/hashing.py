"""Media to hashes: sample frames, remove borders, hash every frame with every signal, drop near-duplicates."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from hashmatch.features import Features
from hashmatch.media import DENSE, DEFAULT_LIMITS, SPARSE, Limits, Media, Sampling, open_media, read_source
from hashmatch.signals import PRIMARY_SIGNAL, SIGNAL_TYPES, SignalType

# Consecutive reference frames whose PDQ hashes are this close add nothing a match could use
# (two encodes of one frame differ by more), so dense reference hashing keeps one of them.
REFERENCE_DEDUP_DISTANCE = 8

ROLE_SAMPLING = {"reference": DENSE, "upload": SPARSE}
DEFAULT_EXTRA_SIGNALS = ("phash",)


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

    def to_dict(self, with_variants: bool = True) -> dict:
        data = {"timestamp": round(self.timestamp, 3), "pdq": self.pdq, "quality": self.quality}
        if self.signals:
            data["signals"] = dict(self.signals)
        if with_variants and self.variants:
            data["variants"] = list(self.variants)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FrameHashes":
        pdq = str(PRIMARY_SIGNAL.parse(data["pdq"]))
        variants = tuple(str(PRIMARY_SIGNAL.parse(v)) for v in data.get("variants", ()))
        signals = {name: str(SIGNAL_TYPES[name].parse(value)) for name, value in data.get("signals", {}).items() if name in SIGNAL_TYPES}
        return cls(float(data.get("timestamp", 0.0)), pdq, int(data.get("quality", 100)), variants, signals)


@dataclass(frozen=True)
class FrameFeatures:
    """The local features of one sampled frame (see features.py)."""

    timestamp: float
    features: Features

    def to_dict(self) -> dict:
        return {"timestamp": round(self.timestamp, 3), **self.features.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> "FrameFeatures":
        return cls(float(data.get("timestamp", 0.0)), Features.from_dict(data))


@dataclass(frozen=True)
class DetailFrame:
    """A grey frame at feature size, kept so that another process can take its local features.

    The Lambda hasher cannot carry OpenCV beside PyAV (package size), so it ships these
    pictures and the matcher, which has OpenCV, extracts the features when PDQ finds nothing.
    """

    timestamp: float
    grey: np.ndarray
    # Boxes of pictures found inside this one (top, bottom, left, right as shares), whose
    # keypoints the features add (extract_with_insets); shipped beside the JPEG.
    insets: tuple[tuple[float, float, float, float], ...] = ()

    def to_jpeg(self, quality: int = 85) -> bytes:
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(self.grey, "L").save(out, format="JPEG", quality=quality)
        return out.getvalue()


def features_of_jpeg(timestamp: float, jpeg: bytes, insets: Sequence[tuple[float, float, float, float]] = ()) -> FrameFeatures:
    """The local features of a DetailFrame shipped as JPEG (decoded with OpenCV: no Pillow needed)."""
    import cv2

    from hashmatch.features import extract_with_insets

    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise ValueError("not a decodable detail picture")
    return FrameFeatures(timestamp, extract_with_insets(grey, insets))


@dataclass(frozen=True)
class MediaHashes:
    """Everything hashed from one media object: identity, shape and per-frame hashes."""

    kind: str
    format: str
    duration: float
    width: int
    height: int
    md5: str
    sha256: str
    role: str
    frames: tuple[FrameHashes, ...]
    frames_sampled: int = 0
    features: tuple[FrameFeatures, ...] = ()
    # Only with keep_details=True; never serialised (pixels, not hashes).
    details: tuple[DetailFrame, ...] = ()

    def to_dict(self, with_variants: bool = True, with_features: bool = True) -> dict:
        data = {
            "kind": self.kind,
            "format": self.format,
            "duration": round(self.duration, 3),
            "width": self.width,
            "height": self.height,
            "md5": self.md5,
            "sha256": self.sha256,
            "role": self.role,
            "frames_sampled": self.frames_sampled,
            "frames": [frame.to_dict(with_variants) for frame in self.frames],
        }
        if with_features and self.features:
            data["features"] = [frame.to_dict() for frame in self.features]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "MediaHashes":
        return cls(
            kind=data["kind"],
            format=data.get("format", ""),
            duration=float(data.get("duration", 0.0)),
            width=int(data.get("width", 0)),
            height=int(data.get("height", 0)),
            md5=data.get("md5", ""),
            sha256=data.get("sha256", ""),
            role=data.get("role", "upload"),
            frames=tuple(FrameHashes.from_dict(frame) for frame in data["frames"]),
            frames_sampled=int(data.get("frames_sampled", len(data["frames"]))),
            features=tuple(FrameFeatures.from_dict(frame) for frame in data.get("features", ())),
        )


def hash_frames(
    media: Media,
    *,
    role: str = "upload",
    sampling: Sampling | None = None,
    extra_signals: Iterable[str] = DEFAULT_EXTRA_SIGNALS,
    remove_borders: bool = True,
    variants: bool | None = None,
    with_features: bool = True,
    keep_details: bool = False,
    progress: Callable[[float], None] | None = None,
) -> tuple[list[FrameHashes], int, list[FrameFeatures], list[DetailFrame]]:
    """Hash the sampled frames of `media`; returns (kept frames, frames sampled, local features).

    `with_features=False` skips the local features (and so OpenCV), as the Lambda hasher does;
    `keep_details=True` keeps the grey frames the features would come from, for another process.
    """
    if role not in ROLE_SAMPLING:
        raise ValueError(f"role must be one of {sorted(ROLE_SAMPLING)}, not {role!r}")
    sampling = sampling or ROLE_SAMPLING[role]
    want_variants = (role == "upload") if variants is None else variants
    extras: list[type[SignalType]] = [SIGNAL_TYPES[name] for name in extra_signals if name != PRIMARY_SIGNAL.name]
    dedup = role == "reference"
    kept: list[FrameHashes] = []
    local: list[FrameFeatures] = []
    details: list[DetailFrame] = []
    sampled = 0
    last_kept = None
    for frame in media.frames(sampling, remove_borders=remove_borders):
        sampled += 1
        if keep_details and frame.detail is not None:
            details.append(DetailFrame(frame.timestamp, frame.detail, tuple(frame.inner_boxes)))
        if with_features and frame.detail is not None:
            from hashmatch.features import extract_with_insets

            local.append(FrameFeatures(frame.timestamp, extract_with_insets(frame.detail, frame.inner_boxes)))
        content = np.ascontiguousarray(frame.content)
        value = PRIMARY_SIGNAL.hash_frame(content)
        if dedup and last_kept is not None and value.hash - last_kept <= REFERENCE_DEDUP_DISTANCE:
            continue
        frame_variants: tuple[str, ...] = ()
        if want_variants:
            # A single picture affords the exact hashes; a video's many frames take the cheap form.
            hashes = PRIMARY_SIGNAL.hash_frame_variants(content, exact=media.kind == "image")
            if frame.has_borders:
                # Shared hash lists hold hashes of whole pictures, borders and all.
                hashes.append(PRIMARY_SIGNAL.hash_frame(frame.rgb).hash)
            # A picture inside the picture (picture-in-picture) is hashed on its own.
            hashes.extend(PRIMARY_SIGNAL.hash_frame(picture).hash for picture in frame.inner)
            frame_variants = tuple(str(h) for h in hashes)
        signals = {signal.name: str(signal.hash_frame(content).hash) for signal in extras}
        kept.append(FrameHashes(frame.timestamp, str(value.hash), value.quality, frame_variants, signals))
        last_kept = value.hash
        if progress is not None and media.duration:
            progress(min(1.0, frame.timestamp / media.duration))
    return kept, sampled, local, details


def hash_media(
    source: bytes | str | os.PathLike,
    *,
    role: str = "upload",
    limits: Limits = DEFAULT_LIMITS,
    **options,
) -> MediaHashes:
    """Open and hash one media object. Raises MediaError for input that cannot be hashed."""
    data = read_source(source, limits)
    media = open_media(data, limits)
    frames, sampled, local, details = hash_frames(media, role=role, **options)
    return MediaHashes(
        kind=media.kind,
        format=media.format,
        duration=media.duration,
        width=media.width,
        height=media.height,
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        role=role,
        frames=tuple(frames),
        frames_sampled=sampled,
        features=tuple(local),
        details=tuple(details),
    )
