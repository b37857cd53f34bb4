"""The sampling secret: read from Secrets Manager at its first use, kept for the container's life, refused when too short to key the instants."""

from __future__ import annotations

import boto3
import pytest

from hashmatch.aws.sampling_secret import MIN_SECRET_BYTES, read_sampling_secret, sampling_secret_reader


@pytest.fixture
def secretsmanager(aws):
    return boto3.client("secretsmanager", region_name="us-east-1")


def secret(secretsmanager, value: str) -> str:
    return secretsmanager.create_secret(Name="sampling", SecretString=value)["ARN"]


def test_the_secret_is_its_string_as_bytes(secretsmanager):
    value = secretsmanager.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]

    assert read_sampling_secret(secretsmanager, secret(secretsmanager, value)) == value.encode()


def test_a_secret_too_short_to_key_the_instants_is_refused(secretsmanager):
    arn = secret(secretsmanager, "x" * (MIN_SECRET_BYTES - 1))

    with pytest.raises(RuntimeError, match="at least"):
        read_sampling_secret(secretsmanager, arn)


def test_the_reader_reads_nothing_until_first_used_and_then_once(secretsmanager):
    arn = secret(secretsmanager, "a" * MIN_SECRET_BYTES)
    read = sampling_secret_reader(secretsmanager, arn)
    secretsmanager.put_secret_value(SecretId=arn, SecretString="b" * MIN_SECRET_BYTES)  # changed before the first use: that value is read

    first = read()
    secretsmanager.put_secret_value(SecretId=arn, SecretString="c" * MIN_SECRET_BYTES)  # changed after: the kept value stays

    assert (first, read()) == (b"b" * MIN_SECRET_BYTES, b"b" * MIN_SECRET_BYTES)
