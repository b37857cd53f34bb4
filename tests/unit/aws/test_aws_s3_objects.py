"""S3 object addressing: the request arguments for an object or one of its versions, and which errors mean "not there"."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.aws_fakes import client_error
from tests.aws_moto import s3_client, template_bucket
from hashmatch.aws.s3_objects import is_missing, object_address


def test_an_address_without_a_version_names_the_current_object():
    assert object_address("uploads", "a/b.jpg") == {"Bucket": "uploads", "Key": "a/b.jpg"}


def test_an_address_with_a_version_names_that_version():
    assert object_address("uploads", "a/b.jpg", "v1") == {"Bucket": "uploads", "Key": "a/b.jpg", "VersionId": "v1"}


def test_an_empty_version_id_addresses_the_current_object():
    assert "VersionId" not in object_address("uploads", "a/b.jpg", "")


def _error_of(call) -> ClientError:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value


@pytest.mark.parametrize(
    "make_fault",
    [
        pytest.param(lambda s3: s3.get_object(Bucket="uploads", Key="never-written"), id="NoSuchKey"),
        pytest.param(lambda s3: s3.get_object(Bucket="uploads", Key="k", VersionId="no-such-version"), id="NoSuchVersion"),
        pytest.param(lambda s3: s3.head_object(Bucket="uploads", Key="never-written"), id="404 from HEAD"),
    ],
)
def test_a_missing_object_or_version_counts_as_missing(aws, make_fault):
    s3 = s3_client()
    template_bucket(s3, "UploadsBucket", "uploads")
    s3.put_object(Bucket="uploads", Key="k", Body=b"x")

    assert is_missing(_error_of(lambda: make_fault(s3)))


@pytest.mark.parametrize("code, status", [("AccessDenied", 403), ("PreconditionFailed", 412), ("SlowDown", 503), ("NoSuchBucket", 404)])
def test_other_errors_do_not_count_as_missing(code, status):
    assert not is_missing(client_error(code, "GetObject", status))
