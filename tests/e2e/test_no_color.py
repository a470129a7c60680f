"""NO_COLOR and a stdout that is no terminal: not one escape sequence, from the real CLI."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from capture.target.server import FaultServer

READS = [["failures"], ["sockets"], ["runs"], ["summary"], ["show", "2"]]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    """Runs argv with stdout and stderr on a new pseudo-terminal; returns code and bytes."""
    leader, follower = os.openpty()
    proc = subprocess.Popen(argv, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    out = bytearray()
    try:
        while True:  # read as it comes: a full terminal buffer would block the child
            ready, _, _ = select.select([leader], [], [], 30)
            assert ready, "no output and no exit in 30 s"
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed its end
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
    return proc.wait(timeout=30), bytes(out)


@pytest.fixture
def captured(server: FaultServer, tmp_path: Path) -> Path:
    """A real run with failures, through the CLI on a terminal with NO_COLOR=1."""
    db = tmp_path / "capture.db"
    argv = [sys.executable, "-m", "capture", "run", f"{server.url}/?mix=500:50", "-n", "20"]
    argv += ["-c", "2", "--qps", "20", "--db", str(db), "--id-header", "X-Capture-Id"]
    code, out = _on_a_terminal(argv, _env(NO_COLOR="1"))
    assert code == 0, out
    assert b"\x1b" not in out, out  # the live display and the summary included
    return db


@pytest.mark.parametrize("args", READS, ids=lambda a: a[0])
def test_no_color_on_a_terminal_means_no_escape(captured: Path, args: list[str]) -> None:
    argv = [sys.executable, "-m", "capture", *args, "--db", str(captured)]
    code, out = _on_a_terminal(argv, _env(NO_COLOR="1"))
    assert code == 0, out
    assert out.strip() and b"\x1b" not in out, out


@pytest.mark.parametrize("args", READS, ids=lambda a: a[0])
@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1", "FORCE_COLOR": "1"}], ids=["plain", "both"])
def test_no_escape_when_stdout_is_no_terminal(
    captured: Path, args: list[str], env: dict[str, str]
) -> None:
    argv = [sys.executable, "-m", "capture", *args, "--db", str(captured)]
    done = subprocess.run(argv, capture_output=True, env=_env(**env), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), done.stderr
    assert b"\x1b" not in done.stdout and b"\x1b" not in done.stderr, (done.stdout, done.stderr)
