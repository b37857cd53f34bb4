"""TMK+PDQF matching in tests: skipped, saying why, where tmkpy or ffmpeg is missing; failed instead under HASHMATCH_REQUIRE_TMK=1.

CI installs both (make system-packages, make tmk) and sets the variable, so that a broken tmkpy build
cannot pass as a skip.
"""

from __future__ import annotations

import os

import pytest

from hashmatch_tools import tmk

REQUIRED = os.environ.get("HASHMATCH_REQUIRE_TMK") == "1"


@pytest.fixture(scope="module", autouse=True)
def tmk_here():
    why = tmk.available()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"TMK matching cannot run here: {why}; HASHMATCH_REQUIRE_TMK=1 says it must", pytrace=False)
        pytest.skip(f"TMK matching cannot run here: {why}")
