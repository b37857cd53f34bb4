"""Uploads built to carry known content past the pipeline (issue 27): one builder per construction, named for it.

Each builder takes the known content (a picture, or a video's frames) and benign content and
returns the upload's bytes. Where a construction exploits predictable sampling, it aims at the
instants the hasher took before its sampling was keyed (media/schedule.py): a fixed grid from
t = 0 (hashmatch.media.sampling's SPARSE step), keyframes first. That is the uploader's best guess
without the deployment's secret. None of them needs the team corpus; the media is small so that
tests run quickly. The adversarial suite (hashmatch_tools.evaluation.adversarial) decides each
upload through the pipeline's own use cases.

Over 450 lines on purpose: the constructions side by side, each short, so that one reads them as the list they are.
"""

from __future__ import annotations

import base64
import io
import shutil
import struct
import subprocess
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from hashmatch.media.sampling import SPARSE
from hashmatch_tools.made_media import image_bytes

Frames = Sequence[np.ndarray]

# The instants a fixed sampler takes: every SPARSE.interval seconds from t = 0 (animations), and for a video every
# SPARSE.step(duration) seconds, which is SPARSE.interval from 16 intervals on (the hasher's grid before keyed sampling).
GRID_SECONDS = SPARSE.interval


def _output(out: io.BytesIO, container: str):
    """A muxer writing `container` to `out`, bit-exact: Matroska otherwise writes the time and a random segment id, so the
    same upload would differ from run to run, and with it the instants the hasher's keyed sampling takes."""
    import av

    return av.open(out, mode="w", format=container, options={"fflags": "+bitexact"})


def _encoder(muxer, codec: str, size: tuple[int, int], rate, options: dict[str, str] | None = None, time_base: Fraction | None = None):
    stream = muxer.add_stream(codec, rate=rate)
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    if codec == "libx264":
        # The encoder's speed is no part of any construction: the fast preset keeps the tests quick. One thread: on several
        # x264 gave other bytes for the same frames from run to run here, and other bytes mean other keyed instants.
        options = {"preset": "veryfast", "threads": "1", **(options or {})}
    if options:
        stream.options = options
    if time_base is not None:
        stream.codec_context.time_base = time_base
    return stream


def _write(muxer, stream, rgb: np.ndarray, pts: int, time_base: Fraction | None = None, keyframe: bool = False) -> None:
    """Encode one frame at `pts` (in `time_base`, or the stream's 1/rate). Every frame gets its time: without one x264
    was handed no timestamps and gave other bytes from run to run (so other instants under keyed sampling)."""
    import av

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    frame.pts = pts
    if time_base is not None:
        frame.time_base = time_base
    if keyframe:
        frame.pict_type = av.video.frame.PictureType.I
    for packet in stream.encode(frame):
        muxer.mux(packet)


def _flush(muxer, stream) -> None:
    for packet in stream.encode():
        muxer.mux(packet)


def _size(frames: Frames) -> tuple[int, int]:
    height, width = frames[0].shape[:2]
    return width // 2 * 2, height // 2 * 2


