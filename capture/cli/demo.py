"""`make demo`: the built-in target on a free loopback port, a few seconds of mixed
load, the summary, and the first failures. Writes demo.db in the current directory."""

from __future__ import annotations

import sys

from capture.cli.main import main as cli_main
from capture.output.hints import program
from capture.target.server import FaultServer

DEMO_DB = "demo.db"


def main() -> int:
    """Runs the demo and returns the exit code of the run."""
    prog = program()
    with FaultServer("127.0.0.1", 0) as server:
        urls = [
            f"{server.url}/api/items?mix=500:4,503:3,429:1",
            f"{server.url}/api/orders?mix=502:2&close_after=50",
        ]
        print(f"capture demo: built-in target at {server.url}, writing {DEMO_DB}", flush=True)
        args = ["run", *urls, "-c", "8", "-d", "4s", "--qps", "250", "--db", DEMO_DB]
        args += ["--name", "demo", "--id-header", "X-Capture-Id"]
        code = cli_main(args)
    if code != 0:
        return code
    print(f"\nfirst failures ({prog} failures --db {DEMO_DB} --limit 5):", flush=True)
    code = cli_main(["failures", "--db", DEMO_DB, "--limit", "5"])
    print(f"\nmore: {prog} summary --db {DEMO_DB};  {prog} show ID --db {DEMO_DB}")
    return code


if __name__ == "__main__":
    sys.exit(main())
