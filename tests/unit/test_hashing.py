import hashlib
import itertools
import time
from dataclasses import replace

import numpy as np
import pytest

from hashmatch.errors import MediaError
from hashmatch.media import frames as media_frames
from hashmatch.media import source as media_source
from hashmatch.media.hashing import DETAIL_JPEG_QUALITY, SMALL_DETAIL_JPEG_QUALITY, SMALL_DETAIL_SIDE, encode_detail_picture, hash_media
from hashmatch.model import DetailPicture, MediaHashes
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.made_media import encode_video, image_bytes, letterboxed, panning, textured


def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


def test_reference_hashing_drops_near_duplicate_frames():
    still = [textured(1, 160, 120)] * 20 + [textured(2, 160, 120)] * 20
    hashes = hash_reference(encode_video(still, fps=10))
    assert hashes.frames_sampled == 40
    assert len(hashes.frames) == 2
    assert [round(f.timestamp, 1) for f in hashes.frames] == [0.0, 2.0]


def test_upload_frames_carry_mirror_and_rotation_variants():
    frame = hash_media(image_bytes(textured(3))).frames[0]
    assert len(frame.variants) == 7
    video_frame = hash_media(encode_video(panning(3, 10, 160, 120))).frames[0]
    assert len(video_frame.variants) == 8


def test_letterboxed_upload_also_carries_the_whole_picture_hash():
    frame = hash_media(image_bytes(letterboxed(textured(4), bar=0.2))).frames[0]
    assert len(frame.variants) == 8


def test_reference_frames_carry_no_variants_and_every_signal():
    frame = hash_media(image_bytes(textured(5)), role="reference").frames[0]
    assert frame.variants == () and set(frame.signals) == {"phash"}


def test_identity_digests_are_of_the_bytes():
    import hashlib

    data = image_bytes(textured(6))
    hashes = hash_media(data)
    assert hashes.md5 == hashlib.md5(data).hexdigest() and hashes.sha256 == hashlib.sha256(data).hexdigest()


def test_media_hashes_round_trip_through_json_form():
    hashes = hash_media(encode_video(panning(7, 20, 160, 120), fps=10))
    assert MediaHashes.from_dict(hashes.to_dict()).frames == tuple(
        type(f)(round(f.timestamp, 3), f.pdq, f.quality, f.variants, f.signals) for f in hashes.frames
    )


def test_mirrored_video_matches_its_reference():
    frames = panning(8, 50, 200, 150)
    reference = hash_reference(encode_video(frames))
    mirrored = hash_media(encode_video([np.ascontiguousarray(f[:, ::-1]) for f in frames]))
    assert compare(reference, mirrored).match


def test_letterboxed_video_matches_its_reference():
    frames = panning(9, 50, 256, 144)
    reference = hash_reference(encode_video(frames))
    boxed = hash_media(encode_video([letterboxed(f, bar=0.0, pillar=0.2) for f in frames]))
    assert compare(reference, boxed).match


def test_unrelated_video_does_not_match():
    reference = hash_media(encode_video(panning(10, 50, 200, 150)), role="reference")
    other = hash_media(encode_video(panning(11, 50, 200, 150)))
    verdict = compare(reference, other)
    assert not verdict.match and verdict.query_match_percent == 0.0


def test_picture_in_picture_video_matches_its_reference_by_pdq():
    y, x = np.mgrid[0:288, 0:512]
    background = np.repeat((((x + 2 * y) // 24) % 2 * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    frames = panning(12, 50, 200, 150)
    inset = []
    for f in frames:
        out = background.copy()
        out[60:210, 240:440] = f
        inset.append(out)
    reference = hash_media(encode_video(frames), role="reference")
    verdict = compare(reference, hash_media(encode_video(inset), keep_detail_pictures=False))
    assert verdict.match and verdict.stage == "pdq"


def test_hashing_on_worker_threads_gives_the_hashes_of_hashing_inline(monkeypatch):
    video = encode_video(panning(8, 60, 160, 120), fps=10)
    threaded = hash_reference(video)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    inline = hash_reference(video)
    assert threaded.frames == inline.frames
    assert [f.timestamp for f in threaded.features] == [f.timestamp for f in inline.features]
    assert all(np.array_equal(a.features.descriptors, b.features.descriptors) for a, b in zip(threaded.features, inline.features))
    assert all(frame.signals for frame in inline.frames)


def test_identity_digests_of_a_path_are_of_its_bytes_read_in_pieces(tmp_path, monkeypatch):
    data = encode_video(panning(6, 20, 160, 120), fps=10)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    monkeypatch.setattr(media_source, "MIB", 1000)  # many pieces, the last one short
    hashes = hash_media(path)
    assert hashes.md5 == hashlib.md5(data).hexdigest() and hashes.sha256 == hashlib.sha256(data).hexdigest()


def test_a_complete_hash_covers_the_whole_duration():
    hashes = hash_media(encode_video(panning(7, 30, 160, 120), fps=10), deadline=time.monotonic() + 600)
    assert not hashes.partial and hashes.covered_seconds == pytest.approx(hashes.duration)


def test_a_deadline_passed_mid_video_gives_a_partial_hash_up_to_its_last_frame(monkeypatch):
    data = encode_video(panning(8, 200, 128, 96), fps=10, gop=10)  # 20 s: 16 frames sampled
    ticks = itertools.count()
    monkeypatch.setattr(media_frames, "monotonic", lambda: next(ticks))  # time passes per look at the clock
    whole = hash_media(data, deadline=10**9)
    looks = next(ticks)
    ticks = itertools.count()
    part = hash_media(data, deadline=looks * 2 // 3)
    assert part.partial and 0 < part.frames_sampled < whole.frames_sampled
    assert part.covered_seconds == pytest.approx(max(f.timestamp for f in part.frames)) and part.covered_seconds < whole.duration


def test_a_deadline_passed_before_any_frame_is_oversized_recognised_media():
    with pytest.raises(MediaError) as error:
        hash_media(image_bytes(textured(9)), deadline=time.monotonic() - 1)
    assert (error.value.reason, error.value.recognised) == ("oversized", True) and "time budget" in str(error.value)


def test_a_partial_hash_keeps_its_coverage_through_json_form():
    hashes = replace(hash_media(image_bytes(textured(10))), partial=True, covered_seconds=12.5)
    again = MediaHashes.from_dict(hashes.to_dict())
    assert (again.partial, again.covered_seconds) == (True, 12.5)


def test_hashes_without_coverage_fields_read_as_complete():
    data = hash_media(image_bytes(textured(10))).to_dict()
    data.pop("partial", None), data.pop("covered_seconds", None)
    again = MediaHashes.from_dict(data)
    assert (again.partial, again.covered_seconds) == (False, None)


def test_a_small_detail_picture_travels_at_the_higher_jpeg_quality_and_a_large_one_at_the_usual():
    small = DetailPicture(0.0, np.asarray(textured(3, SMALL_DETAIL_SIDE, 300)[..., 0]))
    large = DetailPicture(0.0, np.asarray(textured(4, SMALL_DETAIL_SIDE + 1, 300)[..., 0]))

    assert encode_detail_picture(small).jpeg == encode_detail_picture(small, SMALL_DETAIL_JPEG_QUALITY).jpeg
    assert encode_detail_picture(large).jpeg == encode_detail_picture(large, DETAIL_JPEG_QUALITY).jpeg
    assert SMALL_DETAIL_JPEG_QUALITY > DETAIL_JPEG_QUALITY
