"""Run one client process with a hard time limit and read its CPU time and peak RSS."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class Finished:
    """What a finished client process left: exit code, output, CPU and memory."""

    returncode: int
    stdout: str
    stderr: str
    cpu_s: float  # user + system, the process and every child it waited for
    maxrss_mib: float  # peak RSS of the largest single process in the tree
    wall_s: float
    timed_out: bool


def run_measured(
    cmd: list[str], *, limit_s: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Finished:
    """Receives a command and a time limit. Returns its output and resource use.

    The child is reaped with os.wait4, whose rusage covers the child and every
    descendant it waited for (locust's forked workers, for example): the same figures
    as a getrusage(RUSAGE_CHILDREN) delta, but for this child alone.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        status, usage, timed_out = _reap(proc, limit_s)
        wall_s = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return Finished(
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out.read(),
            stderr=err.read(),
            cpu_s=usage.ru_utime + usage.ru_stime,
            maxrss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
            wall_s=wall_s,
            timed_out=timed_out,
        )


def _reap(proc: subprocess.Popen[bytes], limit_s: float) -> tuple[int, os.struct_rusage, bool]:
    deadline = time.monotonic() + limit_s
    timed_out = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
            return status, usage, timed_out
        if time.monotonic() > deadline:
            # SIGTERM first so locust's master can stop its workers; SIGKILL if that hangs.
            sig = signal.SIGKILL if timed_out else signal.SIGTERM
            proc.send_signal(sig)
            timed_out = True
            deadline = time.monotonic() + 5.0
        time.sleep(POLL_S)


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, limit_s: float = 10.0) -> bool:
    """Returns True once something accepts connections on 127.0.0.1:port, False at the limit."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, *, limit_s: float = 10.0) -> None:
    """Ask a server process to stop with sig; kill it if it is still there after limit_s."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=limit_s)
