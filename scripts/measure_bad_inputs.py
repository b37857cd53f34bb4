"""Make each input the review found hard (bombs, huge animations, HEIC, long and broken videos) and hash it as the Lambda hasher would.

Each input is written to a temporary directory and hashed in a child process of its own, as an
upload from a path (the hasher spills large uploads to /tmp), with the hasher's limits for its
memory and time (Limits.for_budget(2048 MB, 300 s, 512 MiB)) and a deadline 20 s short of the
300 s (what the handler keeps back for storing detail pictures and sending the message). The
table gives the outcome, the child's peak memory (its VmHWM: see _own_peak_mb) and the wall time
of hashing alone (the imports, a cold start's, are not in it; their memory is).

The long video is made small (160 x 120, 15 fps): at 1080p it takes longer to make than to
hash. It is hashed whole within the budget at that size, so it is hashed again with a budget of
1 s to show a partial hash. The rotated video is an MP4 whose track carries a phone's display
matrix (rotated 90 degrees), written into its tkhd box.
Usage: python scripts/measure_bad_inputs.py [--out docs/bad-inputs.md]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

from hashmatch_tools.made_media import (  # noqa: E402
    declared_png,
    encode_video,
    heif_header,
    image_bytes,
    panning,
    repeated_gif,
    repeated_webp,
    sixteen_bit_png,
    textured,
    with_display_rotation,
)

MEMORY_MB = 2048
SECONDS = 300.0
MAX_BYTES = 512 * 1024 * 1024
# The handler's SECONDS_AFTER_HASHING: time kept back for what follows the hashing.
MARGIN = 20.0
# The child is ended if it outlives the function it stands for.
CHILD_TIMEOUT = SECONDS + 30.0


def _tiled(rgb: np.ndarray, side: int) -> np.ndarray:
    reps = -(-side // rgb.shape[0])
    return np.ascontiguousarray(np.tile(rgb, (reps, reps, 1))[:side, :side])


def _bands(side: int) -> np.ndarray:
    """Coloured bands: a large frame GIF's LZW packs small, so hundreds of them stay a few hundred MB."""
    steps = (np.arange(side, dtype=np.uint16) // 512).astype(np.uint8)
    picture = np.empty((side, side, 3), np.uint8)
    picture[:, :, 0] = (steps * 32)[None, :]
    picture[:, :, 1] = (steps * 36)[:, None]
    picture[:, :, 2] = 128
    return picture


def sixteen_bit_8192() -> bytes:
    grey = np.asarray(Image.fromarray(textured(1, 1024, 1024)).convert("L"))
    return sixteen_bit_png(_tiled(grey[:, :, None], 8192)[:, :, 0])


def eight_bit_8192() -> bytes:
    return image_bytes(_tiled(textured(2, 1024, 1024), 8192), "PNG", compress_level=1)


def audio_only() -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as muxer:
        stream = muxer.add_stream("aac", rate=44100)
        samples = (np.sin(np.arange(44100 * 5) * 2 * np.pi * 440 / 44100) * 0.3).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 44100
            frame.pts = start
            frame.time_base = Fraction(1, 44100)
            for packet in stream.encode(frame):
                muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)
    return out.getvalue()


def _encode_fast(path: Path, frames, fps: int, width: int, height: int) -> None:
    """Frames straight to an MP4 file with libx264's fastest preset: large or many frames in seconds."""
    import av

    with av.open(str(path), mode="w", format="mp4") as muxer:
        stream = muxer.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)


