"""The unit tier never reaches a server: whatever a session-wide local stack of another tier exported
(AWS_ENDPOINT_URL and its keys, while that tier's stack is still up) is taken out of each unit test's environment,
so boto3 inside moto's in-process mock (`mock_aws`) talks to the mock and not to that stack."""

from __future__ import annotations

import os

import pytest


# Module scope, and autouse (which pytest runs first within its scope): before any module-scoped fixture makes a client.
@pytest.fixture(scope="module", autouse=True)
def no_local_stack():
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_PROFILE", raising=False)
        yield