def _even(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    return np.ascontiguousarray(rgb[: height // 2 * 2, : width // 2 * 2])


# ---------------------------------------------------------------- item 1: predictable sampling


def grid_aligned_animation(known: np.ndarray, benign: np.ndarray, format: str = "GIF", grid_points: int = 10, benign_ms: int = 20) -> bytes:
    """An animated GIF, WebP or APNG showing the known picture, except for a `benign_ms` benign frame at each of
    the instants a fixed sampler takes (every GRID_SECONDS from t = 0): the known picture is on screen 99 % of the time."""
    step_ms = round(GRID_SECONDS * 1000)
    # GIF frames are quantised once here: Pillow quantises RGB frames far more slowly one by one.
    shown = [Image.fromarray(benign), Image.fromarray(known)]
    if format == "GIF":
        shown = [picture.quantize(256) for picture in shown]
    pictures, durations = [], []
    for _ in range(grid_points):
        pictures += shown
        durations += [benign_ms, step_ms - benign_ms]
    out = io.BytesIO()
    options = {"loop": 0}
    if format == "WEBP":
        options.update(quality=90, minimize_size=False, allow_mixed=False)
    pictures[0].save(out, format=format, save_all=True, append_images=pictures[1:], duration=durations, **options)
    return out.getvalue()


def forced_benign_keyframes(known: Frames, benign: np.ndarray, fps: int = 24, keyframe_seconds: float = 0.5) -> bytes:
    """An H.264 MP4 whose keyframes, forced every `keyframe_seconds`, show the benign picture and every other frame
    the known video: a sampler that takes keyframes first needs nothing between them at this spacing."""
    import av

    every = max(1, round(fps * keyframe_seconds))
    out = io.BytesIO()
    with _output(out, "mp4") as muxer:
        stream = _encoder(muxer, "libx264", _size(known), fps, {"g": str(every), "keyint_min": str(every), "sc_threshold": "0", "forced-idr": "1"})
        for number, rgb in enumerate(known):
            keyframe = number % every == 0
            _write(muxer, stream, _even(benign if keyframe else rgb), number, keyframe=keyframe)
        _flush(muxer, stream)
    return out.getvalue()


def vfr_benign_at_sample_times(known: Frames, benign: np.ndarray, fps: int = 8, benign_ms: int = 1) -> bytes:
    """A variable-frame-rate MP4 of the known video with a `benign_ms` benign frame at each instant a fixed sampler
    takes: one long GOP and no B-frames, so that such a sampler decodes every frame and takes the benign one."""
    import av

    seconds = len(known) / fps
    step = SPARSE.step(seconds)
    base = Fraction(1, 1000)
    times: list[tuple[int, np.ndarray]] = []
    due = 0.0
    for number, rgb in enumerate(known):
        at = number / fps
        while due <= at + 1e-9:
            times.append((round(due * 1000), benign))
            due += step
        times.append((round(at * 1000) + benign_ms, rgb))
    times.sort(key=lambda item: item[0])
    out = io.BytesIO()
    with _output(out, "mp4") as muxer:
        stream = _encoder(muxer, "libx264", _size(known), fps, {"g": "100000", "keyint_min": "100000", "sc_threshold": "0", "bf": "0"}, base)
        last = -1
        for pts, rgb in times:
            pts = max(pts, last + 1)
            _write(muxer, stream, _even(rgb), pts, base)
            last = pts
        _flush(muxer, stream)
    return out.getvalue()


# ---------------------------------------------------------------- item 2: every picture a player can show


def second_video_track(known: Frames, benign: Frames, container: str = "matroska", fps: int = 10) -> bytes:
    """Two video tracks: the benign video first, the known one second (players let viewers switch tracks)."""
    import av

    out = io.BytesIO()
    with _output(out, container) as muxer:
        first = _encoder(muxer, "libx264", _size(benign), fps)
        second = _encoder(muxer, "libx264", _size(known), fps)
        for number in range(max(len(known), len(benign))):
            if number < len(benign):
                _write(muxer, first, _even(benign[number]), number)
            if number < len(known):
                _write(muxer, second, _even(known[number]), number)
        _flush(muxer, first)
        _flush(muxer, second)
    return out.getvalue()


def cover_art(known: np.ndarray, benign: Frames | None = None, container: str = "matroska", fps: int = 10, seconds: float = 5.0) -> bytes:
    """The known picture as cover art, as players show it: of a benign video (`benign` frames), or of `seconds` of silent
    audio (`benign` None). A Matroska attachment, or an attached-picture stream in MP4 or MP3 (ID3 APIC)."""
    import av

    jpeg = image_bytes(known, "JPEG", quality=95)
    out = io.BytesIO()
    with _output(out, container) as muxer:
        if benign is not None:
            stream = _encoder(muxer, "libx264", _size(benign), fps)
        else:
            rate = 44100
            codec, layout = ("libmp3lame", "s16p") if container == "mp3" else ("aac", "fltp")
            stream = muxer.add_stream(codec, rate=rate)
        if container == "matroska":
            muxer.add_attachment("cover.jpg", "image/jpeg", jpeg)
        else:
            cover = muxer.add_stream("mjpeg")
            cover.width, cover.height, cover.pix_fmt = known.shape[1], known.shape[0], "yuvj420p"
            cover.disposition = av.stream.Disposition.attached_pic
            packet = av.Packet(jpeg)
            packet.stream, packet.pts, packet.dts = cover, 0, 0
            muxer.mux(packet)
        if benign is not None:
            for number, rgb in enumerate(benign):
                _write(muxer, stream, _even(rgb), number)
        else:
            samples = np.zeros((1, int(rate * seconds)), np.float32 if layout == "fltp" else np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format=layout, layout="mono")
            frame.sample_rate, frame.pts = rate, 0
            for packet in stream.encode(frame):
                muxer.mux(packet)
        _flush(muxer, stream)
    return out.getvalue()


def bitmap_subtitles(known: np.ndarray, benign: Frames, fps: int = 10) -> bytes:
    """A benign Matroska video with a bitmap subtitle track (Blu-ray PGS, 255 colours) that shows the known
    picture over it from start to end."""
    import av

    width, height = _size(benign)
    sup = pgs_subtitle(known, (width, height), 0.0, len(benign) / fps)
    out = io.BytesIO()
    with av.open(io.BytesIO(sup), format="sup") as subtitles, _output(out, "matroska") as muxer:
        stream = _encoder(muxer, "libx264", (width, height), fps)
        track = muxer.add_stream_from_template(subtitles.streams[0])
        for number, rgb in enumerate(benign):
            _write(muxer, stream, _even(rgb), number)
        _flush(muxer, stream)
        for packet in subtitles.demux(subtitles.streams[0]):
            if packet.size:
                packet.stream = track
                muxer.mux(packet)
    return out.getvalue()


def pgs_subtitle(picture: np.ndarray, screen: tuple[int, int], start: float, end: float) -> bytes:
    """A PGS subtitle stream (.sup) showing `picture` (at most 65,000 bytes of run-length data) centred on a
    screen of `screen` pixels from `start` to `end` seconds.

    A display set is segments: presentation composition (0x16), window (0x17), palette (0x14, Y Cr Cb
    and alpha per entry), object (0x15, run-length coded rows), end (0x80); each has a "PG" header with
    its 90 kHz timestamp, type and length. A second set with no objects clears the screen.
    """
    quantised = Image.fromarray(picture).quantize(255)
    indices = np.asarray(quantised).astype(np.int32) + 1  # entry 0 stays transparent
    rgb = np.array(quantised.getpalette()[: 255 * 3], dtype=np.float64).reshape(-1, 3)
    y = 16 + rgb @ np.array([0.257, 0.504, 0.098])
    cb = 128 + rgb @ np.array([-0.148, -0.291, 0.439])
    cr = 128 + rgb @ np.array([0.439, -0.368, -0.071])
    palette = bytes([0, 0]) + b"".join(bytes([entry + 1, round(y[entry]), round(cr[entry]), round(cb[entry]), 255]) for entry in range(len(rgb)))
    rows = bytearray()
    for row in indices:
        x = 0
        while x < len(row):
            colour, run = int(row[x]), 1
            while x + run < len(row) and row[x + run] == colour and run < 16383:
                run += 1
            if colour and run < 3:
                rows += bytes([colour]) * run
            elif not colour:
                rows += bytes([0, run]) if run < 64 else bytes([0, 0x40 | run >> 8, run & 0xFF])
            else:
                rows += bytes([0, 0x80 | run, colour]) if run < 64 else bytes([0, 0xC0 | run >> 8, run & 0xFF, colour])
            x += run
        rows += b"\x00\x00"
    height, width = indices.shape
    data = struct.pack(">HH", width, height) + bytes(rows)
    if len(data) > 65000:
        raise ValueError("the picture's run-length data does not fit one object segment: use a smaller picture")
    left, top = (screen[0] - width) // 2, (screen[1] - height) // 2
    shown, cleared = round(start * 90000), round(end * 90000)

    def segment(kind: int, time: int, payload: bytes) -> bytes:
        return b"PG" + struct.pack(">IIBH", time, 0, kind, len(payload)) + payload

    window = bytes([1]) + struct.pack(">BHHHH", 0, left, top, width, height)
    # Composition number 0, an epoch start, one object (id 1) in window 0, not cropped; the clearing set has none.
    composition = struct.pack(">HHBHBBBB", screen[0], screen[1], 0x10, 0, 0x80, 0, 0, 1) + struct.pack(">HBBHH", 1, 0, 0, left, top)
    obj = struct.pack(">HBB", 1, 0, 0xC0) + len(data).to_bytes(3, "big") + data
    clear = struct.pack(">HHBHBBBB", screen[0], screen[1], 0x10, 1, 0x00, 0, 0, 0)
    return (
        segment(0x16, shown, composition) + segment(0x17, shown, window) + segment(0x14, shown, palette) + segment(0x15, shown, obj) + segment(0x80, shown, b"")
        + segment(0x16, cleared, clear) + segment(0x17, cleared, window) + segment(0x80, cleared, b"")
    )


def multi_page_tiff(known: np.ndarray, benign: np.ndarray) -> bytes:
    """A TIFF whose first page is benign and whose second page is the known picture."""
    out = io.BytesIO()
    Image.fromarray(benign).save(out, format="TIFF", save_all=True, append_images=[Image.fromarray(known)], compression="tiff_deflate")
    return out.getvalue()


def mpo_second_picture(known: np.ndarray, benign: np.ndarray) -> bytes:
    """A multi-picture JPEG (MPO, as stereo cameras write them) whose first picture is benign and second the known one."""
    out = io.BytesIO()
    Image.fromarray(benign).save(out, format="MPO", save_all=True, append_images=[Image.fromarray(known)], quality=90)
    return out.getvalue()


def icon_entries(known: np.ndarray, benign: np.ndarray, known_side: int = 256, benign_side: int = 128) -> bytes:
    """An ICO holding the known picture as one entry and a benign one as another, at the sizes given. Pillow and a
    full-size viewer show the largest entry; the smaller comes first in the icon's directory (what FFmpeg reads)."""
    known_icon = Image.fromarray(known).resize((known_side, known_side), Image.Resampling.LANCZOS)
    benign_icon = Image.fromarray(benign).resize((benign_side, benign_side), Image.Resampling.LANCZOS)
    # Pillow writes the sizes in `sizes` up to the saved picture's own, taking each from a picture of that size.
    largest, other = (known_icon, benign_icon) if known_side >= benign_side else (benign_icon, known_icon)
    out = io.BytesIO()
    largest.save(out, format="ICO", sizes=[(benign_side, benign_side), (known_side, known_side)], append_images=[other], bitmap_format="png")
    return out.getvalue()


# ---------------------------------------------------------------- item 3: frames decoded without their references


def long_gop_benign_keyframe(known: np.ndarray, benign: np.ndarray, seconds: float = 600.0, fps: int = 5) -> bytes:
    """An H.264 video of `seconds` with one keyframe, benign, and the known picture in every frame after it: past
    a hasher's allowance for decoding between keyframes (300 s before issue 27), the later frames are decoded without
    their references and show the benign keyframe's picture."""
    import av

    out = io.BytesIO()
    count = round(seconds * fps)
    with _output(out, "mp4") as muxer:
        stream = _encoder(muxer, "libx264", _size([known]), fps, {"g": str(count + 1), "keyint_min": str(count + 1), "sc_threshold": "0", "preset": "ultrafast"})
        _write(muxer, stream, _even(benign), 0)
        known_even = _even(known)
        for number in range(1, count):
            _write(muxer, stream, known_even, number)
        _flush(muxer, stream)
    return out.getvalue()


# ---------------------------------------------------------------- item 2 (alpha) and item 4 (formats that cannot be read)


def alpha_carried_picture(known: np.ndarray) -> bytes:
    """A PNG whose colour is black everywhere and whose alpha carries the known picture: on a light page it shows it (in grey)."""
    grey = np.asarray(Image.fromarray(known).convert("L"))
    rgba = np.zeros((*grey.shape, 4), np.uint8)
    rgba[:, :, 3] = 255 - grey  # black at this opacity over white shows the grey level
    return image_bytes(rgba, "PNG")


def svg_with_raster(known: np.ndarray) -> bytes:
    """An SVG document that shows the known picture, embedded as a PNG data URI."""
    height, width = known.shape[:2]
    encoded = base64.b64encode(image_bytes(known, "PNG")).decode("ascii")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">\n'
        f'  <image width="{width}" height="{height}" xlink:href="data:image/png;base64,{encoded}"/>\n</svg>\n'
    ).encode()


def jpeg_xl_available() -> bool:
    """Whether `jpeg_xl` can encode here: FFmpeg's command-line tool with libjxl (Debian's ffmpeg package)."""
    if shutil.which("ffmpeg") is None:
        return False
    found = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True)
    return "libjxl" in found.stdout


def jpeg_xl(known: np.ndarray, container: bool = False) -> bytes:
    """The known picture as JPEG XL: a bare codestream, or (`container`) inside the ISO base media container
    (a signature box, ftyp "jxl ", and the codestream in a jxlc box). Needs jpeg_xl_available()."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "known.png", Path(folder) / "known.jxl"
        source.write_bytes(image_bytes(known, "PNG"))
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(source), "-c:v", "libjxl", "-distance", "1", "-f", "image2", str(target)], check=True)
        codestream = target.read_bytes()
    if not container:
        return codestream

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    return box(b"JXL ", b"\r\n\x87\n") + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ") + box(b"jxlc", codestream)


def zip_of_pictures(known: np.ndarray, benign: np.ndarray | None = None) -> bytes:
    """A ZIP archive holding the known picture as a PNG, after a benign JPEG when one is given (a viewer or a chat client
    shows what is inside)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        # Entries dated once (a name alone is dated now), so that the same pictures give the same archive.
        if benign is not None:
            archive.writestr(zipfile.ZipInfo("holiday/001.jpg", (2024, 6, 1, 12, 0, 0)), image_bytes(benign, "JPEG", quality=90), zipfile.ZIP_DEFLATED)
        archive.writestr(zipfile.ZipInfo("holiday/002.png", (2024, 6, 1, 12, 0, 2)), image_bytes(known, "PNG"), zipfile.ZIP_DEFLATED)
    return out.getvalue()


# ---------------------------------------------------------------- item 5: excerpts


def excerpt_inside_long_video(excerpt: Frames, before: Frames, after: Frames, fps: int = 10) -> bytes:
    """A longer video with the known excerpt inside it, unrelated footage before and after (a clip in a news report)."""
    import av

    out = io.BytesIO()
    with _output(out, "mp4") as muxer:
        stream = _encoder(muxer, "libx264", _size(excerpt), fps)
        for number, rgb in enumerate([*before, *excerpt, *after]):
            _write(muxer, stream, _even(rgb), number)
        _flush(muxer, stream)
    return out.getvalue()


# ---------------------------------------------------------------- item 7: vPDQ lists


def vpdq_list(video: bytes, name: str = "known.mp4", seconds_per_hash: float = 1.0) -> str:
    """The video's vPDQ hash list as the vpdq tool writes it (frame_number,quality,pdq_hex,timestamp per line): PDQ of
    a frame every `seconds_per_hash`, at full size."""
    import av

    from hashmatch.signals.pdq import PdqSignal

    lines, due = [], 0.0
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        for number, frame in enumerate(container.decode(stream)):
            time = float(frame.time) if frame.time is not None else number / float(stream.average_rate or 25)
            if time + 1e-6 < due:
                continue
            value = PdqSignal.hash_frame(frame.to_ndarray(format="rgb24"))
            lines.append(f"{number},{value.quality},{value.hash},{time:.3f}")
            due += seconds_per_hash
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- item 6: layouts and small copies


def split_screen(known: np.ndarray, other: np.ndarray, known_share: float = 0.5) -> np.ndarray:
    """The known picture squeezed into the left part of the frame (`known_share` of its width), other content beside it (a reaction layout)."""
    height, width = known.shape[:2]
    left = max(2, round(width * known_share))
    out = np.empty_like(known)
    out[:, :left] = np.asarray(Image.fromarray(known).resize((left, height), Image.Resampling.LANCZOS))
    out[:, left:] = np.asarray(Image.fromarray(other).resize((width - left, height), Image.Resampling.LANCZOS))
    return out


def collage(known: np.ndarray, others: Sequence[np.ndarray], tiles: int = 3, position: int = 4) -> np.ndarray:
    """A `tiles` x `tiles` collage of the same size with the known picture in tile `position`, unrelated pictures in the others."""
    height, width = known.shape[:2]
    tile_h, tile_w = height // tiles, width // tiles
    out = np.zeros_like(known)
    for tile in range(tiles * tiles):
        source = known if tile == position else others[tile % len(others)]
        top, left = (tile // tiles) * tile_h, (tile % tiles) * tile_w
        out[top : top + tile_h, left : left + tile_w] = np.asarray(Image.fromarray(source).resize((tile_w, tile_h), Image.Resampling.LANCZOS))
    return out


def inset(known: np.ndarray, background: np.ndarray, scale: float = 0.6, corner: tuple[float, float] = (0.05, 0.35)) -> np.ndarray:
    """The known picture at `scale` of the frame, set into a background picture with no border."""
    height, width = background.shape[:2]
    inner_w, inner_h = round(width * scale), round(height * scale)
    top, left = round(height * corner[0]), round(width * corner[1])
    top, left = min(top, height - inner_h), min(left, width - inner_w)
    out = background.copy()
    out[top : top + inner_h, left : left + inner_w] = np.asarray(Image.fromarray(known).resize((inner_w, inner_h), Image.Resampling.LANCZOS))
    return out


def thumbnail(known: np.ndarray, scale: float = 0.25) -> np.ndarray:
    """The known picture shrunk to `scale` of its size."""
    height, width = known.shape[:2]
    return np.asarray(Image.fromarray(known).resize((max(8, round(width * scale)), max(8, round(height * scale))), Image.Resampling.LANCZOS))


# ---------------------------------------------------------------- the property test's uploads


def interleaved_video(segments: Sequence[tuple[Frames, float]], container: str = "mp4", other_track: Frames | None = None, other_first: bool = False) -> bytes:
    """A video of `segments` (frames and their shared frame duration in seconds, played one after another), at a
    variable frame rate, without B-frames; with `other_track`, those frames (at 10 fps) in another video track,
    before the segments' track or after it."""
    import av

    base = Fraction(1, 1000)
    tracks: list[list[tuple[int, np.ndarray]]] = [[]]
    at = 0.0
    for frames, seconds in segments:
        for rgb in frames:
            tracks[0].append((round(at * 1000), rgb))
            at += seconds
    if other_track is not None:
        other = [(round(n * 100), rgb) for n, rgb in enumerate(other_track)]
        tracks = [other, tracks[0]] if other_first else [tracks[0], other]
    out = io.BytesIO()
    with _output(out, container) as muxer:
        streams = [_encoder(muxer, "libx264", _size([track[0][1]]), 10, {"bf": "0"}, base) for track in tracks]
        for stream, track in zip(streams, tracks):
            last = -1
            for pts, rgb in track:
                pts = max(pts, last + 1)
                _write(muxer, stream, _even(rgb), pts, base)
                last = pts
        for stream in streams:
            _flush(muxer, stream)
    return out.getvalue()
