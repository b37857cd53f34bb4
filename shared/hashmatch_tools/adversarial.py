"""Uploads built to carry known media past the hasher (issue 27): one construction per trick, for the tests and the evaluation.

Each function builds the bytes of one upload from a known picture (H x W x 3 uint8) or known video
frames, and a benign one beside it; what the upload should be checked against is the known picture
or the known frames encoded plainly (made_media.encode_video). `outcome` says what the pipeline does
with an upload: matched, held, or passed (neither), the last of which none of these may get.

The instants the constructions aim at are the ones a fixed sampler would take: every SAMPLE_STEP
seconds from t = 0 (the uploader's best guess, and what the hasher did before its sampling was keyed).
"""

from __future__ import annotations

import base64
import io
import struct
import zipfile
from typing import Sequence

import numpy as np
from PIL import Image

from hashmatch_tools.made_media import encode_video, image_bytes

# The fixed sampling step the constructions aim at (the hasher's upload interval before issue 27).
SAMPLE_STEP = 2.0


# ---------------------------------------------------------------- animations and frame timing


def animation_with_benign_instants(known: np.ndarray, benign: np.ndarray, seconds: float = 40.0, fmt: str = "GIF", benign_ms: int = 20) -> bytes:
    """An animation (GIF, PNG for APNG, WEBP) that shows the known picture except for a benign frame of `benign_ms`
    at every SAMPLE_STEP from t = 0: a sampler on that grid sees only the benign frames."""
    step_ms = int(SAMPLE_STEP * 1000)
    count = int(seconds * 1000) // step_ms
    frames, durations = [], []
    for _ in range(count):
        frames += [benign, known]
        durations += [benign_ms, step_ms - benign_ms]
    pictures = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
    out = io.BytesIO()
    options = {"save_all": True, "append_images": pictures[1:], "duration": durations, "loop": 0}
    if fmt == "GIF":
        pictures = [picture.convert("P", palette=Image.Palette.ADAPTIVE) for picture in pictures]
        options["append_images"] = pictures[1:]
        options["disposal"] = 1
        options["optimize"] = False
    if fmt == "WEBP":
        options.update(quality=90, minimize_size=False, allow_mixed=False)
    if fmt == "PNG":
        options["disposal"] = 0
        options["default_image"] = False
    pictures[0].save(out, format=fmt, **options)
    return out.getvalue()


def keyframes_benign(known: Sequence[np.ndarray], benign: np.ndarray, fps: int = 10, keyframe_seconds: float = 0.5) -> bytes:
    """An MP4 whose keyframes, forced every `keyframe_seconds`, show the benign picture while every other frame is the known video's."""
    gop = max(1, int(round(keyframe_seconds * fps)))
    frames = [benign if index % gop == 0 else frame for index, frame in enumerate(known)]
    return encode_video(frames, fps=fps, gop=gop)


def benign_flashes(known: Sequence[np.ndarray], benign: np.ndarray, fps: int = 10, flash_seconds: float = 0.001) -> bytes:
    """A variable-frame-rate MP4 of the known video with a benign frame of `flash_seconds` at every SAMPLE_STEP from t = 0
    (the known frame due then follows it)."""
    frames, times = [], []
    flash_every = int(round(SAMPLE_STEP * fps))
    for index, frame in enumerate(known):
        time = index / fps
        if index % flash_every == 0:
            frames.append(benign)
            times.append(time)
            time += flash_seconds
        frames.append(frame)
        times.append(time)
    return encode_video(frames, timestamps=times)


def one_keyframe(known: Sequence[np.ndarray], benign: np.ndarray, fps: int = 2) -> bytes:
    """A video whose only keyframe, at the start, is benign and whose every later frame is predicted from it: the known video.
    At 2 fps a list of 1,200 frames is ten minutes."""
    frames = [benign, *known]
    return encode_video(frames, fps=fps, gop=len(frames) + 1)


# ---------------------------------------------------------------- streams a player can pick


