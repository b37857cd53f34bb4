"""The upload hash log's record format: log messages from a checked upload, table rows and Parquet files from log messages."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest

from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.upload_log.records import (
    FRAMES_TABLE,
    MAX_FRAME_BYTES_PER_MESSAGE,
    UPLOADS_TABLE,
    LogMessageError,
    batch_id,
    hash_words,
    log_messages,
    log_rows,
    parquet_files,
    send_batches,
    words_hex,
)
from hashmatch.vocabulary import MediaKind, Role

UPLOAD = {"upload_id": "s3://uploads/a.mp4?versionId=v1", "bucket": "uploads", "key": "a.mp4", "version_id": "v1", "etag": "e", "size": 10, "uploaded_at": "2026-12-03T23:59:59Z"}


def pdq(seed: int) -> str:
    return f"{seed:02x}" * 32


def video(frames: int, variants: int = 0) -> MediaHashes:
    return MediaHashes(
        kind=MediaKind.VIDEO,
        format="mp4",
        duration=float(frames * 2),
        width=640,
        height=360,
        md5="1" * 32,
        sha256="2" * 64,
        role=Role.UPLOAD,
        frames=tuple(FrameHashes(timestamp=2.0 * i, pdq=pdq(i % 256), quality=90, variants=tuple(pdq((i + v + 1) % 256) for v in range(variants))) for i in range(frames)),
    )


def test_a_hash_becomes_four_signed_words_and_back():
    text = "ff" * 8 + "00" * 8 + "7f" + "ff" * 7 + "80" + "00" * 7

    words = hash_words(text)

    assert words == (-1, 0, 2**63 - 1, -(2**63))
    assert words_hex(words) == text


def test_a_hash_of_the_wrong_length_is_refused():
    with pytest.raises(LogMessageError):
        hash_words("ab" * 31)


def test_a_long_video_is_logged_in_parts_each_under_the_size_limit_with_every_frame_once():
    messages = log_messages(UPLOAD, video(1800, variants=7), "2026-12-04T00:00:01Z", "2026-12-04T00:00:02Z")

    assert len(messages) > 1
    assert all(sum(len(frame[3]) + 32 for frame in message["frames"]) <= MAX_FRAME_BYTES_PER_MESSAGE for message in messages)
    assert [frame[0] for message in messages for frame in message["frames"]] == list(range(1800))
    assert [message["part"] for message in messages] == list(range(len(messages)))


def test_rows_hold_one_upload_row_and_a_row_per_frame_hash_variants_included():
    messages = log_messages(UPLOAD, video(300, variants=2), "2026-12-04T00:00:01Z", "2026-12-04T00:00:02Z")

    rows = log_rows(messages)

    [uploads] = rows.uploads.values()
    [frames] = rows.frames.values()
    assert len(uploads) == 1 and uploads[0]["sha256"] == "2" * 64 and uploads[0]["frames_hashed"] == 300
    assert len(frames) == 900
    assert {row["variant"] for row in frames} == {0, 1, 2}
    assert words_hex([frames[4][f"h{w}"] for w in range(4)]) == video(2, variants=2).frames[1].variants[0]  # frame 1, variant 1


def test_rows_fall_on_the_day_the_upload_was_checked():
    rows = log_rows(log_messages(UPLOAD, video(2), "2026-12-03T23:59:59Z", "2026-12-04T00:00:02Z"))

    assert list(rows.uploads) == ["2026-12-04"] and list(rows.frames) == ["2026-12-04"]


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"message_type": "hashmatch.match"}, "not a hashmatch.upload-log"),
        ({"message_version": 2}, "not a hashmatch.upload-log"),
        ({"frames": [[0, 0.0, 90, "ab" * 33]]}, "whole number of PDQ hashes"),
        ({"frames": [[0, 0.0, 90, "zz" * 32]]}, "malformed"),
        ({"upload": {}}, "malformed"),
    ],
)
def test_a_message_this_module_did_not_write_is_refused_with_a_reason(change, reason):
    [message] = log_messages(UPLOAD, video(1), "t", "2026-12-04T00:00:02Z")

    with pytest.raises(LogMessageError, match=reason):
        log_rows([{**message, **change}])


def test_a_batch_becomes_one_parquet_file_per_table_and_day_with_every_row():
    rows = log_rows(log_messages(UPLOAD, video(5, variants=1), "t", "2026-12-04T00:00:02Z") + log_messages({**UPLOAD, "upload_id": "other"}, video(3), "t", "2026-12-05T00:00:00Z"))

    files = parquet_files(rows, "b1")

    assert sorted(files) == [
        f"{FRAMES_TABLE}/dt=2026-12-04/b1.parquet",
        f"{FRAMES_TABLE}/dt=2026-12-05/b1.parquet",
        f"{UPLOADS_TABLE}/dt=2026-12-04/b1.parquet",
        f"{UPLOADS_TABLE}/dt=2026-12-05/b1.parquet",
    ]
    assert pq.read_table(io.BytesIO(files[f"{FRAMES_TABLE}/dt=2026-12-04/b1.parquet"])).num_rows == 10
    assert pq.read_table(io.BytesIO(files[f"{UPLOADS_TABLE}/dt=2026-12-05/b1.parquet"])).to_pylist()[0]["upload_id"] == "other"


def test_a_batch_is_named_by_its_messages_so_a_retry_overwrites_its_own_files():
    assert batch_id(["m2", "m1"]) == batch_id(["m1", "m2"]) != batch_id(["m1", "m3"])


def test_log_messages_are_sent_in_batches_under_the_count_and_the_size_limits_in_order():
    bodies = ["a" * 100_000, "b" * 100_000, "c" * 100_000] + [str(i) for i in range(12)]

    batches = send_batches(bodies, count=10, size=240 * 1024)

    assert [body for batch in batches for body in batch] == bodies
    assert all(len(batch) <= 10 and sum(map(len, batch)) <= 240 * 1024 for batch in batches)
    assert len(batches) == 3
