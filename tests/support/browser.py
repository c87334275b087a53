"""One headless Chromium for browser tests: Debian's /usr/bin/chromium driven by Playwright (never
``playwright install``). Without Playwright or Chromium the test is skipped with the reason, except where
browser tests must run: with ``CI=1`` or ``TRACKAI_REQUIRE_BROWSER=1`` it fails instead.

Tests use the module-scoped fixture ``browser`` (tests/conftest.py); other code ``with launch_chromium()``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_VARIABLES = ("CI", "TRACKAI_REQUIRE_BROWSER")


def browser_required() -> bool:
    return any(os.environ.get(name, "").strip() == "1" for name in REQUIRE_VARIABLES)


def unavailable(reason: str) -> None:
    """Skip (a developer's machine without a browser) or fail (CI / TRACKAI_REQUIRE_BROWSER=1)."""
    if browser_required():
        pytest.fail(
            f"{reason}; browser tests must run here (CI=1 or TRACKAI_REQUIRE_BROWSER=1)", pytrace=False
        )
    pytest.skip(reason)


@contextlib.contextmanager
def launch_chromium(executable: Path | None = None) -> Iterator:
    """A headless Chromium ``Browser``, closed on exit."""
    executable = executable or CHROMIUM
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (make install)")
    if not executable.exists():
        unavailable(f"Debian's chromium is not installed at {executable} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield browser
        finally:
            browser.close()
