"""Shared fixtures: the team corpus (skipped with a reason when absent) and media the tests make."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

# Property tests decode and hash real media, a second or two an example: `make test` runs a few, always the same
# ones (derandomize), and stops at the first failure without shrinking. The evaluation's profile runs many
# (pytest --hypothesis-profile=evaluation; `make evaluate` runs its own, hashmatch_tools.evaluation.adversarial).
settings.register_profile(
    "fast", max_examples=6, derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
settings.register_profile(
    "evaluation", max_examples=200, derandomize=True, database=None, deadline=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
settings.load_profile("fast")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "SOURCES.md").is_file():
        pytest.skip(f"team corpus not found at {CORPUS} (it sits beside the checkout as ../shared/corpus)")
    return CORPUS
