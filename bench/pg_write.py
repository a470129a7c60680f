"""PostgreSQL against SQLite as capture's store: the writer's rows/s, and capture's req/s
against nginx at 100 % failures (1 KiB bodies), both stores in the same run.

The PostgreSQL server is a local one of this bench's own, with PostgreSQL's default
durability (fsync, synchronous_commit and full_page_writes on), not the test server's
fsync=off shortcuts. SQLite is capture's own setting (WAL, synchronous = NORMAL).

Example: .venv/bin/python bench/pg_write.py --section bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/pg/server.py: the same PgServer the tests start

from nginx import Nginx  # noqa: E402
from section import write_section  # noqa: E402

from capture.config import Target  # noqa: E402
from capture.redact import Redactor  # noqa: E402
from capture.store import database as store  # noqa: E402
from capture.store.record import FailureDetail, Identity, Record  # noqa: E402
from capture.store.stats import Stats  # noqa: E402
from capture.store.writer import Writer  # noqa: E402
from tests.pg.server import PgServer, find_bindir  # noqa: E402

BODY = b"f" * 1024
GOAL = 0.10  # PostgreSQL's req/s within 10 % of SQLite's


def durable_server(root: Path) -> PgServer:
    """Starts a server, then restarts it with PostgreSQL's default durability settings."""
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (Debian package postgresql)")
    srv = PgServer(bindir, root)
    srv.start()  # initdb and the test settings; restarted below without them
    pg_ctl = str(srv.bindir / "pg_ctl")
    subprocess.run(
        srv._as_owner(pg_ctl, "-D", str(srv.data), "-m", "fast", "-w", "stop"),
        check=True,
        capture_output=True,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={srv.port} -c unix_socket_directories={srv.sockets}"
    )
    log = str(srv.root / "server.log")
    subprocess.run(
        srv._as_owner(pg_ctl, "-D", str(srv.data), "-l", log, "-o", options, "-w", "start"),
        check=True,
        capture_output=True,
    )
    shown = srv.psql(
        "SELECT string_agg(name || '=' || setting, ' ') FROM pg_settings WHERE name IN "
        "('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level')"
    )
    print(f"PostgreSQL settings: {shown.strip()}", file=sys.stderr)
    return srv


def _records(count: int) -> list[Record]:
    """Failed records as a 500 from nginx leaves them: 1 KiB body, a few headers."""
    out = []
    for seq in range(1, count + 1):
        rec = Record(seq, seq % 10, seq % 10, 0)
        rec.latency_s = rec.ttfb_s = 0.0012
        rec.status, rec.failed, rec.bytes_in = 500, True, 1024
        rec.connection_no, rec.connection_request_no = 1, seq
        rec.local_addr, rec.remote_addr = "127.0.0.1:40000", "127.0.0.1:8080"
        d = FailureDetail()
        d.reason, d.http_version = "Internal Server Error", "HTTP/1.1"
        d.request_headers = [("User-Agent", "capture"), ("Accept", "*/*")]
        d.response_headers = [("Server", "nginx"), ("Content-Type", "text/plain")]
        d.body, d.body_size, d.content_type = BODY, len(BODY), "text/plain"
        rec.detail = d
        out.append(rec)
    return out


def writer_rows_per_s(db: str, count: int) -> float:
    """Puts count failed records through a Writer into db; returns rows/s."""
    engine = store.open_for_write(db)
    run_id = store.create_run(engine, name="bench", command_line="", config_json="{}", qps=None)
    records = _records(count)
    writer = Writer(
        engine,
        run_id,
        wall_start=time.time(),
        targets=(Target.build("GET", "http://127.0.0.1:8080/fail"),),
        redactor=Redactor(),
        stats=Stats(),
        identity=Identity.of((0, 1), 10),
    )
    writer.start()
    start = time.perf_counter()
    for rec in records:
        writer.put(rec)
    assert writer.close(timeout=600)
    elapsed = time.perf_counter() - start
    engine.dispose()
    assert writer.error is None and writer.tally.stored_failures == count, writer.error
    return count / elapsed


