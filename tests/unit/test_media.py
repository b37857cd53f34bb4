import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from hashmatch.errors import MediaError
from hashmatch.media.decode import DENSE, PICTURE_MAX_SIDE, SPARSE, Limits, open_media, sniff
from hashmatch.signals import PdqSignal
from makemedia import encode_video, image_bytes, panning, textured, with_display_rotation


def pdq(rgb):
    return PdqSignal.hash_frame(np.ascontiguousarray(rgb)).hash


def only_frame(data):
    (frame,) = list(open_media(data).frames())
    return frame


def test_type_is_sniffed_from_bytes_not_the_name(tmp_path):
    path = tmp_path / "holiday.mp4"
    path.write_bytes(image_bytes(textured(1), "JPEG"))
    media = open_media(path)
    assert (media.kind, media.format) == ("image", "jpeg")


@pytest.mark.parametrize(
    "head, expected",
    [(b"\x89PNG\r\n\x1a\n", ("image", "png")), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", ("image", "webp")), (b"\x00\x00\x00\x18ftypisom", ("video", "mp4")), (b"\x1a\x45\xdf\xa3", ("video", "matroska")), (b"hello", None)],
)
def test_sniff_recognises_signatures(head, expected):
    assert sniff(head) == expected


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "LA", "RGBA", "1", "I;16", "YCbCr"])
def test_every_colour_mode_hashes_as_the_rgb_picture_does(mode):
    rgb = textured(2)
    reference = pdq(rgb)
    if mode == "I;16":
        gray = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257
        data = image_bytes(gray.astype(np.uint16), "PNG")
        reference = pdq(np.asarray(Image.fromarray(rgb).convert("L").convert("RGB")))
    else:
        fmt = "JPEG" if mode in ("CMYK", "YCbCr") else "TIFF" if mode == "1" else "PNG"
        data = image_bytes(rgb, fmt, mode=mode, **({"quality": 95} if fmt == "JPEG" else {}))
        if mode in ("L", "LA", "1"):
            reference = pdq(np.asarray(Image.fromarray(rgb).convert("L").convert("RGB")))
    # "1" is dithered to black and white: structure survives, fine detail does not.
    tolerance = 40 if mode == "1" else 10
    assert only_frame(data).rgb.dtype == np.uint8
    assert pdq(only_frame(data).rgb) - reference <= tolerance


@pytest.mark.parametrize("orientation, undo", [(3, 2), (6, 1), (8, 3)])
def test_exif_orientation_is_applied_before_hashing(orientation, undo):
    upright = textured(3, 320, 200)
    # Store the pixels the way a camera would, and the tag that turns them upright.
    stored = np.rot90(upright, k=undo)
    image = Image.fromarray(np.ascontiguousarray(stored))
    exif = image.getexif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif)
    frame = only_frame(out.getvalue())
    assert frame.rgb.shape == upright.shape
    assert pdq(frame.rgb) - pdq(upright) <= 8


def test_animated_gif_is_a_timed_frame_sequence():
    pictures = [Image.fromarray(textured(seed, 96, 64)) for seed in (10, 11, 12)]
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:], duration=[200, 300, 500], loop=0)
    media = open_media(out.getvalue())
    assert media.kind == "video" and media.duration == pytest.approx(1.0)
    assert [round(f.timestamp, 3) for f in media.frames(DENSE)] == [0.0, 0.2, 0.5]


def test_video_frames_carry_real_timestamps_at_a_variable_frame_rate():
    times = [0.0, 0.1, 0.15, 0.9, 1.0, 2.5]
    data = encode_video(panning(1, len(times), 128, 96), timestamps=times)
    got = [round(f.timestamp, 3) for f in open_media(data).frames(DENSE)]
    assert got == times


def test_sparse_sampling_takes_a_frame_at_or_just_after_each_due_time():
    data = encode_video(panning(2, 40, 128, 96), fps=10)  # 4 s: short, so one frame per 0.5 s
    got = [f.timestamp for f in open_media(data).frames(SPARSE)]
    due = [0.5 * i for i in range(8)]
    assert len(got) == len(due)
    assert all(d <= t < d + 0.25 for d, t in zip(due, got))


def test_a_long_video_with_short_gops_is_sampled_at_its_keyframes():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=20)  # 40 s, a keyframe every 2 s
    got = [round(f.timestamp, 2) for f in open_media(data).frames(SPARSE)]
    assert got == [2.0 * i for i in range(20)]


