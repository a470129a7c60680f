"""After a double Ctrl-C, the figures the summary prints are those `capture runs` shows."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from capture.target.server import FaultServer
from tests.conftest import query


def test_double_sigint_summary_agrees_with_capture_runs(server: FaultServer, db_path: Path) -> None:
    # Fast requests and 5 s ones in turn on 4 connections: some are answered and stored,
    # then every connection waits on a slow one when the two signals come.
    fast, slow = f"{server.url}/?mix=500:50", f"{server.url}/slow?delay=5"
    argv = [sys.executable, "-m", "capture", "run", fast, slow, "-c", "4", "-d", "60s"]
    argv += ["--grace", "30s", "--db", str(db_path), "--id-header", "X-Capture-Id"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    # Targets take turns by seq: 1, 3, 5, 7 are answered at once, 2, 4, 6, 8 hold the
    # four connections for 5 s. Four answered means the workers run (signal handlers in
    # place); the slow four are then read by the server and in flight.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(server.entries()) < 4:
        time.sleep(0.05)
    assert len(server.entries()) == 4
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err

    line = next(x for x in out.splitlines() if x.startswith("  requests  "))
    found = re.fullmatch(
        r"  requests  (\d+) recorded, (\d+) ok, (\d+) failed \(.*\), (\d+) failures stored;"
        r" (\d+) abandoned in flight \(sent, outcome unknown, no row\)",
        line,
    )
    assert found, line
    sent, ok, failed, stored, abandoned = map(int, found.groups())
    runs = subprocess.run(
        [sys.executable, "-m", "capture", "runs", "--db", str(db_path), "--format", "json"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert runs.returncode == 0, runs.stderr
    (run,) = json.loads(runs.stdout)
    assert (run["requests"], run["failures"], run["status"]) == (sent, failed, "interrupted")
    assert run["aborted"] == abandoned  # the abandoned have no row: only the run keeps them
    table = subprocess.run(
        [sys.executable, "-m", "capture", "runs", "--db", str(db_path)],
        capture_output=True, text=True, env={**env, "COLUMNS": "200"}, timeout=30,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split()[-2:] == ["abandoned", "status"]
    assert row.split()[-2:] == [str(abandoned), "interrupted"]
    summary = subprocess.run(
        [sys.executable, "-m", "capture", "summary", "--db", str(db_path)],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert summary.returncode == 0, summary.stderr
    assert re.fullmatch(
        rf"  requests {sent}, failed {failed} \(.*\); {abandoned} abandoned in flight"
        r" \(sent, outcome unknown, no row\)",
        summary.stdout.splitlines()[1],
    ), summary.stdout
    report = subprocess.run(
        [sys.executable, "-m", "capture", "summary", "--db", str(db_path), "--format", "json"],
        capture_output=True, text=True, env=env, timeout=30,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["aborted"] == abandoned
    ((total, failed_total, stored_total, aborted),) = query(
        db_path, "select requests_total, failed_total, failures_stored, aborted_total from runs"
    )
    assert (total, failed_total, stored_total, aborted) == (sent, failed, stored, abandoned)
    assert abandoned > 0 and sent == ok + failed  # the run was cut with requests in flight
    answered = [e for e in server.entries() if e.path.startswith("/?")]
    assert sent == len(answered) and failed == sum(e.status == 500 for e in answered)
