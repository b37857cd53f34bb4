"""The deployment's sampling secret (template.yaml: SamplingSecret), read from Secrets Manager once when the hasher starts."""

from __future__ import annotations

from functools import cache
from typing import Callable

# A secret shorter than this is refused: the instants it keys must not be guessable.
MIN_SECRET_BYTES = 16


def read_sampling_secret(secretsmanager, secret_arn: str) -> bytes:
    """The secret's value as bytes; RuntimeError when it is missing or too short (the function must not start without it)."""
    value = secretsmanager.get_secret_value(SecretId=secret_arn).get("SecretString") or ""
    secret = value.encode("utf-8")
    if len(secret) < MIN_SECRET_BYTES:
        raise RuntimeError(f"the sampling secret {secret_arn} holds {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed")
    return secret


def sampling_secret_reader(secretsmanager, secret_arn: str) -> Callable[[], bytes]:
    """The secret, read at its first use and kept for the container's life (the handler module is imported before any call)."""
    return cache(lambda: read_sampling_secret(secretsmanager, secret_arn))
