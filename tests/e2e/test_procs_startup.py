"""Signals and kills while a --procs run is starting, and a child killed while sending.

The start-up window is made deterministic with a gate: the run is started from a small
launcher script, and multiprocessing's spawn re-imports that script in the child (as
__mp_main__) before any of capture's code runs there, which is where the child spends
its start-up importing capture. The launcher's child waits there until the test opens
the gate, so the test signals a child (or the parent) that is provably still starting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.e2e.test_process_tree import (
    _assert_interrupted_exactly,
    _seq,
    _share_child,
    _stat,
    _wait_for_both_shares,
    _wait_until_gone,
)
from tests.e2e.test_process_tree import _start as _start_sending

from ..conftest import query

_WAIT_S = 60.0  # bounded waits for events: spawning is slow on a loaded machine

_LAUNCHER = '''\
"""Runs capture's CLI; its spawned --procs child waits at a gate while importing."""
import os
import sys
import time

if __name__ == "__mp_main__":  # the child, re-importing its parent's main script
    gate = os.environ["CAPTURE_TEST_GATE"]
    open(f"{gate}.starting.{os.getpid()}", "w").close()
    deadline = time.monotonic() + 60  # bounded: it goes on by itself if nobody opens it
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
elif __name__ == "__main__":
    from capture.cli.main import entry_point

    sys.argv[0] = "capture"
    entry_point()
'''


class _Gated:
    """A paced two-process run whose child is held at the gate while it starts."""

    def __init__(self, server: FaultServer, db: Path, tmp: Path) -> None:
        launcher = tmp / "launch_capture.py"
        launcher.write_text(_LAUNCHER)
        self.gate = tmp / "gate"
        argv = [sys.executable, str(launcher), "run", f"{server.url}/", "-c", "2"]
        argv += ["--procs", "2", "--qps", "100", "-d", "20s", "--db", str(db)]
        argv += ["--id-header", "X-Capture-Id", "--quiet"]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CAPTURE_TEST_GATE": str(self.gate)},
            start_new_session=True,  # its own process group: a signal reaches whom we pick
        )

    def starting_child(self) -> int:
        """Waits until the child is held at the gate; returns its pid."""
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            found = list(self.gate.parent.glob(f"{self.gate.name}.starting.*"))
            if found:
                return int(found[0].name.rsplit(".", 1)[1])
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.02)
        raise AssertionError("the child never reached the gate")

    def open(self) -> tuple[int, str]:
        """Opens the gate; returns the run's exit code and stderr."""
        self.gate.touch()
        _, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, err


def _pending(pid: int) -> set[int]:
    """Returns the signals pending for a process (none if it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return set()
    mask = 0
    for line in status.splitlines():
        if line.startswith(("SigPnd:", "ShdPnd:")):
            mask |= int(line.split()[1], 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def _gone(pid: int) -> bool:
    st = _stat(str(pid))
    return st is None or st[0] == "Z"


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), what  # type: ignore[operator]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_a_starting_child_interrupts_the_run(
    server: FaultServer, db_path: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    run = _Gated(server, db_path, tmp_path)
    child = run.starting_child()
    os.kill(child, sig)
    # it arrived while the child was starting: it waits, pending, for the child's handlers
    # (the code before the fix died of it here)
    _wait(lambda: sig in _pending(child) or _gone(child), "the signal never arrived")
    code, err = run.open()
    assert code == ExitCode.INTERRUPTED, err
    _wait_until_gone(run.proc.pid)
    assert server.entries() == []  # stopped before the common start: nobody sent
    _assert_interrupted_exactly(server, db_path)
    assert query(db_path, "select ok_total + failed_total from runs") == [(0,)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_parent_while_its_child_starts_interrupts_the_run(
    server: FaultServer, db_path: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    run = _Gated(server, db_path, tmp_path)
    run.starting_child()
    os.kill(run.proc.pid, sig)
    _wait(lambda: sig not in _pending(run.proc.pid), "the parent never took the signal")
    code, err = run.open()
    assert code == ExitCode.INTERRUPTED, err
    _wait_until_gone(run.proc.pid)
    assert server.entries() == []  # a stop given before the start sends nothing
    _assert_interrupted_exactly(server, db_path)


def test_a_child_killed_while_starting_is_a_lost_process(
    server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    run = _Gated(server, db_path, tmp_path)
    child = run.starting_child()
    os.kill(child, signal.SIGKILL)
    _wait(lambda: _gone(child), "the child survived SIGKILL")
    code, err = run.open()
    assert code == ExitCode.PROCESS_LOST, err
    assert err.splitlines() == [
        "capture: error: run 1 failed: process 1 was lost (killed by SIGKILL); it had stored"
        " 0 requests (0 failed), and what it had not stored is gone; the other processes"
        " stopped and stored theirs"
    ]
    _wait_until_gone(run.proc.pid)
    assert server.entries() == []
    assert query(db_path, "select status, requests_total, ok_total, failed_total from runs") == [
        ("failed", 0, 0, 0)
    ]


def test_a_child_killed_while_sending_is_a_lost_process(server: FaultServer, db_path: Path) -> None:
    proc = _start_sending(server, db_path)
    _wait_for_both_shares(server)
    os.kill(_share_child(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.PROCESS_LOST, err
    _wait_until_gone(proc.pid)
    seqs = [
        int(str(cid).rsplit("-", 1)[1])
        for (cid,) in query(db_path, "select correlation_id from requests")
    ]
    child_rows = sum(1 for s in seqs if s % 2 == 0)  # process 1 sends the even seqs
    assert err.splitlines() == [
        f"capture: error: run 1 failed: process 1 was lost (killed by SIGKILL); it had stored"
        f" {child_rows} requests (0 failed), and what it had not stored is gone; the other"
        " processes stopped and stored theirs"
    ]
    assert query(db_path, "select status, requests_total from runs") == [("failed", len(seqs))]
    # the parent (odd seqs) stopped gracefully and stored its share whole
    parent_share = {e.request_id for e in server.entries() if _seq(e) % 2 == 1}
    stored = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert {cid for cid in stored if int(str(cid).rsplit("-", 1)[1]) % 2 == 1} == parent_share
