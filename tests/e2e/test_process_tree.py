"""Signals that reach one process of a --procs run: the parent alone, or one child alone.

Each test starts `capture run --procs 2` in its own session (so its process group is
the run's), signals one process by its pid, and checks the target's ledger, /proc and
the database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from capture.target.server import FaultServer, LedgerEntry
from tests.conftest import query

# "stops sending within about a second": scheduling slack on a loaded 2-core machine
_QUIET_AFTER_S = 1.5
_GONE_WAIT_S = 30.0


def _start(server: FaultServer, db: Path, path: str = "/") -> subprocess.Popen[str]:
    """Starts a paced two-process run that would last 20 s if nothing stopped it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "capture",
            "run",
            f"{server.url}{path}",
            "-c",
            "2",
            "--procs",
            "2",
            "--qps",
            "100",
            "-d",
            "20s",
            "--db",
            str(db),
            "--id-header",
            "X-Capture-Id",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a signal reaches only who we pick
    )


def _seq(entry: LedgerEntry) -> int:
    assert entry.request_id is not None
    return int(entry.request_id.rsplit("-", 1)[1])


def _wait_for_both_shares(server: FaultServer) -> None:
    """Waits until both processes have sent (the parent odd seqs, the child even ones)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parities = {_seq(e) % 2 for e in server.entries()}
        if parities == {0, 1} and len(server.entries()) >= 40:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run did not get going: {len(server.entries())} requests")


def _stat(pid: str) -> tuple[str, int, int] | None:
    """Returns (state, ppid, pgrp) of a process from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2])


def _living(pgrp: int) -> list[int]:
    """Returns the pids of the live (not zombie) processes in a process group."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (st := _stat(pid)) is not None and st[2] == pgrp and st[0] != "Z":
            pids.append(int(pid))
    return pids


def _wait_until_gone(pgrp: int) -> None:
    deadline = time.monotonic() + _GONE_WAIT_S
    while _living(pgrp) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _living(pgrp) == [], "processes of the run are still alive"


def _share_child(parent: int) -> int:
    """Returns the pid of the parent's share process (not multiprocessing's tracker)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit() and (st := _stat(pid)) is not None and st[1] == parent:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                return int(pid)
    raise AssertionError("no share process found")


def _late(server: FaultServer, signalled_at: float) -> list[LedgerEntry]:
    return [e for e in server.entries() if e.logged_at > signalled_at + _QUIET_AFTER_S]


def _assert_interrupted_exactly(server: FaultServer, db: Path) -> None:
    """Every request the target answered is stored, and the run is marked interrupted."""
    ledger = {e.request_id for e in server.entries()}
    stored = {cid for (cid,) in query(db, "select correlation_id from requests")}
    assert stored == ledger
    assert query(db, "select count(*) from requests") == [(len(ledger),)]
    assert query(db, "select status, requests_total, aborted_total from runs") == [
        ("interrupted", len(ledger), 0)
    ]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_parent_alone_stops_every_process(
    server: FaultServer, db_path: Path, sig: signal.Signals
) -> None:
    proc = _start(server, db_path)
    _wait_for_both_shares(server)
    signalled_at = time.monotonic()
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    _wait_until_gone(proc.pid)
    assert _late(server, signalled_at) == []
    _assert_interrupted_exactly(server, db_path)


def test_a_killed_parent_takes_its_children_down(cli, server: FaultServer, db_path: Path) -> None:
    proc = _start(server, db_path)
    _wait_for_both_shares(server)
    signalled_at = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    _wait_until_gone(proc.pid)
    assert _late(server, signalled_at) == []
    listed = cli("runs", "--db", db_path, "--format", "jsonl")
    assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["crashed"]
    ledger = server.entries()
    stored = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert stored <= {e.request_id for e in ledger}  # nothing invented
    # the child stopped on its own and flushed its share whole (even seqs); the parent
    # lost at most its last batch
    child_share = {e.request_id for e in ledger if _seq(e) % 2 == 0}
    assert {cid for cid in stored if int(cid.rsplit("-", 1)[1]) % 2 == 0} == child_share
    assert query(db_path, "pragma integrity_check") == [("ok",)]


def test_sigterm_to_one_child_stops_the_whole_run(server: FaultServer, db_path: Path) -> None:
    proc = _start(server, db_path)
    _wait_for_both_shares(server)
    signalled_at = time.monotonic()
    os.kill(_share_child(proc.pid), signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    _wait_until_gone(proc.pid)
    assert _late(server, signalled_at) == []
    _assert_interrupted_exactly(server, db_path)


def test_a_killed_child_stops_the_run(server: FaultServer, db_path: Path) -> None:
    proc = _start(server, db_path)
    _wait_for_both_shares(server)
    signalled_at = time.monotonic()
    os.kill(_share_child(proc.pid), signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 6, err  # the run cannot be complete: its share is lost
    assert "process 1 was lost (killed by SIGKILL)" in err
    _wait_until_gone(proc.pid)
    assert _late(server, signalled_at) == []
    assert query(db_path, "select status from runs") == [("failed",)]
    ledger = server.entries()
    stored = {cid for (cid,) in query(db_path, "select correlation_id from requests")}
    assert stored <= {e.request_id for e in ledger}
    # the parent (odd seqs) stopped gracefully and stored its share whole
    parent_share = {e.request_id for e in ledger if _seq(e) % 2 == 1}
    assert {cid for cid in stored if int(cid.rsplit("-", 1)[1]) % 2 == 1} == parent_share
