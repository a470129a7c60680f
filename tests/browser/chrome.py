"""Headless Chromium from the Debian packages (chromium, chromium-driver) for the browser
tests and the screenshot script. Always the system chromedriver: selenium-manager would
go to the network to find one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
READY_TIMEOUT_S = 20.0
WINDOW = (1400, 1000)


def missing() -> str | None:
    """Returns why no browser can start here, or None when one can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} not found (Debian package {package}; tests/system-packages.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (pip install -e '.[dev]')"
    return None


def start_chrome(width: int = WINDOW[0], height: int = WINDOW[1]) -> Any:
    """Starts headless Chromium through the system chromedriver and returns the driver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="capture-chrome-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(width, height)
    return driver


def load(driver: Any, path: Path, timeout_s: float = READY_TIMEOUT_S) -> list[dict[str, Any]]:
    """Opens a file, waits for body[data-ready="1"] and returns the SEVERE console entries."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")  # drop what an earlier page logged
    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, timeout_s).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, 'body[data-ready="1"]'))
    )
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
