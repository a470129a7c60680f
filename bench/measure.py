"""Run one client process with a hard time limit and read its CPU time and peak RSS."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.25  # machine busier than this (no load running) counts as not quiet
QUIET_WAIT_S = 20.0


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
    other_cores: float  # CPU used meanwhile by anything but the client, servers and bench


def run_measured(
    cmd: list[str],
    *,
    limit_s: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    server_pids: tuple[int, ...] = (),
) -> Finished:
    """Receives a command and a time limit. Returns its output and resource use.

    The child is reaped with os.wait4, whose rusage covers the child and every
    descendant it waited for (locust's forked workers, for example): the same figures
    as a getrusage(RUSAGE_CHILDREN) delta, but for this child alone. Other load on the
    machine is what /proc/stat counts as busy minus the client, the servers and the bench.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        before = (busy_cpu_s(), _servers_cpu_s(server_pids), _self_cpu_s())
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        status, usage, timed_out = _reap(proc, limit_s)
        wall_s = time.perf_counter() - start
        cpu_s = usage.ru_utime + usage.ru_stime
        busy = busy_cpu_s() - before[0]
        servers = _servers_cpu_s(server_pids) - before[1]
        other = max(0.0, busy - cpu_s - servers - (_self_cpu_s() - before[2]))
        out.seek(0)
        err.seek(0)
        return Finished(
            returncode=os.waitstatus_to_exitcode(status),
            stdout=out.read(),
            stderr=err.read(),
            cpu_s=cpu_s,
            maxrss_mib=usage.ru_maxrss / 1024,  # Linux reports KiB
            wall_s=wall_s,
            timed_out=timed_out,
            other_cores=other / wall_s,
        )


def _reap(
    proc: subprocess.Popen[bytes], limit_s: float
) -> tuple[int, resource.struct_rusage, bool]:
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


def busy_cpu_s() -> float:
    """Returns the CPU seconds all cores spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def tree_cpu_s(pid: int) -> float:
    """Returns user + system CPU seconds of a live process and its live descendants."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (ppid, cpu_s)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        rest = text[text.rfind(")") + 2 :].split()
        stats[int(entry.name)] = (int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK_TCK)
    tree: set[int] = {pid}
    grew = True
    while grew:  # a few passes: descendants of descendants
        more = {child for child, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(stats[member][1] for member in tree if member in stats)


def _servers_cpu_s(pids: tuple[int, ...]) -> float:
    return sum(tree_cpu_s(pid) for pid in pids)


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(*, limit_s: float = QUIET_WAIT_S, sample_s: float = 0.5) -> tuple[float, float]:
    """Wait until the machine is nearly idle, at most limit_s. Returns (waited s, busy cores)."""
    start = time.monotonic()
    while True:
        before = busy_cpu_s()
        time.sleep(sample_s)
        cores = (busy_cpu_s() - before) / sample_s
        waited = time.monotonic() - start
        if cores < QUIET_CORES or waited >= limit_s:
            return waited, cores


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


def stop(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, *, limit_s: float = 10.0
) -> None:
    """Ask a server process to stop with sig; kill it if it is still there after limit_s."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=limit_s)
