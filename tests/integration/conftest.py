"""The whole chain over real HTTP: upload -> hasher -> matcher -> SNS -> takedown, on a local stack of its own."""

from aws_fixtures import *  # noqa: F401,F403  (tests/ is on sys.path: tests/conftest.py puts it there)
