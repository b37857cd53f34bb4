"""Media the tests make themselves, so the suite runs without the team corpus."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
from PIL import Image


def textured(seed: int, width: int = 320, height: int = 240) -> np.ndarray:
    """A deterministic picture with structure at several scales (PDQ quality 100), H x W x 3 uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    picture = np.zeros((height, width, 3))
    for _ in range(12):
        fx, fy = rng.uniform(0.5, 6.0, size=2) / max(width, height) * 2 * np.pi
        phase = rng.uniform(0, 2 * np.pi)
        colour = rng.uniform(-1, 1, size=3)
        picture += np.sin(x * fx + y * fy + phase)[:, :, None] * colour
    for _ in range(6):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.05, 0.25) * min(width, height)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
        picture += blob[:, :, None] * rng.uniform(-2, 2, size=3)
    # Hard-edged shapes: PDQ needs structure that survives lossy encoding.
    for _ in range(14):
        x0, y0 = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        inside = (x >= x0) & (x < x0 + w) & (y >= y0) & (y < y0 + h)
        picture[inside] += rng.uniform(-1.5, 1.5, size=3)
    picture -= picture.min()
    picture /= picture.max()
    return (picture * 255).astype(np.uint8)


def detailed(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A textured picture with many small hard-edged shapes: corners for keypoint detectors."""
    rng = np.random.default_rng(seed + 10_000)
    picture = textured(seed, width, height).astype(np.int16)
    for _ in range(400):
        size = int(rng.integers(4, 24))
        x, y = int(rng.integers(0, width - size)), int(rng.integers(0, height - size))
        picture[y : y + size, x : x + size] += rng.integers(-90, 90, size=3).astype(np.int16)
    return np.clip(picture, 0, 255).astype(np.uint8)


def panning(seed: int, count: int, width: int = 320, height: int = 240, speed: int = 3) -> list[np.ndarray]:
    """Frames of a slow pan over a larger textured picture (a moving shot)."""
    canvas = textured(seed, width + speed * count + 1, height)
    return [np.ascontiguousarray(canvas[:, i * speed : i * speed + width]) for i in range(count)]


def image_bytes(rgb: np.ndarray, fmt: str = "PNG", mode: str | None = None, **save) -> bytes:
    image = Image.fromarray(np.ascontiguousarray(rgb))
    if mode:
        image = image.convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def encode_video(
    frames: Sequence[np.ndarray],
    fps: int = 10,
    codec: str = "libx264",
    container: str = "mp4",
    timestamps: Iterable[float] | None = None,
    faststart: bool = False,
    gop: int | None = None,
) -> bytes:
    """Encode RGB frames; `timestamps` (seconds) gives a variable frame rate; `faststart` puts the MP4 index first;
    `gop` puts a keyframe exactly every that many frames (libx264)."""
    import av

    if faststart:
        # The muxer moves the index by re-reading its own output, which needs a real file.
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"video.{container}"
            path.write_bytes(b"")
            _encode(str(path), frames, fps, codec, container, timestamps, {"movflags": "faststart"}, gop)
            return path.read_bytes()
    out = io.BytesIO()
    _encode(out, frames, fps, codec, container, timestamps, {}, gop)
    return out.getvalue()


def _encode(out, frames, fps, codec, container, timestamps, options, gop=None) -> None:
    import av

    with av.open(out, mode="w", format=container, options=options) as muxer:
        stream = muxer.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "bf": "3"}
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        times = list(timestamps) if timestamps is not None else None
        for position, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            # Every frame gets its time: handed none, x264 gave other bytes from run to run (and the hasher's keyed
            # sampling, other instants).
            if times is not None:
                frame.pts = int(round(times[position] * 1000))
                frame.time_base = Fraction(1, 1000)
            else:
                frame.pts = position
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)


def with_display_rotation(mp4: bytes, clockwise_degrees: int) -> bytes:
    """Set the MP4 track's display matrix, as phones do for portrait recordings."""
    data = bytearray(mp4)
    at = data.find(b"tkhd")
    if at < 0 or data[at + 4] != 0:
        raise ValueError("expected a version-0 tkhd box")
    one, zero, w = 0x10000, 0, 0x40000000
    matrices = {
        0: (one, zero, 0, zero, one, 0, 0, 0, w),
        90: (zero, one, 0, -one, zero, 0, 0, 0, w),
        180: (-one, zero, 0, zero, -one, 0, 0, 0, w),
        270: (zero, -one, 0, one, zero, 0, 0, 0, w),
    }
    offset = at + 4 + 40  # type, then version/flags, times, track id, duration, layer, volume
    data[offset : offset + 36] = struct.pack(">9i", *matrices[clockwise_degrees % 360])
    return bytes(data)


def letterboxed(rgb: np.ndarray, bar: float = 0.15, pillar: float = 0.0) -> np.ndarray:
    """The picture shrunk into black bars top/bottom (`bar`) and left/right (`pillar`), same outer size."""
    height, width = rgb.shape[:2]
    inner_h, inner_w = int(height * (1 - 2 * bar)), int(width * (1 - 2 * pillar))
    inner = np.asarray(Image.fromarray(rgb).resize((inner_w, inner_h), Image.Resampling.BOX))
    out = np.zeros_like(rgb)
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    out[top : top + inner_h, left : left + inner_w] = inner
    return out


def repeated_gif(rgb: np.ndarray, count: int, duration_ms: int = 100) -> bytes:
    """An animated GIF of `count` copies of one picture, each drawn in full: encoded once and its
    frame block repeated, so that hundreds of large frames take no time to make."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).convert("P", palette=Image.Palette.ADAPTIVE).save(out, format="GIF", duration=duration_ms)
    single = out.getvalue()
    flags = single[10]
    start = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    if single[start : start + 2] != b"!\xf9" or single[-1:] != b";":
        raise ValueError("expected Pillow's GIF layout: screen, palette, one framed picture, trailer")
    return single[:start] + single[start:-1] * count + b";"


def repeated_webp(rgb: np.ndarray, count: int, duration_ms: int = 100) -> bytes:
    """An animated WebP of `count` frames alternating between the picture and its mirror image:
    two frames encoded, their ANMF chunks repeated."""
    pictures = [Image.fromarray(np.ascontiguousarray(rgb)), Image.fromarray(np.ascontiguousarray(rgb[:, ::-1]))]
    out = io.BytesIO()
    pictures[0].save(out, format="WEBP", save_all=True, append_images=pictures[1:], duration=duration_ms, quality=80, minimize_size=False)
    data = out.getvalue()
    chunks, position = [], 12
    while position + 8 <= len(data):
        size = struct.unpack("<I", data[position + 4 : position + 8])[0]
        chunks.append(data[position : position + 8 + size + (size & 1)])
        position += 8 + size + (size & 1)
    frames = [chunk for chunk in chunks if chunk[:4] == b"ANMF"]
    if len(frames) != 2:
        raise ValueError("expected two ANMF chunks")
    body = b"".join(chunk for chunk in chunks if chunk[:4] != b"ANMF") + b"".join(frames[n % 2] for n in range(count))
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def sixteen_bit_png(grey: np.ndarray) -> bytes:
    """A 16-bit grey PNG (mode I;16) of a uint8 grey picture, each level spread over the 16-bit range."""
    return image_bytes(grey.astype(np.uint16) * 257, "PNG")


def declared_png(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` pixels and whose data is one tiny row: a decompression bomb's shape."""
    import zlib

    def chunk(name: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + name + payload + struct.pack(">I", zlib.crc32(name + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def heif_header(brand: bytes = b"heic") -> bytes:
    """The first box of a HEIF file (ftyp with a still-picture brand) and some padding: what a HEIC upload starts with."""
    ftyp = struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x00\x00" + b"mif1" + brand
    return ftyp + struct.pack(">I", 16) + b"free" + b"\x00" * 8