def capture_req_per_s(db: str, url: str, duration: str, procs: int = 1) -> float:
    """Runs `capture run URL -d DURATION --db DB --json` (with --procs, -c 8 in each
    process: 16 connections as one process has); returns its achieved req/s."""
    extra = ["-c", str(16 // procs)] + ([] if procs == 1 else ["--procs", str(procs)])
    done = subprocess.run(
        [sys.executable, "-m", "capture", "run", url, "-d", duration, "--db", db, "--json", *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"capture run failed ({done.returncode}): {done.stderr}")
    summary = json.loads(done.stdout)
    assert summary["failed"] == summary["stored"] == summary["sent"], summary
    return float(summary["rate"])


def _rounds(rounds: int, cases: dict[str, Callable[[int], float]]) -> dict[str, list[float]]:
    """Runs every case once per round, alternating the order; returns each one's figures."""
    got: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(rounds):
        order = list(cases) if i % 2 == 0 else list(reversed(cases))
        for name in order:
            got[name].append(cases[name](i))
            print(f"round {i + 1} {name}: {got[name][-1]:,.0f}", file=sys.stderr)
    return got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="records per writer round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", default="5s", help="each capture run's -d")
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capture-pgw-") as tmp:
        srv = durable_server(Path(tempfile.mkdtemp(prefix="capture-pgw-pg-")))
        try:
            n = iter(range(1_000_000))

            def pg_db(_: int) -> str:
                return srv.create_database(f"b{next(n)}")

            def sqlite_db(_: int) -> str:
                return str(Path(tmp) / f"b{next(n)}.db")

            writer = _rounds(
                opts.rounds,
                {
                    "SQLite": lambda i: writer_rows_per_s(sqlite_db(i), opts.rows),
                    "PostgreSQL": lambda i: writer_rows_per_s(pg_db(i), opts.rows),
                },
            )
            with Nginx(binary="/usr/sbin/nginx") as ngx:
                url = ngx.url("/fail")
                run = _rounds(
                    opts.rounds,
                    {
                        "SQLite": lambda i: capture_req_per_s(sqlite_db(i), url, opts.duration),
                        "PostgreSQL": lambda i: capture_req_per_s(pg_db(i), url, opts.duration),
                    },
                )
                # Two processes, each with its own writer: SQLite's one write lock is
                # shared by both; PostgreSQL takes a COPY from each at once.
                procs = _rounds(
                    opts.rounds,
                    {
                        "SQLite": lambda i: capture_req_per_s(sqlite_db(i), url, opts.duration, 2),
                        "PostgreSQL": lambda i: capture_req_per_s(pg_db(i), url, opts.duration, 2),
                    },
                )
        finally:
            srv.stop()
    text = _markdown(opts, writer, run, procs)
    print(text)
    if opts.section:
        write_section(opts.section, "pg_write", text)
    return 0


def _markdown(
    opts: argparse.Namespace,
    writer: dict[str, list[float]],
    run: dict[str, list[float]],
    procs: dict[str, list[float]],
) -> str:
    med = {k: statistics.median(v) for k, v in writer.items()}
    rmed = {k: statistics.median(v) for k, v in run.items()}
    ratio = rmed["PostgreSQL"] / rmed["SQLite"]
    verdict = "within" if ratio >= 1 - GOAL else "NOT within"
    lines = [
        "## PostgreSQL as the store (issue 12)",
        "",
        "`.venv/bin/python bench/pg_write.py --section bench/RESULTS.md`: a local PostgreSQL",
        "of the bench's own with the default durability (fsync, synchronous_commit and",
        "full_page_writes on) against SQLite (WAL, synchronous = NORMAL), 100 % failures",
        f"with 1 KiB bodies, medians of {opts.rounds} rounds, the two stores alternating.",
        "",
        f"Writer alone ({opts.rows:,} records per round through store.writer.Writer):",
        "",
        "| store | median rows/s | rounds |",
        "|---|--:|---|",
    ]
    for name, values in writer.items():
        lines.append(f"| {name} | {med[name]:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |")
    lines += [
        "",
        f"`capture run http://127.0.0.1:PORT/fail -d {opts.duration} -c 16` against nginx",
        "(500, 1 KiB):",
        "",
        "| store | median req/s | rounds |",
        "|---|--:|---|",
    ]
    for name, values in run.items():
        lines.append(f"| {name} | {rmed[name]:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} |")
    pmed = {k: statistics.median(v) for k, v in procs.items()}
    lines += [
        "",
        f"PostgreSQL reaches {ratio:.0%} of SQLite's req/s: {verdict} the 10 % goal.",
        "",
        f"`capture run URL -d {opts.duration} --procs 2 -c 8`: two processes, a writer each;",
        "SQLite's writers take turns at the file's one write lock, PostgreSQL's COPY at once:",
        "",
        "| store | median req/s | rounds | vs one process |",
        "|---|--:|---|--:|",
    ]
    for name, values in procs.items():
        rounds = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(f"| {name} | {pmed[name]:,.0f} | {rounds} | {pmed[name] / rmed[name]:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