def second_video_track(known: Sequence[np.ndarray], benign: Sequence[np.ndarray], container: str = "matroska", fps: int = 10) -> bytes:
    """A file with two video streams: the benign video first (the default a player shows), the known video second."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format=container) as muxer:
        streams = []
        for frames in (benign, known):
            stream = muxer.add_stream("libx264", rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            streams.append((stream, frames))
        for index in range(max(len(benign), len(known))):
            for stream, frames in streams:
                if index < len(frames):
                    for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[index]), format="rgb24")):
                        muxer.mux(packet)
        for stream, _frames in streams:
            for packet in stream.encode():
                muxer.mux(packet)
    return out.getvalue()


def cover_art(known: np.ndarray, container: str = "mp3", seconds: float = 5.0) -> bytes:
    """Silent audio whose attached picture (cover art, as players show it) is the known picture: MP3 (ID3 APIC) or MP4."""
    import av

    out = io.BytesIO()
    rate = 44100
    codec, layout = ("libmp3lame", "s16p") if container == "mp3" else ("aac", "fltp")
    with av.open(out, mode="w", format=container) as muxer:
        audio = muxer.add_stream(codec, rate=rate)
        picture = muxer.add_stream("mjpeg")
        picture.height, picture.width = known.shape[:2]
        picture.pix_fmt = "yuvj420p"
        picture.disposition = av.stream.Disposition.attached_pic
        packet = av.Packet(image_bytes(known, "JPEG", quality=95))
        packet.stream, packet.pts, packet.dts = picture, 0, 0
        muxer.mux(packet)
        samples = np.zeros((1, int(rate * seconds)), np.float32 if layout == "fltp" else np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format=layout, layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in audio.encode(frame):
            muxer.mux(packet)
        for packet in audio.encode():
            muxer.mux(packet)
    return out.getvalue()


def pgs_subtitles(benign: Sequence[np.ndarray], known: np.ndarray, fps: int = 10, shown: tuple[float, float] | None = None) -> bytes:
    """A Matroska file of the benign video with a bitmap subtitle stream (PGS, as on Blu-ray) that shows the known picture
    (in 64 grey levels) over it from `shown[0]` to `shown[1]` seconds (default: the whole video)."""
    import av

    seconds = len(benign) / fps
    start, end = shown if shown is not None else (0.0, seconds)
    sup = _pgs_display_set(known, start, epoch=True) + _pgs_clear(end)
    with av.open(io.BytesIO(sup), format="sup") as source:
        template = source.streams.subtitles[0]
        subtitle_packets = [packet for packet in source.demux(template) if packet.size]
        out = io.BytesIO()
        with av.open(out, mode="w", format="matroska") as muxer:
            video = muxer.add_stream("libx264", rate=fps)
            video.height, video.width = benign[0].shape[:2]
            video.pix_fmt = "yuv420p"
            subtitles = muxer.add_stream_from_template(template)
            for packet in subtitle_packets:
                packet.stream = subtitles
                muxer.mux(packet)
            for frame in benign:
                for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                    muxer.mux(packet)
            for packet in video.encode():
                muxer.mux(packet)
    return out.getvalue()


def _pgs_segment(kind: int, pts: float, payload: bytes) -> bytes:
    ticks = int(round(pts * 90000))
    return b"PG" + struct.pack(">IIBH", ticks, ticks, kind, len(payload)) + payload


def _pgs_display_set(picture: np.ndarray, pts: float, epoch: bool) -> bytes:
    """One PGS display set showing `picture` (grey, 64 levels, palette entries 1-64) at the top left from `pts`."""
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(picture)).convert("L"), dtype=np.uint8)
    height, width = grey.shape
    levels = (grey // 4).astype(np.int64) + 1  # 1..64: palette index 0 is the RLE escape
    composition = struct.pack(">HHBHBBBB", width, height, 0x10, 0, 0x80 if epoch else 0x00, 0, 0, 1) + struct.pack(">HBBHH", 0, 0, 0, 0, 0)
    window = struct.pack(">BBHHHH", 1, 0, 0, 0, width, height)
    palette = struct.pack(">BB", 0, 0) + b"".join(struct.pack(">BBBBB", index, min(255, (index - 1) * 4 + 2), 128, 128, 255) for index in range(1, 65))
    rle = bytearray()
    for row in levels:
        column = 0
        while column < width:
            colour = int(row[column])
            run = 1
            while column + run < width and row[column + run] == colour and run < 16383:
                run += 1
            if run < 3:
                rle += bytes([colour]) * run
            elif run < 64:
                rle += bytes([0, 0x80 | run, colour])
            else:
                rle += bytes([0, 0xC0 | (run >> 8), run & 0xFF, colour])
            column += run
        rle += b"\x00\x00"
    data = struct.pack(">HH", width, height) + bytes(rle)
    if len(data) + 11 > 0xFFFF:
        raise ValueError("picture too detailed for one PGS object segment: use a smaller one")
    obj = struct.pack(">HBB", 0, 0, 0xC0) + len(data).to_bytes(3, "big") + data
    return (
        _pgs_segment(0x16, pts, composition) + _pgs_segment(0x17, pts, window) + _pgs_segment(0x14, pts, palette) + _pgs_segment(0x15, pts, obj) + _pgs_segment(0x80, pts, b"")
    )


def _pgs_clear(pts: float) -> bytes:
    composition = struct.pack(">HHBHBBBB", 16, 16, 0x10, 1, 0x00, 0, 0, 0)
    return _pgs_segment(0x16, pts, composition) + _pgs_segment(0x80, pts, b"")


# ---------------------------------------------------------------- pictures with more than one picture in them


def tiff_pages(known: np.ndarray, benign: np.ndarray) -> bytes:
    """A multi-page TIFF: the benign picture on the first page (what most viewers open on), the known one on the second."""
    out = io.BytesIO()
    Image.fromarray(benign).save(out, format="TIFF", save_all=True, append_images=[Image.fromarray(np.ascontiguousarray(known))], compression="tiff_deflate")
    return out.getvalue()


def mpo(known: np.ndarray, benign: np.ndarray) -> bytes:
    """A multi-picture JPEG (MPO, as stereo cameras write): the benign picture first, the known one second."""
    out = io.BytesIO()
    Image.fromarray(benign).save(out, format="MPO", save_all=True, append_images=[Image.fromarray(np.ascontiguousarray(known))], quality=95)
    return out.getvalue()


def ico_entries(known: np.ndarray, benign: np.ndarray) -> bytes:
    """An icon file whose largest entry (what Pillow and most viewers open) is benign and whose 128 x 128 entry is the known picture."""
    out = io.BytesIO()
    large = Image.fromarray(benign).resize((256, 256))
    small = Image.fromarray(np.ascontiguousarray(known)).resize((128, 128), Image.Resampling.BOX)
    large.save(out, format="ICO", sizes=[(256, 256), (128, 128)], append_images=[small])
    return out.getvalue()


def picture_in_alpha(known: np.ndarray) -> bytes:
    """A PNG whose colour channels are black and whose alpha channel carries the known picture: on a light page it shows
    the picture (in grey), on a dark one nothing."""
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(known)).convert("L"), dtype=np.uint8)
    rgba = np.zeros(grey.shape + (4,), np.uint8)
    rgba[:, :, 3] = 255 - grey
    return image_bytes(rgba, "PNG")


def svg_with_raster(known: np.ndarray) -> bytes:
    """An SVG drawing whose only content is the known picture, embedded as a PNG data URI."""
    height, width = known.shape[:2]
    data = base64.b64encode(image_bytes(known, "PNG")).decode("ascii")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">\n'
        f'  <rect width="{width}" height="{height}" fill="white"/>\n'
        f'  <image x="0" y="0" width="{width}" height="{height}" xlink:href="data:image/png;base64,{data}"/>\n</svg>\n'
    ).encode("utf-8")


def zip_of_pictures(known: np.ndarray, benign: np.ndarray) -> bytes:
    """A ZIP archive of two pictures, the benign one first."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("holiday/001.jpg", image_bytes(benign, "JPEG", quality=90))
        archive.writestr("holiday/002.png", image_bytes(known, "PNG"))
    return out.getvalue()


