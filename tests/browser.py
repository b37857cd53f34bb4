"""A real browser for tests: headless Chromium from the system's packages (Debian's chromium), driven by Playwright.

Playwright is used with that browser (executable_path), never with one it downloads. One browser for the
session, a fresh context (cookies, storage) for each test. Where no Chromium can be found the tests that
need it skip, saying so; with HASHMATCH_REQUIRE_BROWSER=1 (CI) they fail instead, so that a missing
system package cannot pass as green.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("HASHMATCH_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("HASHMATCH_REQUIRE_BROWSER") == "1"
# Even headless, Chromium looks up Google's hosts when it starts: every name but the loopback's fails at once instead.
NO_NAME_LOOKUPS = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
VIEWPORT = {"width": 1280, "height": 860}

__all__ = ["browser", "new_page"]


@pytest.fixture(scope="session")
def browser():
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"no Chromium at {CHROMIUM}: `make system-packages` installs Debian's (requirements/apt.txt), or set HASHMATCH_CHROMIUM"
        if REQUIRED:
            pytest.fail(f"{reason}; HASHMATCH_REQUIRE_BROWSER=1 says the browser tests must run here", pytrace=False)
        pytest.skip(reason)
    # Not skipped when missing: requirements/dev.txt pins it, so its absence is a broken environment.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[NO_NAME_LOOKUPS])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser):
    """A page in a fresh browser context (its own cookies: a reviewer's own session); a JavaScript error fails the test."""
    contexts, errors = [], []

    def make():
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
