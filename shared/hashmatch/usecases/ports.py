"""What the use cases need of the world, as protocols: the adapters in hashmatch.aws (and the tests' own) provide them.

Only the collaborators every use case shares are here (log, metrics); each use case names the others
it needs beside its own code.
"""

from __future__ import annotations

from typing import Protocol


class Log(Protocol):
    """Structured log lines: a message and its fields (Powertools' Logger is one)."""

    def info(self, message: str, **fields) -> None: ...

    def warning(self, message: str, **fields) -> None: ...

    def error(self, message: str, **fields) -> None: ...


class Metrics(Protocol):
    """Counts and durations (hashmatch.aws.observability.PowertoolsMetrics in Lambda)."""

    def count(self, name: str, value: float = 1, *, dimension: tuple[str, str] | None = None) -> None:
        """Add to a count; with a dimension (name, value), the same count again under it."""

    def seconds(self, name: str, value: float) -> None: ...


class NoMetrics:
    """Metrics that go nowhere: for callers outside Lambda (the CLI, an operator's run)."""

    def count(self, name: str, value: float = 1, *, dimension: tuple[str, str] | None = None) -> None:
        return None

    def seconds(self, name: str, value: float) -> None:
        return None
