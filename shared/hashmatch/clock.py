"""The one clock: what time it is (UTC, ISO 8601 with milliseconds, as every record and message stores it).

Use cases take a clock as a collaborator, so that a test can fix the time; everything else
calls `now()`.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone


def iso(moment: datetime) -> str:
    """A time as records and messages store it: ISO 8601, UTC, milliseconds."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


class Clock:
    """Wall time for records and messages, monotonic time for deadlines."""

    def utc(self) -> datetime:
        return datetime.now(timezone.utc)

    def now(self) -> str:
        return iso(self.utc())

    def after(self, days: float) -> str:
        """The time `days` from now, as stored."""
        return iso(self.utc() + timedelta(days=days))

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = Clock()


def now() -> str:
    """The time now, as records and messages store it."""
    return SYSTEM_CLOCK.now()
