"""What a failed HTTP request of an exchange client means for the sync: wait and retry, or stop here and resume later."""

from __future__ import annotations

import email.utils
import time

import requests

from hashmatch.exchanges.model import ExchangeError, ExchangeRateLimited, ExchangeUnavailable


def retry_after(response: requests.Response | None) -> float | None:
    """The seconds a Retry-After header asks for (a number, or an HTTP date); None without one."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    moment = email.utils.parsedate_to_datetime(value)
    return max(0.0, moment.timestamp() - time.time()) if moment is not None else None


def exchange_error(error: Exception, what: str) -> ExchangeError:
    """An exception of requests (or of pytx's client around it) as the sync's fault: rate limited, or unavailable."""
    response = getattr(error, "response", None)
    status = response.status_code if response is not None else None
    if status == 429 or (isinstance(error, requests.exceptions.RetryError) and "429" in str(error)):
        return ExchangeRateLimited(f"{what}: rate limited (HTTP 429)", retry_after(response))
    if status is not None:
        return ExchangeUnavailable(f"{what}: HTTP {status}")
    return ExchangeUnavailable(f"{what}: {type(error).__name__}: {str(error)[:200]}")
