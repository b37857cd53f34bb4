"""Shared fixtures: the team corpus (skipped with a reason when absent) and media the tests make."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "SOURCES.md").is_file():
        pytest.skip(f"team corpus not found at {CORPUS} (it sits beside the checkout as ../shared/corpus)")
    return CORPUS
