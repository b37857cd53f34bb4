"""The upload hash log over the local stack: the matcher sends every checked upload to the log queue, and
LogUploadHashesFunction (fed events/log_upload_hashes.json) writes Parquet files to the log bucket."""

from __future__ import annotations

import copy
import io
import json

import pyarrow.parquet as pq
import pytest

from hashmatch.upload_log.records import LOG_MESSAGE_TYPE

FUNCTION = "LogUploadHashesFunction"


@pytest.fixture
def log_bucket(stack):
    return stack.ref("UploadHashLogBucket")


@pytest.fixture
def log_queue(stack, drain):
    url = stack.ref("UploadHashLogQueue")
    drain(url)  # what earlier tests' uploads left
    return url


def parquet_objects(s3, bucket: str) -> dict[str, list[dict]]:
    found = {}
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        if item["Key"].endswith(".parquet"):
            found[item["Key"]] = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())).to_pylist()
    return found


def test_the_sample_log_event_becomes_an_uploads_file_and_a_frames_file_of_its_day(runner, s3, log_bucket, load_event):
    event = load_event("log_upload_hashes")
    message = json.loads(event["Records"][0]["body"])

    result = runner.invoke(FUNCTION, event)

    assert result == {"batchItemFailures": []}
    written = {key: rows for key, rows in parquet_objects(s3, log_bucket).items() if any(row["upload_id"] == message["upload"]["upload_id"] for row in rows)}
    [uploads_key] = [key for key in written if key.startswith("uploads/dt=2026-12-01/")]
    [frames_key] = [key for key in written if key.startswith("upload_frames/dt=2026-12-01/")]
    assert written[uploads_key][0]["key"] == "incoming/photo 01.jpg"
    assert len(written[frames_key]) == sum(len(frame[3]) // 64 for frame in message["frames"])


def test_a_malformed_log_message_fails_alone_and_the_others_are_written(runner, s3, log_bucket, load_event):
    event = load_event("log_upload_hashes")
    good = event["Records"][0]
    bad = copy.deepcopy(good)
    bad["messageId"] = "not-a-log-message"
    bad["body"] = json.dumps({"message_type": "something else"})

    result = runner.invoke(FUNCTION, {"Records": [bad, good]})

    assert result == {"batchItemFailures": [{"itemIdentifier": "not-a-log-message"}]}


def test_a_retried_batch_overwrites_its_own_files_instead_of_adding_copies(runner, s3, log_bucket, load_event):
    event = load_event("log_upload_hashes")
    runner.invoke(FUNCTION, event)
    before = sorted(parquet_objects(s3, log_bucket))

    runner.invoke(FUNCTION, event)

    assert sorted(parquet_objects(s3, log_bucket)) == before


def test_the_matcher_logs_every_checked_upload_matched_or_not(runner, sqs, drain, log_queue, load_event):
    event = load_event("match_hashes")
    upload_id = json.loads(event["Records"][0]["body"])["upload"]["upload_id"]

    runner.invoke("MatchHashesFunction", event)

    [message] = [m for m in drain(log_queue) if m["upload"]["upload_id"] == upload_id]
    assert message["message_type"] == LOG_MESSAGE_TYPE
    assert message["frames"] and all(len(frame[3]) % 64 == 0 for frame in message["frames"])


def test_a_hash_only_request_is_not_logged(runner, drain, log_queue, load_event):
    event = load_event("match_hashes")
    body = json.loads(event["Records"][0]["body"])
    body["upload"] = {"upload_id": "partner-request-17"}
    body.pop("details", None)
    event["Records"][0]["body"] = json.dumps(body)

    runner.invoke("MatchHashesFunction", event)

    assert [m for m in drain(log_queue) if m["upload"]["upload_id"] == "partner-request-17"] == []


def test_the_local_engines_copy_of_the_log_holds_exactly_the_buckets_files_of_the_window(runner, s3, log_bucket, load_event, tmp_path):
    from hashmatch.aws.upload_log_bucket import download_log

    runner.invoke(FUNCTION, load_event("log_upload_hashes"))
    stale = tmp_path / "uploads" / "dt=2026-12-01" / "from-another-stack.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")

    download_log(s3, log_bucket, "2026-12-01", str(tmp_path))

    copied = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.parquet"))
    in_bucket = sorted(key for key in parquet_objects(s3, log_bucket) if key.split("/")[1] >= "dt=2026-12-01")
    assert copied == in_bucket and not stale.exists()


def test_a_long_videos_log_reaches_the_queue_in_parts_that_hold_every_frame(runner, drain, log_queue, load_event):
    event = load_event("match_hashes")
    body = json.loads(event["Records"][0]["body"])
    frame = body["hashes"]["frames"][0]
    body["hashes"]["frames"] = [{**frame, "timestamp": 2.0 * i} for i in range(1800)]
    body["hashes"]["kind"], body["hashes"]["duration"] = "video", 3600.0
    body["upload"] = {**body["upload"], "upload_id": body["upload"]["upload_id"] + "-hour-long", "key": "hour long.mp4"}
    body.pop("details", None)
    event["Records"][0]["body"] = json.dumps(body)

    runner.invoke("MatchHashesFunction", event)

    parts = [m for m in drain(log_queue) if m["upload"]["key"] == "hour long.mp4"]
    assert len(parts) > 1 and sorted(m["part"] for m in parts) == list(range(len(parts)))
    assert sorted(frame[0] for m in parts for frame in m["frames"]) == list(range(1800))
