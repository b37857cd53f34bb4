"""The whole chain over real HTTP: upload -> hasher -> matcher -> SNS -> takedown, on a local stack of its own."""

from tests.aws_fixtures import *  # noqa: F401,F403
