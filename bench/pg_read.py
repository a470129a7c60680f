"""The read commands on a PostgreSQL --db at scale: 1,000,000 requests and 200,000
failures in a local server, and the time `capture failures --status 5xx` (first page)
and `capture summary` take, process start included (median of several runs).

    .venv/bin/python bench/pg_read.py [--rows 1000000] [--repeat 3] [--section FILE]

The rows are bigdb.py's (the same synthetic run), built into a SQLite file through
capture's migrations, then copied into PostgreSQL with COPY, ids kept
(tests/pg/copy.py); the server is the tests' own (tests/pg/server.py), started in a
temporary directory and stopped at the end. Goals: 0.3 s and 2 s, as on SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.pg: the server and the row copier
from bigdb import FAIL_EVERY, build, timed  # noqa: E402
from section import write_section  # noqa: E402

from tests.pg.copy import copy_file  # noqa: E402
from tests.pg.server import PgServer, find_bindir  # noqa: E402

GOALS = {"failures --status 5xx": 0.3, "summary": 2.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    opts = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL is not installed (tests/system-packages.sh)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        server = PgServer(bindir, Path(tempfile.mkdtemp(prefix="capture-pgbench-")))
        server.start()
        try:
            url = server.create_database("big")
            start = time.perf_counter()
            build(Path(tmp) / "big.db", opts.rows)
            copy_file(Path(tmp) / "big.db", url)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
            print(f"built in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            results = {}
            for name in GOALS:
                # The same command on the SQLite file, at the same moment: how loaded the
                # machine is, since the goals were set on a quiet one.
                for db in (url, str(Path(tmp) / "big.db")):
                    label = name if db == url else f"{name} (SQLite file)"
                    times = timed([*name.split(), "--db", db], opts.repeat)
                    results[label] = (statistics.median(times), min(times), max(times))
                    print(f"{label:<40} median {results[label][0]:.3f} s  (n={opts.repeat})")
        finally:
            server.stop()
    if opts.section:
        write_section(opts.section, "pg_read", _markdown(opts.rows, opts.repeat, results))
    return 0


def _markdown(rows: int, repeat: int, results: dict[str, tuple[float, float, float]]) -> str:
    lines = [
        "## Reading a big PostgreSQL database",
        "",
        f"bigdb.py's {rows:,} requests and {rows // FAIL_EVERY:,} failures, copied with COPY",
        "into a local PostgreSQL server (tests/pg/server.py; fsync off, default settings",
        "otherwise), by `.venv/bin/python bench/pg_read.py --section bench/RESULTS.md`; each",
        f"command run {repeat} times in a fresh process (start-up included), `--db postgresql://…`.",
        "The tables are in the state autovacuum leaves after a bulk load: `VACUUM ANALYZE`",
        "ran once after the COPY (statistics gathered, visibility map set). Each command also",
        "ran on the SQLite file holding the same rows, at the same moment, as a yardstick of",
        "the machine's load (bigdb.py's quiet-machine figures are in its own section).",
        "",
        "| command | goal s | median s | min s | max s |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, (median, low, high) in results.items():
        goal = f"{GOALS[name]:g}" if name in GOALS else ""
        lines.append(f"| `capture {name}` | {goal} | {median:.3f} | {low:.3f} | {high:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
