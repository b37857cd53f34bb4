"""DynamoDB helpers: number conversion (the resource API wants Decimal in and gives Decimal out) and paged reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Iterator


def to_item(value):
    """Floats to Decimal (through their short repr, so 0.1 stays 0.1), recursively; None values dropped."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {key: to_item(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [to_item(item) for item in value]
    return value


def from_item(value):
    """Decimal back to int or float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: from_item(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_item(item) for item in value]
    return value


def items(table, operation: str, **request) -> Iterator[dict]:
    """Every item of a Scan or Query on a boto3 Table resource, page after page (boto3's paginator).

    The resource's own client takes and gives plain values (and condition builders), as the Table does.
    """
    for page in table.meta.client.get_paginator(operation).paginate(TableName=table.name, **request):
        yield from page.get("Items", [])