def jpeg_xl_container() -> bytes:
    """The start of a JPEG XL file in its ISO BMFF container (signature box, ftyp "jxl ", a codestream box): no library here encodes JPEG XL."""
    signature = struct.pack(">I", 12) + b"JXL \r\n\x87\n"
    ftyp = struct.pack(">I", 20) + b"ftypjxl " + b"\x00\x00\x00\x00" + b"jxl "
    codestream = b"\xff\x0a" + bytes(range(256)) * 4
    return signature + ftyp + struct.pack(">I", 8 + len(codestream)) + b"jxlc" + codestream


def jpeg_xl_codestream() -> bytes:
    """A bare JPEG XL codestream's first bytes (signature FF 0A and a size header)."""
    return b"\xff\x0a\xfa\x7f\x01\x90\x08" + bytes(range(256)) * 4


# ---------------------------------------------------------------- what the pipeline does with one


def outcome(upload: bytes, known: bytes | object, *, sampling_secret: bytes | None = None) -> str:
    """What the hasher and the matcher do with `upload` against the known media (bytes, or its reference hashes):
    "matched", "held" (recognised media the hasher cannot check, or a partial hash that matches nothing), or "passed"."""
    from hashmatch.errors import MediaError
    from hashmatch.media.hashing import hash_media
    from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
    from hashmatch.vocabulary import Role
    from hashmatch_tools.matching import detail_pictures_of, hash_reference, two_stage_matcher

    reference = hash_reference(known) if isinstance(known, (bytes, bytearray)) else known
    options = {"sampling_secret": sampling_secret} if sampling_secret is not None else {}
    try:
        hashes = hash_media(upload, role=Role.UPLOAD, keep_detail_pictures=True, **options)
    except MediaError as error:
        return "held" if error.recognised else "passed"
    result = two_stage_matcher({"known": reference}, PDQ_CONFIDENT_MATCH_THRESHOLD).match(hashes, detail_pictures_of(hashes))
    if result.matches:
        return "matched"
    return "held" if hashes.partial else "passed"


__all__ = [
    "SAMPLE_STEP",
    "animation_with_benign_instants",
    "benign_flashes",
    "cover_art",
    "ico_entries",
    "jpeg_xl_codestream",
    "jpeg_xl_container",
    "keyframes_benign",
    "mpo",
    "one_keyframe",
    "outcome",
    "pgs_subtitles",
    "picture_in_alpha",
    "second_video_track",
    "svg_with_raster",
    "tiff_pages",
    "zip_of_pictures",
]
