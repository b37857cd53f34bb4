import io
import itertools
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from hashmatch.errors import MediaError
from hashmatch.media import frames as media_frames
from hashmatch.media import pixels
from hashmatch.media.decode import open_media
from hashmatch.media.hashing import hash_media
from hashmatch.media.limits import BYTES_PER_PIXEL, MIB, PROCESS_BYTES, VIDEO_BYTES_PER_PIXEL, Limits
from hashmatch.media.sampling import DENSE, PICTURE_MAX_SIDE, SPARSE, FeatureCells
from hashmatch.media.schedule import CHECK_EVERY, Schedule, default_schedule
from hashmatch.media.sniff import sniff
from hashmatch.signals import PdqSignal
from hashmatch_tools.made_media import (
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


def test_an_mp4_whose_ftyp_box_is_renamed_is_still_recognised_as_video():
    mp4 = bytearray(encode_video([textured(s) for s in range(6)], fps=5))
    assert mp4[4:8] == b"ftyp"
    mp4[4:8] = b"free"  # FFmpeg skips a free box and still finds the movie

    assert sniff(bytes(mp4[:512])) == ("video", "mp4")
    with pytest.raises(MediaError) as raised:
        open_media(bytes(mp4[: len(mp4) // 2])).frames().__next__()
    assert raised.value.recognised is True


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


def keyed_instants(duration, step, schedule=None):
    schedule = schedule or default_schedule()
    return list(itertools.takewhile(lambda t: t < duration, (instant.time for instant in schedule.instants(step, duration))))


def test_sparse_sampling_takes_the_frame_on_screen_at_each_keyed_instant():
    data = encode_video(panning(2, 40, 128, 96), fps=10)  # 4 s in one GOP: short, so one instant per 0.5 s
    got = [round(f.timestamp, 3) for f in open_media(data).frames(SPARSE)]
    shown = sorted({round(np.floor(t * 10 + 1e-9) / 10, 3) for t in keyed_instants(4.0, 0.5)})
    assert got == shown


def test_the_instants_sampled_depend_on_the_secret_and_the_bytes():
    one, other = Schedule.of(b"deployment one", "ab" * 32), Schedule.of(b"deployment two", "ab" * 32)
    assert keyed_instants(60, 2.0, one) == keyed_instants(60, 2.0, Schedule.of(b"deployment one", "ab" * 32))
    assert keyed_instants(60, 2.0, one) != keyed_instants(60, 2.0, other) != keyed_instants(60, 2.0, Schedule.of(b"deployment two", "cd" * 32))


def test_media_shorter_than_a_step_has_an_instant_in_it_whatever_the_secret():
    # A 0.3 s animation sampled every 0.5 s: the instant of the cell it ends in is drawn before its end.
    assert all(keyed_instants(0.3, 0.5, Schedule.of(bytes([n]) * 16, "ab" * 32)) for n in range(100))


def test_keyed_instants_fall_one_in_each_step_anywhere_in_it():
    instants = keyed_instants(2000.0, 2.0)
    offsets = np.array([t % 2.0 for t in instants])
    assert abs(len(instants) - 1000) <= 1 and np.all(np.diff(instants) < 4.0)
    # Every moment equally likely: the place in the step is spread evenly, not on a grid.
    assert np.histogram(offsets, bins=4, range=(0, 2))[0].min() > 200


def test_short_gops_are_sampled_at_their_keyframes_except_at_the_checked_instants():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=20)  # 40 s, a keyframe every 2 s, a slow pan
    got = [round(f.timestamp, 2) for f in open_media(data).frames(SPARSE)]
    schedule, expected = default_schedule(), set()
    instants = [i for i in itertools.takewhile(lambda i: i.time < 40.0, schedule.instants(2.0))]
    for start in range(0, 40, 2):
        due = [i for i in instants if start <= i.time < start + 2]
        checked = [i.time for i in due if schedule.checked(i.index)]
        # Decoded to the frame on screen at the last checked instant, taking those shown at the instants on the way ...
        expected |= {round(np.floor(i.time * 10 + 1e-9) / 10, 2) for i in due if checked and i.time <= checked[-1]}
        if any(not checked or i.time > checked[-1] for i in due):
            expected.add(float(start))  # ... and the keyframe stands for the others
    assert got == sorted(expected) and expected - {float(s) for s in range(0, 40, 2)}


def test_one_keyed_instant_in_each_run_of_check_every_is_checked():
    for schedule in (default_schedule("ab" * 32), default_schedule("cd" * 32)):
        runs = [[schedule.checked(index) for index in range(start, start + CHECK_EVERY)] for start in range(0, 100 * CHECK_EVERY, CHECK_EVERY)]
        assert all(sum(run) == 1 for run in runs)
        # At every place in the run, not a fixed one: an uploader cannot tell which instants are checked.
        assert {run.index(True) for run in runs} == set(range(CHECK_EVERY))
    one, other = default_schedule("ab" * 32), default_schedule("cd" * 32)
    assert [one.checked(index) for index in range(100)] != [other.checked(index) for index in range(100)]


def test_a_stretch_of_2_check_every_minus_1_instants_always_holds_a_checked_one_whatever_the_key():
    stretch = 2 * CHECK_EVERY - 1  # 9 instants, 18 s at the 2 s step
    for secret in range(64):
        checked = [Schedule.of(bytes([secret]) * 16, "ab" * 32).checked(index) for index in range(60)]
        assert all(any(checked[start : start + stretch]) for start in range(len(checked) - stretch + 1))


def test_a_keyframe_unlike_the_frames_it_stands_for_counts_for_its_time_on_screen_only():
    known, benign = panning(3, 400, 96, 64, speed=1), textured(30, 96, 64)
    data = encode_video([benign if n % 5 == 0 else frame for n, frame in enumerate(known)], fps=10, gop=5)  # benign keyframes every 0.5 s
    benign_hash = pdq(benign)
    shares = []
    # 32 keys: one key's share runs from 0.05 to 0.43, so the mean of 8 came out at 0.24 here and 0.30 on CI's machine.
    for secret in range(32):
        hashes = hash_media(data, sampling_secret=bytes([secret]) * 16, keep_detail_pictures=False)
        shares.append(sum(PdqSignal.parse(frame.pdq) - benign_hash <= 20 for frame in hashes.frames) / len(hashes.frames))
    # A keyframe is on screen a fifth of the time: once a check finds it unlike its GOP, the keyframes that stood in
    # for other frames are withdrawn, and about a fifth of the frames hashed show one (not the keyframes beside them;
    # with them, about 0.36).
    assert 0.1 <= float(np.mean(shares)) <= 0.3


def test_long_gops_get_the_frames_shown_between_their_keyframes():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=80)  # 40 s, a keyframe every 8 s
    got = [f.timestamp for f in open_media(data).frames(SPARSE)]
    assert got[0] < SPARSE.interval and len(got) >= 19
    assert np.diff(got).max() < 2 * SPARSE.interval + 0.2


def test_frames_past_the_limit_for_decoding_between_keyframes_are_left_uncovered_not_stood_in_for():
    data = encode_video(panning(2, 400, 96, 64, speed=1), fps=10, gop=80)  # 40 s, a keyframe every 8 s
    limited_media = open_media(data)
    limited = [round(f.timestamp, 1) for f in limited_media.frames(replace(SPARSE, max_seconds_between_keyframes=12.0))]
    unlimited = [round(f.timestamp, 1) for f in open_media(data).frames(replace(SPARSE, max_seconds_between_keyframes=None))]
    assert len(limited) < len(unlimited) and max(t for t in limited if t % 8) > 16.0  # spread over the video
    uncovered = limited_media.tracks[0].coverage.uncovered(40.0)
    assert sum(b - a for a, b in uncovered) > 10.0 and not any(a <= t < b for t in limited for a, b in uncovered)


def test_a_long_gop_beyond_the_limit_is_not_decoded_without_its_references():
    frames = [textured(31, 96, 64)] + panning(4, 600, 96, 64, speed=1)  # 5 minutes at 2 fps, one keyframe
    media = open_media(encode_video(frames, fps=2, gop=1000))
    got = [f.timestamp for f in media.frames(replace(SPARSE, max_seconds_between_keyframes=60.0))]
    covered = media.tracks[0].coverage.covered_seconds(media.duration)
    assert got and max(got) <= 61.0 and covered < 0.3 * media.duration


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


def refusal(data, limits=Limits()):
    with pytest.raises(MediaError) as error:
        list(open_media(data, limits).frames())
    return error.value


def test_a_sixteen_bit_picture_is_scaled_to_eight_bits_a_strip_at_a_time_as_it_was_whole(monkeypatch):
    values = np.random.default_rng(1).integers(0, 65536, size=(200, 300), dtype=np.uint16)
    monkeypatch.setattr(pixels, "_STRIP_PIXELS", 1000)  # many strips, ragged at the end
    expected = np.clip(np.rint(values.astype(np.float64) * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
    frame = only_frame(image_bytes(values, "PNG"))
    assert np.array_equal(frame.rgb[:, :, 0], expected) and np.array_equal(frame.rgb[:, :, 2], expected)


def test_a_large_sixteen_bit_picture_takes_few_array_bytes_a_pixel(monkeypatch):
    import tracemalloc

    monkeypatch.setattr(pixels, "_STRIP_PIXELS", 1 << 16)  # strips small beside the picture
    grey = np.tile(np.asarray(Image.fromarray(textured(8, 256, 256)).convert("L")), (8, 8))  # 2048 x 2048
    media = open_media(sixteen_bit_png(grey))
    tracemalloc.start()
    try:
        only = list(media.frames(remove_borders=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # numpy's arrays (tracemalloc sees them): converted whole in float64 they took over 24 bytes a pixel.
    assert len(only) == 1 and peak < 3 * grey.size


def test_an_animation_over_the_frame_limit_is_refused_before_decoding():
    error = refusal(repeated_gif(textured(9, 64, 48), 40), Limits(max_frames=30))
    assert (error.reason, error.recognised) == ("oversized", True) and "frames" in str(error)


def test_an_animation_over_the_decoding_limit_is_refused():
    error = refusal(repeated_gif(textured(9, 64, 48), 40), Limits(max_decoded_pixels=64 * 48 * 39))
    assert (error.reason, error.recognised) == ("oversized", True) and "decoding limit" in str(error)


def test_a_gif_frame_reaching_past_its_screen_counts_at_the_size_it_grows_to():
    data = bytearray(repeated_gif(textured(9, 400, 300), 3))
    data[6:10] = (1).to_bytes(2, "little") * 2  # a 1 x 1 screen with 400 x 300 frames
    assert refusal(bytes(data), Limits(max_pixels=100_000)).reason == "oversized"


def test_gif_frame_delays_and_count_are_read_without_decoding(monkeypatch):
    data = repeated_gif(textured(10, 64, 48), 25, duration_ms=40)
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("decoded while opening"))
    media = open_media(data)
    assert media.kind == "video" and media.duration == pytest.approx(25 * 0.04)


def test_an_animated_webp_keeps_its_own_frame_delays():
    media = open_media(repeated_webp(textured(11, 64, 48), 6, duration_ms=250))
    assert media.duration == pytest.approx(1.5)
    assert [round(f.timestamp, 3) for f in media.frames(DENSE)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]


def test_heic_is_unsupported_media_that_is_recognised():
    error = refusal(heif_header(b"heic"))
    assert (error.reason, error.recognised) == ("unsupported", True) and "HEIC/AVIF" in str(error)


def test_avif_pictures_are_hashed():
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    frame = only_frame(image_bytes(textured(12), "AVIF", quality=90))
    assert pdq(frame.rgb) - pdq(textured(12)) <= 16


def test_a_decompression_bomb_is_refused_as_recognised_media():
    error = refusal(declared_png(100_000, 100_000), Limits(max_pixels=10_000_000))
    assert (error.reason, error.recognised) == ("oversized", True)


def test_a_truncated_video_is_recognised_media():
    data = encode_video(panning(5, 60, 128, 96), fps=10)
    assert refusal(data[: len(data) // 2]).recognised


def test_media_over_the_byte_limit_is_recognised_and_other_bytes_are_not():
    limits = Limits(max_bytes=100)
    assert refusal(image_bytes(textured(7)), limits).recognised and not refusal(b"lorem ipsum " * 20, limits).recognised


@pytest.mark.parametrize("fmt", ["TGA", "PPM", "PCX", "SGI"])
def test_a_picture_in_a_format_with_no_signature_sniff_knows_is_hashed_not_passed(fmt):
    # A TGA header has no signature at all; PPM, PCX and SGI have none that sniff lists. Pillow reads them, so a viewer shows them.
    picture = textured(13, 96, 64)
    frame = only_frame(image_bytes(picture, fmt))
    assert pdq(frame.rgb) - pdq(picture) <= 8


def test_a_tga_over_the_byte_limit_is_recognised_media():
    assert refusal(image_bytes(textured(7), "TGA"), Limits(max_bytes=100)).recognised


def test_text_is_not_recognised_as_media():
    assert not refusal(b"%PDF-1.7\n" + b"lorem ipsum " * 200).recognised


def test_an_audio_only_file_is_not_recognised_as_media():
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="wav") as muxer:
        stream = muxer.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            muxer.mux(packet)
    assert not refusal(out.getvalue()).recognised


def test_a_deadline_ends_a_video_early_without_a_truncation_error(monkeypatch):
    data = encode_video(panning(5, 100, 128, 96), fps=10, faststart=True, gop=10)
    media = open_media(data[: len(data) // 2])  # cut short: decoded to its end, "truncated: frames stop at 4.1 s"
    now = [0.0]
    monkeypatch.setattr(media_frames, "monotonic", lambda: now[0])
    taken = []
    # Without border and inner-picture tracking, which hold the first frames back.
    for frame in media.frames(replace(SPARSE, inner_pictures=False), remove_borders=False, deadline=10.0):
        taken.append(frame.timestamp)
        now[0] = 11.0  # the budget runs out once frames come
    assert taken and media.partial


def test_frames_without_a_deadline_are_not_partial():
    media = open_media(encode_video(panning(5, 30, 128, 96), fps=10))
    assert list(media.frames(SPARSE)) and not media.partial


def test_video_is_decoded_from_its_path_without_reading_the_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_video(panning(5, 30, 128, 96), fps=10))
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read whole"))
    assert len(list(open_media(path).frames(SPARSE))) > 1


def test_a_picture_is_decoded_from_its_path_without_reading_the_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    path.write_bytes(image_bytes(textured(13)))
    monkeypatch.setattr(type(path), "read_bytes", lambda self: pytest.fail("read whole"))
    assert pdq(only_frame(path).rgb) - pdq(textured(13)) <= 10


def test_limits_for_a_budget_keep_a_picture_within_its_memory():
    limits = Limits.for_budget(2048, 300, 512 * MIB)
    assert PROCESS_BYTES + limits.max_pixels * BYTES_PER_PIXEL < 2048 * MIB and limits.max_pixels > 100_000_000


def test_limits_for_a_budget_keep_a_video_frame_within_its_memory():
    limits = Limits.for_budget(2048, 300, 512 * MIB)
    assert PROCESS_BYTES + limits.max_video_pixels * VIDEO_BYTES_PER_PIXEL < 2048 * MIB and limits.max_video_pixels > 7680 * 4320


def test_a_video_over_the_frame_pixel_limit_is_refused_as_recognised_media():
    error = refusal(encode_video(panning(5, 10, 128, 96)), Limits(max_video_pixels=128 * 96 - 1))
    assert (error.reason, error.recognised) == ("oversized", True) and "video frame" in str(error)


def test_limits_for_a_budget_bound_animations_by_its_time():
    short, long = Limits.for_budget(2048, 30, 1), Limits.for_budget(2048, 300, 1)
    assert short.max_decoded_pixels * 10 == long.max_decoded_pixels and short.max_frames * 10 == long.max_frames


def test_limits_for_a_budget_keep_its_byte_limit():
    assert Limits.for_budget(1024, 60, 12345).max_bytes == 12345


def test_a_short_upload_gets_a_detail_picture_per_sampled_frame_up_to_the_sampling_step():
    # 16 pictures spread over the media, never closer together than its sampled frames (0.5 s for 4 s).
    assert SPARSE.feature_step(4.0) == 0.5 and SPARSE.feature_step(20.0) == 1.25


def test_a_long_upload_gets_its_detail_pictures_spread_over_it():
    assert SPARSE.feature_step(600.0) == 600.0 / SPARSE.feature_frames


def test_a_reference_gets_a_detail_picture_a_second_until_it_is_long():
    assert DENSE.feature_step(60.0) == 1.0 and DENSE.feature_step(1200.0) == 2.0


def test_a_short_reference_gets_sixteen_detail_pictures_spread_over_it_at_most_four_a_second():
    # An upload's instants fall anywhere in their cells (keyed sampling), so a 4 s reference's pictures at 0, 1, 2 and 3 s were far from them.
    assert DENSE.feature_step(4.0) == 0.25 and DENSE.feature_step(2.0) == 0.25


def test_two_keyed_instants_a_fraction_of_a_step_apart_each_give_a_detail_picture_in_their_own_cells():
    cells = FeatureCells(0.5)
    assert [cells.due(t) for t in (0.4, 0.63, 1.3, 1.73)] == [True, True, True, True]


def test_a_second_frame_in_the_same_cell_gives_no_detail_picture():
    cells = FeatureCells(0.5)
    assert [cells.due(t) for t in (3.6, 3.97)] == [True, False]


def test_without_a_feature_step_no_frame_gives_a_detail_picture():
    assert FeatureCells(None).due(0.0) is False


@pytest.mark.parametrize(("screen_height", "expected"), [(480, (255, 0, 0)), (1080, (255, 24, 0))])
def test_a_pgs_palette_entry_is_read_as_ffmpeg_reads_it_bt601_on_standard_definition_and_bt709_on_high(screen_height, expected):
    # BT.601's studio-range red (Y' 81, Cb 90, Cr 240) is red on a 480-line screen. Read with BT.709's matrix, as FFmpeg reads
    # a 1080-line stream's palette, the same entry has green in it: Y' 75.7 (of 255), Cb -43.3, Cr 127.5, so
    # G = 75.7 + 0.1873 * 43.3 - 0.4681 * 127.5 = 24.
    from hashmatch.media.video import _read_pgs_palettes

    composition = bytes([0x16]) + (11).to_bytes(2, "big") + (1920).to_bytes(2, "big") + screen_height.to_bytes(2, "big") + bytes(7)
    palette = bytes([0x14]) + (7).to_bytes(2, "big") + bytes([0, 0]) + bytes([1, 81, 240, 90, 255])
    palettes: dict = {}

    height = _read_pgs_palettes(composition + palette, palettes, 0)

    assert height == screen_height
    assert tuple(int(v) for v in palettes[0][1][:3]) == pytest.approx(expected, abs=3) and palettes[0][1][3] == 255
