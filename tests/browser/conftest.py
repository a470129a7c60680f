"""The browser fixture: one headless Chromium for the session (tests/browser/chrome.py),
skipped with one reason when chromium, chromium-driver or selenium is missing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.chrome import load, missing, start_chrome

__all__ = ["load"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium driven through the system chromedriver."""
    reason = missing()
    if reason:
        pytest.skip(f"no browser for the HTML report tests: {reason}")
    driver = start_chrome()
    try:
        yield driver
    finally:
        driver.quit()
