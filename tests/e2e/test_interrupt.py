"""SIGINT/SIGTERM during a run, in a real child process: graceful stop, then abort."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from capture.target.server import FaultServer
from tests.conftest import query


def _start(url: str, db: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capture",
            "run",
            url,
            "-c",
            "4",
            "-d",
            "60s",
            "--db",
            str(db),
            "--id-header",
            "X-Capture-Id",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _wait_for_traffic(server: FaultServer, count: int) -> None:
    deadline = time.monotonic() + 20
    while len(server.entries()) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(server.entries()) >= count


def _connections_to(port: int) -> int:
    """Counts established client connections to a loopback port, from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
            count += 1
    return count


def test_sigint_stops_gracefully(server: FaultServer, db_path: Path) -> None:
    proc = _start(f"{server.url}/?mix=500:20&delay=0.02", db_path)
    _wait_for_traffic(server, 50)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in out
    wal = db_path.with_name(db_path.name + "-wal")  # before any query: closing one folds it
    assert not wal.exists() or wal.stat().st_size == 0  # folded back into the .db
    assert query(db_path, "pragma integrity_check") == [("ok",)]
    (status, total, failed, stored, aborted) = query(
        db_path,
        "select status, requests_total, failed_total, failures_stored, aborted_total from runs",
    )[0]
    assert status == "interrupted" and aborted == 0
    # every request the server answered is stored, and nothing else
    ledger = {e.request_id for e in server.entries()}
    rows = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert rows == ledger and total == len(ledger)
    assert stored == failed == len([e for e in server.entries() if e.status == 500])


def test_second_sigint_abandons_in_flight(server: FaultServer, db_path: Path) -> None:
    proc = _start(f"{server.url}/?delay=5", db_path, "--grace", "30s")
    # Four connections up means the workers run, so the signal handlers are in place (a
    # fixed sleep raced them on a loaded machine: SIGINT during set-up killed the run).
    deadline = time.monotonic() + 30
    while _connections_to(server.port) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _connections_to(server.port) == 4
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert query(db_path, "pragma integrity_check") == [("ok",)]
    # it did not wait for the 5 s responses: they are counted as abandoned, not stored
    assert query(db_path, "select status, requests_total, aborted_total from runs") == [
        ("interrupted", 0, 4)
    ]
    assert "4 abandoned in flight" in out


def test_sigterm_is_an_interrupt(server: FaultServer, db_path: Path) -> None:
    proc = _start(f"{server.url}/", db_path, "--quiet")
    _wait_for_traffic(server, 20)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert query(db_path, "select status from runs") == [("interrupted",)]
    (total,) = query(db_path, "select count(*) from requests")[0]
    assert total == len(server.entries())