def test_long_gops_get_frames_between_their_keyframes():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=80)  # 40 s, a keyframe every 8 s
    got = [f.timestamp for f in open_media(data).frames(SPARSE)]
    gaps = np.diff(got)
    assert got[0] == 0.0 and len(got) >= 19
    assert gaps.max() <= SPARSE.interval + 0.4


def test_frames_between_keyframes_are_decoded_within_their_limit_spread_over_the_video():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=80)  # 40 s, a keyframe every 8 s
    limited = [round(f.timestamp, 1) for f in open_media(data).frames(replace(SPARSE, max_seconds_between_keyframes=12.0))]
    unlimited = [round(f.timestamp, 1) for f in open_media(data).frames(replace(SPARSE, max_seconds_between_keyframes=None))]
    between = [t for t in limited if t % 8]
    assert {0.0, 8.0, 16.0, 24.0, 32.0} <= set(limited)
    assert 0 < len(between) <= 6 < len([t for t in unlimited if t % 8])
    assert max(between) > 16.0  # not all spent at the start


def test_sparsely_decoded_frames_are_the_pixels_of_a_full_decode():
    data = encode_video(panning(7, 300, 160, 96), fps=10, gop=80)
    dense = {round(f.timestamp, 3): f.rgb for f in open_media(data).frames(replace(SPARSE, interval=None))}
    sparse = list(open_media(data).frames(SPARSE))
    assert len(sparse) > 10
    assert all(np.array_equal(f.rgb, dense[round(f.timestamp, 3)]) for f in sparse)


def test_rotation_metadata_turns_frames_upright():
    frames = panning(3, 5, 160, 96)
    plain = open_media(encode_video(frames)).frames(DENSE, remove_borders=False)
    rotated = open_media(with_display_rotation(encode_video(frames), 90)).frames(DENSE, remove_borders=False)
    first_plain, first_rotated = next(iter(plain)), next(iter(rotated))
    assert first_rotated.rgb.shape == (160, 96, 3)
    assert np.abs(first_rotated.rgb.astype(int) - np.rot90(first_plain.rgb, k=-1)).mean() < 2


def test_large_pictures_are_scaled_to_the_picture_size():
    frame = next(iter(open_media(image_bytes(textured(4, 1600, 1000))).frames(DENSE)))
    assert max(frame.rgb.shape[:2]) == PICTURE_MAX_SIDE


def test_upload_video_frames_are_scaled_to_the_sampling_size():
    frame = next(iter(open_media(encode_video(panning(4, 3, 960, 540))).frames(SPARSE)))
    assert frame.rgb.shape == (288, 512, 3)


def test_empty_input_is_refused():
    with pytest.raises(MediaError) as error:
        open_media(b"")
    assert error.value.reason == "empty"


def test_non_media_is_unsupported():
    with pytest.raises(MediaError) as error:
        open_media(b"%PDF-1.7\n" + b"lorem ipsum " * 200)
    assert error.value.reason == "unsupported"


def test_audio_only_file_is_unsupported():
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="wav") as muxer:
        stream = muxer.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            muxer.mux(packet)
    with pytest.raises(MediaError) as error:
        open_media(out.getvalue())
    assert error.value.reason == "unsupported"


def test_truncated_video_with_its_index_at_the_end_is_corrupt():
    data = encode_video(panning(5, 60, 128, 96), fps=10)
    with pytest.raises(MediaError) as error:
        open_media(data[: len(data) // 2])
    assert error.value.reason == "corrupt"


def test_truncated_video_is_corrupt_even_when_the_decoder_stays_silent():
    data = encode_video(panning(5, 60, 128, 96), fps=10, faststart=True)
    media = open_media(data[: len(data) // 3])
    with pytest.raises(MediaError) as error:
        list(media.frames(SPARSE))
    assert error.value.reason == "corrupt"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_image_is_corrupt(fmt):
    data = image_bytes(textured(6, 400, 300), fmt)
    with pytest.raises(MediaError) as error:
        list(open_media(data[: len(data) // 3]).frames())
    assert error.value.reason == "corrupt"


def test_oversized_input_is_refused_before_decoding():
    with pytest.raises(MediaError) as error:
        open_media(image_bytes(textured(7)), Limits(max_bytes=100))
    assert error.value.reason == "oversized"


def test_decompression_bomb_is_refused_by_pixel_count():
    with pytest.raises(MediaError) as error:
        open_media(image_bytes(np.zeros((300, 400, 3), np.uint8)), Limits(max_pixels=10_000))
    assert error.value.reason == "oversized"


def test_a_missing_file_is_a_media_error(tmp_path):
    with pytest.raises(MediaError, match="No such file"):
        open_media(tmp_path / "absent.jpg")
