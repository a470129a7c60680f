"""--procs: several processes share one run in one database, with exact accounting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from capture.target.server import FaultServer
from tests.conftest import query


def test_two_processes_share_one_run(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run",
        f"{server.url}/p?mix=500:10",
        "-n",
        "1000",
        "-c",
        "3",
        "--procs",
        "2",
        "--id-header",
        "X-Capture-Id",
        "--db",
        db_path,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    assert query(
        db_path,
        "select count(*), count(distinct seq), min(seq), max(seq), sum(failed) from requests",
    ) == [(1000, 1000, 1, 1000, 100)]
    assert query(
        db_path,
        "select status, requests_total, failed_total, failures_stored, sockets_used from runs",
    ) == [("completed", 1000, 100, 100, 6)]
    ledger = {e.request_id for e in server.wait_for_entries(1000)}
    stored = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert stored == ledger and len(ledger) == 1000
    # each process used its own pool: three sessions, each on one socket, per process
    assert query(
        db_path, "select count(distinct local_addr) from requests group by (seq - 1) % 2"
    ) == [(3,), (3,)]


def test_every_process_sends_every_target(cli, server: FaultServer, db_path: Path) -> None:
    # Two processes, two URLs: by seq alone process 0 would send only /a, process 1 only
    # /b, and a process's trouble would read as a URL's. Each goes round both instead.
    a, b = f"{server.url}/a", f"{server.url}/b"
    result = cli(
        "run", a, b, "-n", "40", "-c", "2", "--procs", "2", "--db", db_path, "--quiet"
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert query(
        db_path,
        "select process, url, count(*) from requests group by process, url order by 1, 2",
    ) == [(0, a, 10), (0, b, 10), (1, a, 10), (1, b, 10)]


def test_processes_pace_together(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run",
        f"{server.url}/",
        "--qps",
        "200",
        "-d",
        "2s",
        "-c",
        "2",
        "--procs",
        "2",
        "--db",
        db_path,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    (count,) = query(db_path, "select count(*) from requests")[0]
    assert 396 <= count <= 404  # 400 intended sends, +-1 %
    assert query(db_path, "select count(*) from requests where lag_ms is null") == [(0,)]


def test_failure_limit_and_hooks_across_processes(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run",
        f"{server.url}/?status=503",
        "-n",
        "100000",
        "-c",
        "1",
        "--procs",
        "2",
        "--stop-after-failures",
        "6",
        "--db",
        db_path,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    total, failed = query(db_path, "select count(*), sum(failed) from requests")[0]
    # in-flight requests of the other process still finish, and are stored
    assert total == failed and 6 <= failed <= 8
    assert query(db_path, "select failed_total, failures_stored from runs") == [(failed, failed)]


def test_sigint_reaches_every_process(server: FaultServer, db_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capture",
            "run",
            f"{server.url}/?delay=0.01",
            "-c",
            "2",
            "--procs",
            "2",
            "-d",
            "60s",
            "--db",
            str(db_path),
            "--id-header",
            "X-Capture-Id",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while len(server.entries()) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert query(db_path, "pragma integrity_check") == [("ok",)]
    ledger = {e.request_id for e in server.entries()}
    stored = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert stored == ledger
    assert query(db_path, "select status, requests_total, aborted_total from runs") == [
        ("interrupted", len(ledger), 0)
    ]


def test_pinning_is_restored_after_an_api_run(server: FaultServer, db_path: Path) -> None:
    import capture

    before = os.sched_getaffinity(0)
    config = capture.RunConfig(
        targets=(capture.Target.build("GET", f"{server.url}/"),), requests=20, connections=2
    )
    summary = capture.run(config, db=str(db_path))
    assert summary.sent == 20 and os.sched_getaffinity(0) == before


def test_the_live_display_counts_every_process(server: FaultServer, db_path: Path) -> None:
    """on_tick (the live panel's feed) sees the sessions of all processes, not just the
    parent's: 2 processes x 2 sessions, each request held 0.3 s by the target."""
    import capture
    from capture.results import Progress

    ticks: list[Progress] = []
    config = capture.RunConfig(
        targets=(capture.Target.build("GET", f"{server.url}/?delay=0.3"),),
        requests=32,
        connections=2,
        procs=2,
    )
    summary = capture.run(config, db=str(db_path), on_tick=ticks.append)
    assert summary.sent == 32 and summary.failed == 0
    assert ticks and {t.connections for t in ticks} == {4}
    # 32 requests of 0.3 s on 4 sessions: ~2.4 s with every session busy nearly always
    assert max(t.busy_sessions for t in ticks) == 4
    assert all(0 <= t.busy_sessions <= 4 for t in ticks)
