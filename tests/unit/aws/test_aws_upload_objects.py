"""The upload named by an S3 notification, and the reader that fetches exactly the version notified."""

from __future__ import annotations

import hashlib

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes import S3Event, SQSEvent
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.aws_fakes import FakeS3, real_client
from hashmatch.aws.upload_objects import digest_upload, read_upload, upload_of_s3_record
from hashmatch.uploads import Upload, UploadGone
from hashmatch.errors import MediaError
from hashmatch.vocabulary import RejectReason

EVENTS = Path(__file__).resolve().parents[3] / "events"
BUCKET = "uploads"
LIMIT = 1000


def s3_record(key: str, *, version_id: str | None = None, etag: str = "69b0834fac1477a4397a0be6b6e55c1a", size: int = 5):
    obj = {"key": key, "size": size, "eTag": etag, "sequencer": "0055AED6DCD90281E5", **({"versionId": version_id} if version_id else {})}
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2025-11-25T10:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads", "bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"}, "object": obj},
    }
    return next(S3Event({"Records": [record]}).records)


@pytest.fixture
def s3() -> FakeS3:
    fake = FakeS3()
    fake.add_bucket(BUCKET, versioned=True)
    return fake


def uploaded(s3: FakeS3, key: str, body: bytes) -> Upload:
    """The upload as its notification names it: the version written, its ETag and size."""
    answer = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return Upload.from_object(BUCKET, key, answer["VersionId"], etag=answer["ETag"].strip('"'), size=len(body))


# From a notification


def test_the_sample_event_names_its_object_with_the_key_decoded():
    event = json.loads((EVENTS / "hash_upload.json").read_text())
    record = next(next(SQSEvent(event).records).decoded_nested_s3_event.records)

    upload = upload_of_s3_record(record)

    assert (upload.bucket, upload.key) == ("hashmatch-uploads-123456789012-eu-west-1", "incoming/photo 01.jpg")
    assert (upload.etag, upload.size, upload.uploaded_at) == ("69b0834fac1477a4397a0be6b6e55c1a", 307263, "2025-11-25T10:00:00.000Z")


def test_a_url_encoded_key_is_decoded_plus_as_space_and_escapes_as_utf8():
    upload = upload_of_s3_record(s3_record("clips/caf%C3%A9+%2B1%25.mp4"))

    assert upload.key == "clips/café +1%.mp4"


def test_a_notified_version_is_part_of_the_upload_id():
    upload = upload_of_s3_record(s3_record("a.jpg", version_id="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"))

    assert upload.version_id == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert upload.upload_id == f"s3://{BUCKET}/a.jpg?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


def test_without_a_notified_version_the_upload_id_is_the_object_url():
    upload = upload_of_s3_record(s3_record("a.jpg"))

    assert (upload.version_id, upload.upload_id) == (None, f"s3://{BUCKET}/a.jpg")


def test_an_upload_survives_its_dict_form():
    upload = Upload.from_object(BUCKET, "a b.jpg", "v1", etag="e", size=3, uploaded_at="t")

    assert Upload.from_dict(json.loads(json.dumps(upload.to_dict()))) == upload


# Reading


def test_reading_returns_the_bytes_of_the_notified_version_even_after_an_overwrite(s3):
    first = uploaded(s3, "a.jpg", b"first")
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"second")

    data, read = read_upload(s3, first, LIMIT)

    assert data == b"first"
    assert read.version_id == first.version_id


def test_reading_without_a_notified_version_pins_the_upload_to_the_version_read(s3):
    written = uploaded(s3, "a.jpg", b"bytes")
    notified = Upload.from_object(BUCKET, "a.jpg", etag=written.etag, size=5)

    _, read = read_upload(s3, notified, LIMIT)

    assert read.version_id == written.version_id
    assert read.upload_id == f"s3://{BUCKET}/a.jpg?versionId={written.version_id}"
    assert read.size == 5


def test_reading_without_a_notified_version_is_conditional_on_the_notified_etag(s3):
    written = uploaded(s3, "a.jpg", b"bytes")

    read_upload(s3, Upload.from_object(BUCKET, "a.jpg", etag=written.etag), LIMIT)

    assert s3.requests[-1] == ("GetObject", {"Bucket": BUCKET, "Key": "a.jpg", "IfMatch": written.etag})


