"""A run left 'running' reads as crashed only when its process is gone on THIS host."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from capture.target.server import FaultServer


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid


@pytest.mark.parametrize(
    ("hostname", "expected"),
    [(None, "crashed"), ("another-host.example", "running")],
    ids=["this-host", "another-host"],
)
def test_a_running_run_is_judged_by_its_pid_only_on_its_own_host(
    cli, server: FaultServer, db_path: Path, hostname: str | None, expected: str
) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", f"{server.url}/", "-n", "3", "--db", db_path, "--quiet").exit_code == 0
    conn = sqlite3.connect(db_path)
    with conn:  # as a run still sending (or killed) would have left its row
        conn.execute(
            "UPDATE runs SET status = 'running', finished_at = NULL, pid = ?, hostname = ?",
            (_dead_pid(), hostname or socket.gethostname()),
        )
    conn.close()
    listed = cli("runs", "--db", db_path, "--format", "json")
    assert [r["status"] for r in json.loads(listed.stdout)] == [expected]
    summary = cli("summary", "--db", db_path, "--format", "json")
    assert json.loads(summary.stdout)["run"]["status"] == expected
