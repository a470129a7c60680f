"""The commands capture prints to paste carry no password, and run as pasted with the
password in PGPASSWORD (libpq's own variable)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from capture.target.server import FaultServer
from tests.pg.server import PASSWORD, USER


def _capture(*args: str, password: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    if password:
        env["PGPASSWORD"] = PASSWORD
    return subprocess.run(
        [sys.executable, "-m", "capture", *args],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip


def _hint(text: str, command: str) -> list[str]:
    """Returns the arguments of the first printed hint 'capture COMMAND ...'."""
    line = next(line for line in text.splitlines() if f" {command} --db " in line)
    words = shlex.split(line.split(f"{command} --db ", 1)[1])
    return [command, "--db", *words]


def test_printed_hints_have_no_password_and_run_as_pasted(pg_url: str, server: FaultServer) -> None:
    ran = _capture("run", f"{server.url}/?status=503&body=x", "-n", "4", "--db", pg_url)
    assert ran.returncode == 0, ran.stderr
    assert PASSWORD not in ran.stdout + ran.stderr and "***" not in ran.stdout
    failures = _hint(ran.stdout, "failures")
    assert failures[2].startswith(f"postgresql://{USER}@127.0.0.1:")
    without = _capture(*failures)  # no PGPASSWORD: say where the password goes
    assert without.returncode == 5
    assert without.stderr.strip().endswith(
        "no password supplied (give it in PGPASSWORD, ~/.pgpass or the URL)"
    ), without.stderr
    listed = _capture(*failures, "--format", "jsonl", password=True)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 4
    summary = _capture("summary", "--db", pg_url)
    assert summary.returncode == 0, summary.stderr
    show = _hint(summary.stdout, "show")
    assert PASSWORD not in summary.stdout and "***" not in summary.stdout
    shown = _capture(*show, password=True)
    assert shown.returncode == 0, shown.stderr
    assert "503" in shown.stdout
