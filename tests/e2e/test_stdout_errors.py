"""A standard output that cannot be written (/dev/full, closed with `>&-`) is one line
on stderr and exit code 74, in a real child process; a run is still completed and
stored, and its message says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.conftest import query

pytestmark = pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")

_TIMEOUT_S = 60  # a bound on each child, never reached when things work


def _capture(args: list[str], *, stdout: str) -> subprocess.CompletedProcess[str]:
    """Runs `python -m capture ARGS` with stdout on /dev/full, or closed."""
    command = [sys.executable, "-m", "capture", *args]
    if stdout == "closed":
        # A shell closes descriptor 1 before exec, as `capture runs >&-` does.
        return subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *command],
            stderr=subprocess.PIPE, text=True, timeout=_TIMEOUT_S, check=False,
        )  # fmt: skip
    with open("/dev/full", "w") as full:
        return subprocess.run(
            command, stdout=full, stderr=subprocess.PIPE, text=True,
            timeout=_TIMEOUT_S, check=False,
        )  # fmt: skip


@pytest.fixture
def stored(server: FaultServer, db_path: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A finished run's file holding 3 failures."""
    done = cli("run", f"{server.url}/x?status=500", "-n", "3", "--db", db_path, "--quiet")
    assert done.exit_code == 0, done.stderr
    return db_path


@pytest.mark.parametrize(
    ("args", "stdout"),
    [
        (["runs"], "full"),
        (["summary"], "full"),
        (["show", "1"], "full"),
        (["failures", "--format", "json"], "full"),
        (["runs"], "closed"),
        (["failures"], "closed"),
    ],
)
def test_a_read_command_whose_stdout_fails_says_so_in_one_line(
    stored: Path, args: list[str], stdout: str
) -> None:
    """rc 74 and `capture: error: cannot write to standard output (...)`, nothing else."""
    done = _capture([*args, "--db", str(stored)], stdout=stdout)
    assert done.returncode == ExitCode.OUTPUT, done.stderr
    assert done.stderr.startswith("capture: error: cannot write to standard output (")
    assert done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize(
    ("flags", "stdout"), [([], "full"), (["--json"], "full"), (["--json"], "closed")]
)
def test_a_run_whose_summary_cannot_be_printed_is_still_stored(
    server: FaultServer, db_path: Path, flags: list[str], stdout: str
) -> None:
    """rc 74, one line naming the stored run, and the run row and its 4 failures are there."""
    url = f"{server.url}/x?status=500"
    done = _capture(["run", url, "-n", "4", "--db", str(db_path), *flags], stdout=stdout)
    assert done.returncode == ExitCode.OUTPUT, done.stderr
    assert done.stderr.startswith("capture: error: run 1 completed and is recorded in --db ")
    assert "only its summary was not printed" in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert query(db_path, "SELECT id, status, requests_total, failed_total FROM runs") == [
        (1, "completed", 4, 4)
    ]
    assert query(db_path, "SELECT count(*) FROM failures") == [(4,)]