def long_video(path: Path, minutes: float = 20, fps: int = 15, width: int = 160, height: int = 120) -> None:
    """A slow pan of 18,000 frames (about half a minute to make)."""
    canvas = textured(3, width + 600, height)
    offsets = ((index // 3) % 600 for index in range(int(minutes * 60 * fps)))
    _encode_fast(path, (np.ascontiguousarray(canvas[:, x : x + width]) for x in offsets), fps, width, height)


def variable_frame_rate() -> bytes:
    gaps = np.random.default_rng(4).choice([1 / 60, 1 / 30, 1 / 10, 0.5], size=120)
    return encode_video(panning(4, 120, 320, 240), timestamps=np.concatenate([[0.0], np.cumsum(gaps[:-1])]))


def truncated(faststart: bool) -> bytes:
    data = encode_video(panning(5, 150, 320, 240), fps=15, faststart=faststart)
    return data[: len(data) // 2]


def video_4k(path: Path) -> None:
    frame = _tiled(textured(6, 1080, 1080), 3840)[:2160]
    _encode_fast(path, [frame] * 60, 12, 3840, 2160)


# (name, maker, budget seconds): a maker returns the bytes or writes the file it is given.
INPUTS: list[tuple[str, Callable, float]] = [
    ("16-bit grey PNG, 8192 x 8192", sixteen_bit_8192, SECONDS),
    ("PNG declaring 100000 x 100000 (decompression bomb)", lambda: declared_png(100_000, 100_000), SECONDS),
    ("8-bit RGB PNG, 8192 x 8192", eight_bit_8192, SECONDS),
    ("GIF, 300 frames of 4096 x 4096", lambda: repeated_gif(_bands(4096), 300), SECONDS),
    ("GIF, 600 frames of 4096 x 4096", lambda: repeated_gif(_bands(4096), 600), SECONDS),
    ("animated WebP, 300 frames of 1024 x 1024", lambda: repeated_webp(textured(7, 1024, 1024), 300), SECONDS),
    ("animated GIF, 3 frames of 1 x 1", lambda: repeated_gif(np.full((1, 1, 3), 90, np.uint8), 3), SECONDS),
    ("animated GIF, 200,000 frames of 1 x 1", lambda: repeated_gif(np.full((1, 1, 3), 90, np.uint8), 200_000), SECONDS),
    ("HEIC (an ftyp heic header)", lambda: heif_header(b"heic") + bytes(4096), SECONDS),
    ("AVIF picture, 640 x 480 (Pillow's encoder)", lambda: image_bytes(textured(8, 640, 480), "AVIF"), SECONDS),
    ("audio only (AAC in MP4, 5 s)", audio_only, SECONDS),
    ("video of one frame", lambda: encode_video([textured(9)], fps=10), SECONDS),
    ("video, 20 min at 160 x 120, 15 fps", long_video, SECONDS),
    ("the same 20 min video, 1 s budget", long_video, 1.0 + MARGIN),
    ("video at a variable frame rate (1/60 s to 0.5 s)", variable_frame_rate, SECONDS),
    ("phone video rotated 90 degrees (display matrix)", lambda: with_display_rotation(encode_video(panning(10, 60, 320, 240)), 90), SECONDS),
    ("MP4 cut in half (index at the end)", lambda: truncated(False), SECONDS),
    ("MP4 cut in half (index at the front)", lambda: truncated(True), SECONDS),
    ("video, 3840 x 2160, 5 s", video_4k, SECONDS),
    ("text file", lambda: b"not media, just words\n" * 500, SECONDS),
    ("empty file", lambda: b"", SECONDS),
]


def child(path: str, seconds: float) -> None:
    """Hash one file as the Lambda hasher does and print the outcome as one JSON line."""
    from hashmatch.errors import MediaError
    from hashmatch.media.limits import Limits
    from hashmatch.media.hashing import hash_media

    limits = Limits.for_budget(MEMORY_MB, seconds, MAX_BYTES)
    started = time.monotonic()
    try:
        hashes = hash_media(path, role="upload", limits=limits, extra_signals=(), keep_detail_pictures=True, deadline=started + seconds - MARGIN)
        outcome = {"kind": str(hashes.kind), "frames": len(hashes.frames), "partial": hashes.partial, "covered": hashes.covered_seconds, "duration": hashes.duration}
    except MediaError as error:
        outcome = {"reason": str(error.reason), "recognised": error.recognised, "detail": str(error)}
    outcome["seconds"] = time.monotonic() - started
    outcome["peak_mb"] = _own_peak_mb()
    print(json.dumps(outcome), flush=True)


def _own_peak_mb() -> float | None:
    """This process's peak RSS since exec (VmHWM). Not ru_maxrss: Linux carries the parent's peak over
    an exec into the child's, and the parent here made pictures of hundreds of MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _measured(path: Path, seconds: float) -> tuple[dict, float]:
    """Run the child: (its outcome, its peak RSS in MB). The peak is the child's own VmHWM; for a
    child that died without reporting it, wait4's ru_maxrss, an upper bound (see _own_peak_mb)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", str(path), str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = time.monotonic()
    out, err = _read_until_exit(process, started + CHILD_TIMEOUT)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = out.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = err.decode().strip().splitlines()[-1:] or [""]
        return {"crashed": process.returncode, "detail": tail[0], "seconds": time.monotonic() - started}, usage.ru_maxrss / 1024
    result = json.loads(lines[-1])
    return result, result.get("peak_mb") or usage.ru_maxrss / 1024


def _read_until_exit(process: subprocess.Popen, deadline: float) -> tuple[bytes, bytes]:
    """The child's stdout and stderr, read to their end without reaping it (wait4 does that)."""
    import selectors

    chunks = {process.stdout: [], process.stderr: []}
    with selectors.DefaultSelector() as selector:
        for stream in chunks:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            if time.monotonic() > deadline:
                os.kill(process.pid, signal.SIGKILL)  # not process.kill(): it would reap the child before wait4
                break
            for key, _ in selector.select(timeout=1.0):
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fileobj].append(data)
                else:
                    selector.unregister(key.fileobj)
    return b"".join(chunks[process.stdout]), b"".join(chunks[process.stderr])


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return ""


def _outcome(result: dict) -> tuple[str, str]:
    """(outcome, detail) for the table."""
    if "crashed" in result:
        return f"crashed (exit {result['crashed']})", result["detail"]
    if "reason" in result:
        return f"rejected: {result['reason']}" + (", recognised" if result["recognised"] else ""), result["detail"]
    frames = f"{result['frames']} frame" + ("" if result["frames"] == 1 else "s")
    if result["partial"]:
        return f"partial: covered {result['covered']:.0f} of {result['duration']:.0f} s", f"{result['kind']}, {frames}"
    length = f", {result['duration']:.1f} s" if result["kind"] == "video" else ""
    return "hashed", f"{result['kind']}{length}, {frames}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table as Markdown here")
    parser.add_argument("--child", nargs=2, metavar=("PATH", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], float(args.child[1]))
        return 0
    rows = []
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bad-inputs-") as folder:
        made: dict[Callable, Path] = {}
        for number, (name, maker, seconds) in enumerate(INPUTS, 1):
            making = time.monotonic()
            path = made.get(maker)
            if path is None:
                path = Path(folder) / f"input-{number:02d}"
                if maker in (long_video, video_4k):
                    maker(path)
                else:
                    path.write_bytes(maker())
                made[maker] = path
            made_in = time.monotonic() - making
            result, peak = _measured(path, seconds)
            outcome, detail = _outcome(result)
            row = [name, _size(path.stat().st_size), outcome, f"{peak:.0f} MB", f"{result['seconds']:.1f} s", detail.replace("|", "/")]
            rows.append(row)
            print(f"[{number}/{len(INPUTS)}] made in {made_in:.1f} s: " + " | ".join(row), file=sys.stderr, flush=True)
    table = io.StringIO()
    table.write("| input | size | outcome | peak memory | hashing time | detail |\n|---|---|---|---|---|---|\n")
    for row in rows:
        table.write("| " + " | ".join(row) + " |\n")
    print(table.getvalue())
    print(f"({time.monotonic() - began:.0f} s in all)", file=sys.stderr)
    if args.out:
        machine = f"{platform.machine()}, {os.cpu_count()} cores (shared with other work), Python {platform.python_version()}"
        args.out.write_text(
            "# Bad inputs: what the hasher does with them\n\n"
            f"`make measure-bad-inputs` (scripts/measure_bad_inputs.py) on {datetime.date.today()}, {machine}.\n"
            f"Each input hashed in a child process as an upload from a path, with `Limits.for_budget({MEMORY_MB}, {SECONDS:.0f}, {MAX_BYTES})` "
            f"and a deadline {MARGIN:.0f} s short of the budget; peak memory is the child's peak RSS (VmHWM, including about 60 MB of imports), "
            "hashing time excludes the imports.\n\n" + table.getvalue() + NOTES
        )
    return 0


NOTES = """
Notes:
- *recognised* (MediaError.recognised): the bytes are media of a known image or video format that
  could not be hashed, so the pipeline holds the upload as "cannot check" instead of treating it as
  non-media. Text, audio only and an empty file are not recognised.
- The limits for 2048 MB and 300 s (Limits.for_budget): 181.7 million pixels a picture (8 bytes a
  pixel, measured on 8192 x 8192 PNG and JPEG), 90.8 million a video frame (16 bytes a pixel,
  measured at 3840 x 2160), 3 billion pixels x frames and 150,000 frames an animation (half the
  time at 20 million pixels x frames a second, measured on 4096 x 4096 GIFs), and 4 hours of video
  (the cap; 300 s would cover 42 hours at the cheapest measured pace, 0.002 s per second of video).
- Before these limits the review measured: the 16-bit 8192 x 8192 PNG at a 1.96 GB peak (1.87 GB
  here, now 372 MB: converted a strip at a time; the 8-bit one took 992 MB, now 564); 300 GIF frames of 4096 x 4096 in 32 s and 600 past 120 s (now
  refused from the GIF's blocks, before any frame is decoded); the 1 x 1 animated GIF crashed
  `hashmatch hash` in OpenCV (pictures under 32 px now have no local features).
- AVIF decodes with Pillow 13 (its wheels carry libavif), so an AVIF upload is hashed; HEIC (HEVC
  in HEIF) is refused as unsupported, recognised.
- The long video is small (160 x 120) so that it is quick to make; at that size 20 minutes take a
  few seconds, so it is also hashed with a 1 s budget to show a partial hash (the frames cover the
  media's first covered seconds). At 1080p30 sparse hashing takes about 0.29 s per second of video
  (the review's measure), so about 16 minutes fit the 280 s and a longer video is hashed in part.
- The machine's two cores were shared with other work while this ran: times vary by run.
"""


if __name__ == "__main__":
    sys.exit(main())
