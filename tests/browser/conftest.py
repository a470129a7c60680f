"""The browser fixture: one headless Chromium for the session (tests/browser/chrome.py),
skipped with one reason when chromium, chromium-driver or selenium is missing (failed
under .ci/run: tests/conftest.py missing_part)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chrome import load, missing, start_chrome
from tests.conftest import missing_part

__all__ = ["load"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium driven through the system chromedriver."""
    reason = missing()
    if reason:
        missing_part(f"no browser for the HTML report tests: {reason}")
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()
