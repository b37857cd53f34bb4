"""Long H.264 videos for the hashing benchmark, made from the corpus photographs.

Each scene is a slow pan across one photograph (six seconds, so that P and B frames
carry real motion), and scenes follow one another in a fixed order, with a hard cut between
them. The keyframes are the condition the benchmark varies: either exactly every
`gop_seconds` (scene-cut keyframes off: the easy case for keyframe sampling, where every
sampled instant can be a keyframe), or x264's own defaults (`gop_seconds=None`: a keyframe at
most every 250 frames and at each scene cut, as most encoders leave it). Long videos (an hour)
are made by remuxing a shorter one end to end, which costs seconds instead of an hour of
encoding and gives the same bitstream statistics.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

PHOTOS = "images/debian-mate-nature"
SCENE_SECONDS = 6.0
FPS = 30


@dataclass(frozen=True)
class BenchVideo:
    """One benchmark video: its size, length and keyframe interval (None: x264's defaults, keyint 250 and scene cuts)."""

    height: int
    seconds: float
    gop_seconds: float | None

    @property
    def width(self) -> int:
        return self.height * 16 // 9

    @property
    def name(self) -> str:
        length = f"{self.seconds / 60:g}min" if self.seconds >= 60 else f"{self.seconds:g}s"
        keyframes = f"gop{self.gop_seconds:g}s" if self.gop_seconds is not None else "x264default"
        return f"{self.height}p-{length}-{keyframes}.mp4"

    @property
    def keyframes(self) -> str:
        """How its keyframes are placed, in words."""
        return f"every {self.gop_seconds:g} s" if self.gop_seconds is not None else "x264 defaults (keyint 250, scene cuts)"


def _photos(corpus: Path, width: int, height: int) -> list[np.ndarray]:
    paths = sorted((corpus / PHOTOS).glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(f"no photographs at {corpus / PHOTOS}")
    photos = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        # A third larger than the video on both sides: room to pan across.
        size = (width * 4 // 3, height * 4 // 3)
        photos.append(np.asarray(image.resize(size, Image.Resampling.BILINEAR, box=_cover(image.size, size))))
    return photos


def _cover(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred box of `size` with the aspect ratio of `target`."""
    scale = min(size[0] / target[0], size[1] / target[1])
    box_w, box_h = target[0] * scale, target[1] * scale
    left, top = (size[0] - box_w) / 2, (size[1] - box_h) / 2
    return (round(left), round(top), round(left + box_w), round(top + box_h))


def _scene_frame(photo: np.ndarray, progress: float, width: int, height: int) -> np.ndarray:
    """The frame `progress` (0..1) through a pan from the top left of `photo` to its bottom right."""
    top = round((photo.shape[0] - height) * progress)
    left = round((photo.shape[1] - width) * progress)
    return np.ascontiguousarray(photo[top : top + height, left : left + width])


def encoder_options(video: BenchVideo) -> dict[str, str]:
    """libx264's options for `video`: veryfast, CRF 23, three B-frames, and its keyframe placement."""
    options = {"preset": "veryfast", "crf": "23", "bf": "3"}
    if video.gop_seconds is not None:
        gop = str(int(round(video.gop_seconds * FPS)))
        options.update({"g": gop, "keyint_min": gop, "sc_threshold": "0"})
    return options  # otherwise x264's own: keyint 250, min-keyint 25, scene-cut threshold 40


def encode(video: BenchVideo, corpus: Path, path: Path) -> None:
    """Encode `video` to `path` with libx264 (encoder_options)."""
    photos = _photos(corpus, video.width, video.height)
    frames_per_scene = int(SCENE_SECONDS * FPS)
    total = int(round(video.seconds * FPS))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part.mp4")
    with av.open(str(partial), mode="w") as muxer:
        stream = muxer.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = encoder_options(video)
        for index in range(total):
            scene, step = divmod(index, frames_per_scene)
            rgb = _scene_frame(photos[scene % len(photos)], step / frames_per_scene, video.width, video.height)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                muxer.mux(packet)
            if index % (FPS * 10) == 0:
                print(f"\r  encoding {path.name}: {index / FPS:.0f} of {video.seconds:.0f} s", end="", file=sys.stderr, flush=True)
        for packet in stream.encode():
            muxer.mux(packet)
    print(file=sys.stderr)
    partial.rename(path)


def repeat(source: Path, times: int, path: Path) -> None:
    """`source` remuxed `times` times end to end (stream copy, timestamps shifted): a long video without re-encoding."""
    partial = path.with_suffix(".part.mp4")
    with av.open(str(source)) as first:
        in_stream = first.streams.video[0]
        duration = first.duration  # microseconds
    with av.open(str(partial), mode="w") as muxer:
        stream = None
        for turn in range(times):
            with av.open(str(source)) as container:
                in_stream = container.streams.video[0]
                if stream is None:
                    stream = muxer.add_stream_from_template(in_stream)
                shift = int(round(turn * duration / 1_000_000 / in_stream.time_base))
                for packet in container.demux(in_stream):
                    if packet.dts is None:
                        continue
                    packet.pts = packet.pts + shift if packet.pts is not None else None
                    packet.dts = packet.dts + shift
                    packet.stream = stream
                    muxer.mux(packet)
    partial.rename(path)


def ensure(video: BenchVideo, corpus: Path, folder: Path) -> Path:
    """The path of `video` in `folder`, made first when it is not there yet."""
    path = folder / video.name
    if path.exists():
        return path
    # An hour is a short video repeated: at most three minutes are encoded.
    unit_seconds = min(video.seconds, 180.0)
    if unit_seconds < video.seconds:
        unit = ensure(BenchVideo(video.height, unit_seconds, video.gop_seconds), corpus, folder)
        repeat(unit, int(round(video.seconds / unit_seconds)), path)
    else:
        encode(video, corpus, path)
    return path


def probe(path: Path) -> dict:
    """Duration, size and keyframe spacing of a video, from its packets."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [float(p.pts * stream.time_base) for p in container.demux(stream) if p.is_keyframe and p.pts is not None]
        duration = container.duration / 1_000_000 if container.duration else 0.0
        width, height = stream.codec_context.width, stream.codec_context.height
    gaps = np.diff(sorted(keys)) if len(keys) > 1 else np.array([duration])
    return {"duration": duration, "width": width, "height": height, "keyframes": len(keys), "median_gop": float(np.median(gaps)), "bytes": path.stat().st_size}


if __name__ == "__main__":  # python -m hashmatch_tools.bench.videos CORPUS FOLDER HEIGHT SECONDS GOP|x264
    corpus_arg, folder_arg, height_arg, seconds_arg, gop_arg = sys.argv[1:6]
    made = ensure(BenchVideo(int(height_arg), float(seconds_arg), None if gop_arg == "x264" else float(gop_arg)), Path(corpus_arg), Path(folder_arg))
    print(made, probe(made))
