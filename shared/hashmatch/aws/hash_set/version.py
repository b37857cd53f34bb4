"""The hash set's version counter: bumped on every change, what a matcher without a snapshot checks before it scans the table again.

Apart from table.py so that writers without numpy (the exchange sync) bump it too.
"""

from __future__ import annotations

VERSION_KEY = {"reference_id": "#hash-set", "item": "version"}


def bump_version(table) -> None:
    """Add one to the version (a boto3 Table resource of the hash set)."""
    table.update_item(Key=VERSION_KEY, UpdateExpression="ADD version :one", ExpressionAttributeValues={":one": 1})