def test_an_object_replaced_since_its_unversioned_notification_is_gone(s3):
    written = uploaded(s3, "a.jpg", b"notified")
    s3.put_object(Bucket=BUCKET, Key="a.jpg", Body=b"replaced")

    with pytest.raises(UploadGone):
        read_upload(s3, Upload.from_object(BUCKET, "a.jpg", etag=written.etag), LIMIT)


def test_a_deleted_object_is_gone(s3):
    written = uploaded(s3, "a.jpg", b"bytes")
    s3.delete_object(Bucket=BUCKET, Key="a.jpg")

    with pytest.raises(UploadGone):
        read_upload(s3, Upload.from_object(BUCKET, "a.jpg", etag=written.etag), LIMIT)


def test_a_notified_version_deleted_for_good_is_gone(s3):
    written = uploaded(s3, "a.jpg", b"bytes")
    s3.delete_object(**written.address)

    with pytest.raises(UploadGone):
        read_upload(s3, written, LIMIT)


def test_an_upload_notified_over_the_limit_is_refused_after_reading_its_first_bytes_only(s3):
    upload = uploaded(s3, "big.mp4", b"x" * (LIMIT + 1))

    with pytest.raises(MediaError) as raised:
        read_upload(s3, upload, LIMIT)

    assert raised.value.reason == RejectReason.OVERSIZED
    assert [params.get("Range") for name, params in s3.requests if name == "GetObject"] == ["bytes=0-511"]


def test_an_oversized_upload_that_starts_like_media_is_recognised_as_media(s3):
    upload = uploaded(s3, "big.jpg", b"\xff\xd8\xff\xe0" + b"x" * LIMIT)

    with pytest.raises(MediaError) as raised:
        read_upload(s3, upload, LIMIT)

    assert raised.value.recognised is True


def test_an_oversized_upload_that_does_not_start_like_media_is_not_recognised(s3):
    upload = uploaded(s3, "big.bin", b"x" * (LIMIT + 1))

    with pytest.raises(MediaError) as raised:
        read_upload(s3, upload, LIMIT)

    assert raised.value.recognised is False


def test_an_upload_over_the_spill_size_is_read_into_a_file(s3, tmp_path):
    data = bytes(range(256)) * 3
    upload = uploaded(s3, "clip.mp4", data)

    path, read = read_upload(s3, upload, LIMIT, spill_bytes=512, directory=str(tmp_path))

    assert path.read_bytes() == data and path.parent == tmp_path
    assert read.size == len(data)


def test_the_digest_of_an_upload_is_its_sha256_read_in_pieces(s3):
    data = b"y" * 5000
    upload = uploaded(s3, "clip.mp4", data)

    sha256, read = digest_upload(s3, upload)

    assert sha256 == hashlib.sha256(data).hexdigest()
    assert (read.version_id, read.size) == (upload.version_id, len(data))


def test_an_upload_over_the_limit_by_its_stored_length_is_refused(s3):
    written = uploaded(s3, "big.mp4", b"x" * (LIMIT + 1))
    unsized = Upload.from_object(BUCKET, "big.mp4", written.version_id)

    with pytest.raises(MediaError) as raised:
        read_upload(s3, unsized, LIMIT)

    assert raised.value.reason == RejectReason.OVERSIZED


def test_an_upload_of_exactly_the_limit_is_read(s3):
    upload = uploaded(s3, "edge.jpg", b"x" * LIMIT)

    data, _ = read_upload(s3, upload, LIMIT)

    assert len(data) == LIMIT


def test_a_throttled_read_propagates_for_the_queue_to_retry():
    s3 = real_client("s3")
    upload = Upload.from_object(BUCKET, "a.jpg", "v1", size=5)
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code="SlowDown", http_status_code=503)

        with pytest.raises(ClientError) as raised:
            read_upload(s3, upload, LIMIT)

    assert raised.value.response["Error"]["Code"] == "SlowDown"


def test_access_denied_is_not_mistaken_for_a_gone_upload():
    s3 = real_client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)

        with pytest.raises(ClientError):
            read_upload(s3, Upload.from_object(BUCKET, "a.jpg", "v1"), LIMIT)
