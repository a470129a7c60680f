"""`make screenshot`: docs/report.png from a real report. A few seconds of mixed load at
the built-in target (statuses, and keep-alive closes after 50 requests a connection),
`capture report -o` through the real CLI, and the page's top in headless Chromium.

    .venv/bin/python tests/browser/screenshot.py docs/report.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: find tests/

from capture.cli.main import main as cli_main
from capture.target.server import FaultServer
from tests.browser.chrome import load, missing, start_chrome

WIDTH, HEIGHT = 1400, 1800


def _report(workdir: Path) -> Path:
    """Runs the mixed load into a new database and writes its HTML report."""
    db, page = workdir / "screenshot.db", workdir / "report.html"
    with FaultServer("127.0.0.1", 0) as server:
        urls = [
            f"{server.url}/api/items?mix=500:4,503:3,429:1&delay=0.002",
            f"{server.url}/api/orders?mix=502:2&idle_close=0.026",  # the keep-alive race
            f"{server.url}/api/users/7?delay=0.004",
        ]
        args = ["run", *urls, "-c", "8", "-d", "6s", "--qps", "300", "--db", str(db)]
        code = cli_main([*args, "--name", "screenshot", "--quiet"])
    if code != 0:
        raise SystemExit(f"screenshot: the run exited {code}")
    if cli_main(["report", "--db", str(db), "-o", str(page)]) != 0:
        raise SystemExit("screenshot: capture report failed")
    return page


def main(argv: list[str]) -> int:
    """Writes the PNG named by argv[0] and returns the exit code."""
    if len(argv) != 1:
        print("usage: screenshot.py OUT.png", file=sys.stderr)
        return 2
    reason = missing()
    if reason:
        print(f"screenshot: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="capture-shot-") as tmp:
        page = _report(Path(tmp))
        driver = start_chrome(WIDTH, HEIGHT)
        try:
            errors = load(driver, page)
            if errors:
                print(f"screenshot: the page logged errors: {errors}", file=sys.stderr)
                return 1
            driver.save_screenshot(argv[0])
        finally:
            driver.quit()
    print(f"screenshot: wrote {argv[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
