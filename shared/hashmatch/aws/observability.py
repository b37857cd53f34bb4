"""Powertools' Metrics behind the use cases' Metrics protocol (hashmatch.usecases.ports)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit


class PowertoolsMetrics:
    """Counts and seconds into the function's EMF metrics; a count with a dimension is also written on its own (single_metric)."""

    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def count(self, name: str, value: float = 1, *, dimension: tuple[str, str] | None = None) -> None:
        if dimension is None:
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            return
        # A dimension of its own needs a metric object of its own.
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as by:
            by.add_dimension(name=dimension[0], value=dimension[1])

    def seconds(self, name: str, value: float) -> None:
        self.metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=value)
