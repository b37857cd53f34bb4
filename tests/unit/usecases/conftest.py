"""Fixtures the use-case tests share: the audit trail on moto's in-process DynamoDB, its table as template.yaml makes AuditTable."""

import pytest
from moto import mock_aws

from hashmatch.aws.audit_table import AuditTable
from tests.aws_moto import template_table


@pytest.fixture(scope="module")
def dynamodb():
    with mock_aws():
        yield


@pytest.fixture
def audit(dynamodb, request):
    """An empty audit table of the test's own."""
    name = f"audit-{request.node.name[:150]}".replace("[", "-").replace("]", "")
    return AuditTable(template_table("AuditTable", name))
