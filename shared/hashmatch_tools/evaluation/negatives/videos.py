"""Videos made from the corpus's pictures: camera moves, cuts and cross-fades, through real encoders with real GOP structures.

Each video is a `Recipe`: its pictures, one shot each (a pan, a zoom in or out, or a still shot),
joined by hard cuts or cross-fades, at one of several frame sizes and rates, through one of several
encoders: x264 as it comes (a keyframe at most every 250 frames, and at scene cuts), x264 with a
fixed GOP of 1, 2 or 8 seconds, VP9 in WebM, MPEG-4 Part 2 in AVI. Every choice is drawn from a
random generator seeded by the pictures' SHA-256s, so a recipe, and the file (the encoders are
deterministic), is the same on every run.

Negative videos hold 1-3 pictures of their part (an upload is often one shot); reference videos
hold 3 pictures in longer moving shots.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

# (codec, container, GOP in seconds or None for the encoder's own choice, encoder options)
ENCODERS = {
    "x264 default": ("libx264", "mp4", None, {"preset": "veryfast", "crf": "23"}),
    "x264 GOP 1 s": ("libx264", "mp4", 1.0, {"preset": "veryfast", "crf": "23"}),
    "x264 GOP 2 s": ("libx264", "mkv", 2.0, {"preset": "veryfast", "crf": "23"}),
    "x264 GOP 8 s": ("libx264", "mp4", 8.0, {"preset": "veryfast", "crf": "23"}),
    "VP9": ("libvpx-vp9", "webm", None, {"deadline": "realtime", "cpu-used": "8", "crf": "34", "b": "0"}),
    "MPEG-4 Part 2": ("mpeg4", "avi", None, {"qscale": "4"}),
}
FRAME_RATES = (Fraction(12), Fraction(15), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30))
FRAME_SIZES = ((640, 360), (480, 270), (854, 480), (480, 360), (360, 640))
SHOT_STYLES = ("pan", "zoom in", "zoom out", "still")
CROSS_FADE_SECONDS = 0.4


@dataclass(frozen=True)
class Shot:
    picture: Path
    seconds: float
    style: str
    start: tuple[float, float]  # where the camera starts and ends, as shares of the room it can move in
    end: tuple[float, float]
    fade_in: bool  # a cross-fade from the shot before, rather than a hard cut


@dataclass(frozen=True)
class Recipe:
    """Everything that decides one video."""

    shots: tuple[Shot, ...]
    size: tuple[int, int]
    rate: Fraction
    encoder: str

    @property
    def suffix(self) -> str:
        return ENCODERS[self.encoder][1]

    @property
    def seconds(self) -> float:
        return sum(shot.seconds for shot in self.shots)


def _generator(keys: list[str]) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256("".join(keys).encode()).hexdigest()[:16], 16))


def negative_recipe(pictures: list[Path], keys: list[str]) -> Recipe:
    """An unrelated upload: 1-3 shots of 2-5 s, any style, any encoder, size and rate."""
    random = _generator(keys)
    shots = []
    for number, picture in enumerate(pictures):
        style = SHOT_STYLES[int(random.integers(len(SHOT_STYLES)))]
        shots.append(Shot(picture, float(random.uniform(2.0, 5.0)), style, tuple(random.uniform(0, 1, 2)), tuple(random.uniform(0, 1, 2)), bool(number and random.integers(2))))
    return Recipe(
        tuple(shots), FRAME_SIZES[int(random.integers(len(FRAME_SIZES)))], FRAME_RATES[int(random.integers(len(FRAME_RATES)))], list(ENCODERS)[int(random.integers(len(ENCODERS)))]
    )


def reference_recipe(pictures: list[Path], keys: list[str]) -> Recipe:
    """Known footage: moving shots of 5-8 s (no still shots, which a dense hash keeps once), 480 x 270 at 15-25 fps
    (hashing every frame of 100,000 costs hours on two cores; at this size about half what 640 x 360 costs)."""
    random = _generator(keys)
    shots = [
        Shot(picture, float(random.uniform(5.0, 8.0)), SHOT_STYLES[int(random.integers(3))], tuple(random.uniform(0, 1, 2)), tuple(random.uniform(0, 1, 2)), bool(number and random.integers(2)))
        for number, picture in enumerate(pictures)
    ]
    encoders = ("x264 default", "x264 GOP 2 s", "VP9")
    return Recipe(tuple(shots), (480, 270), FRAME_RATES[1 + int(random.integers(3))], encoders[int(random.integers(len(encoders)))])


def frames_of(recipe: Recipe) -> Iterator[np.ndarray]:
    """The video's frames, RGB, in order."""
    width, height = recipe.size
    previous = None
    for shot in recipe.shots:
        count = max(1, round(shot.seconds * recipe.rate))
        fade = min(count, round(CROSS_FADE_SECONDS * recipe.rate)) if shot.fade_in and previous is not None else 0
        last = None
        for number, frame in enumerate(_shot_frames(shot, width, height, count)):
            if number < fade:
                weight = (number + 1) / (fade + 1)
                frame = (previous.astype(np.float32) * (1 - weight) + frame.astype(np.float32) * weight).astype(np.uint8)
            last = frame
            yield frame
        previous = last


