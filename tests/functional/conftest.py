"""Handler tests: the events/ files fed to each handler, against a local stack of their own (moto over HTTP)."""

from tests.aws_fixtures import *  # noqa: F401,F403
