"""The unit tests of the aws/ adapters run against moto's in-process AWS (tests/aws_moto.py)."""

from __future__ import annotations

import pytest
from moto import mock_aws


@pytest.fixture
def aws():
    """moto's in-process AWS, empty at the start of each test."""
    with mock_aws():
        yield