def _shot_frames(shot: Shot, width: int, height: int, count: int) -> Iterator[np.ndarray]:
    with Image.open(shot.picture) as opened:
        opened.draft("RGB", (width * 2, height * 2))
        picture = opened.convert("RGB")
    # The picture covers the frame with a quarter to spare, room for the camera to move in.
    scale = max(width * 1.25 / picture.width, height * 1.25 / picture.height)
    picture = picture.resize((max(width, round(picture.width * scale)), max(height, round(picture.height * scale))), Image.Resampling.LANCZOS)
    room_w, room_h = picture.width, picture.height
    for number in range(count):
        t = number / max(1, count - 1)
        if shot.style == "still":
            t = 0.0
        if shot.style in ("zoom in", "zoom out"):
            zoom = 1.0 + 0.25 * (t if shot.style == "zoom in" else 1.0 - t)
            box_w = min(room_w, room_h * width / height) / zoom
            box_h = box_w * height / width
        else:
            box_w, box_h = width, height
        x = (shot.start[0] + (shot.end[0] - shot.start[0]) * t) * (room_w - box_w)
        y = (shot.start[1] + (shot.end[1] - shot.start[1]) * t) * (room_h - box_h)
        yield np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR, box=(x, y, x + box_w, y + box_h)))


def encode(recipe: Recipe, path: Path) -> int:
    """Write the video to `path` with the recipe's encoder; returns its frame count."""
    import av

    codec, container, gop_seconds, options = ENCODERS[recipe.encoder]
    options = dict(options)
    if gop_seconds is not None:
        gop = str(max(1, round(gop_seconds * recipe.rate)))
        options.update({"g": gop, "keyint_min": gop, "sc_threshold": "0"})
    width, height = recipe.size
    frames = 0
    with av.open(str(path), mode="w", format={"mkv": "matroska"}.get(container, container)) as muxer:
        stream = muxer.add_stream(codec, rate=recipe.rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = options
        for rgb in frames_of(recipe):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                muxer.mux(packet)
            frames += 1
        for packet in stream.encode():
            muxer.mux(packet)
    return frames


def groups(rows: list[dict], sizes: tuple[int, ...], seed: str) -> list[list[dict]]:
    """The rows (in SHA-256 order) cut into consecutive groups whose sizes cycle through `sizes` in an order drawn from `seed`."""
    ordered = sorted(rows, key=lambda row: row["sha256"])
    random = _generator([seed])
    found, at = [], 0
    while at < len(ordered):
        size = sizes[int(random.integers(len(sizes)))]
        if at + size > len(ordered):
            break
        found.append(ordered[at : at + size])
        at += size
    return found
