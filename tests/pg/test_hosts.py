"""--hosts N: several real `capture run` processes on this machine meet in one PostgreSQL
database and send one run together, checked against the target's ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from capture.target.server import FaultServer
from tests.pg.server import PASSWORD

_WAIT_S = 90.0  # a whole process run, on a busy 2-core machine
_ID = "X-Capture-Id"


def _start(
    pg_url: str,
    url: str,
    *args: str,
    hosts: int,
    name: str = "big",
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Starts one host: `capture run URL ARGS --db PG --name NAME --hosts N`."""
    cmd = [sys.executable, "-m", "capture", "run", url, *args]
    cmd += ["--db", pg_url, "--name", name, "--hosts", str(hosts), "--id-header", _ID]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _wait(procs: Sequence[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """Waits for every host (bounded); returns (exit code, stdout, stderr) of each."""
    deadline = time.monotonic() + _WAIT_S
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        done.append((proc.returncode, out, err))
    for _, out, err in done:
        assert PASSWORD not in out + err
    return done


def _run_hosts(
    pg_url: str, url: str, *args: str, hosts: int, env: dict[int, dict[str, str]] | None = None
) -> list[tuple[int, str, str]]:
    procs = [
        _start(pg_url, url, *args, "--slot", str(i), hosts=hosts, env=(env or {}).get(i))
        for i in range(hosts)
    ]
    return _wait(procs)


def _rows(pg_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params).fetchall()


def _ledger_seqs(server: FaultServer) -> Counter[int]:
    """Counts each seq the server saw, from the id header (KEY-SEQ) of every request."""
    seen: Counter[int] = Counter()
    for entry in server.entries():
        assert entry.request_id is not None
        seen[int(entry.request_id.rsplit("-", 1)[1])] += 1
    return seen


def _check_exact(pg_url: str, server: FaultServer, hosts: int, procs: int = 1) -> int:
    """Every seq sent once, in one row, by the slot (and process) whose share it is;
    the run finished with totals equal to the rows. Returns how many were sent."""
    rows = _rows(pg_url, "SELECT seq, host, process, correlation_id FROM requests")
    seen = _ledger_seqs(server)
    assert set(seen.values()) == {1}
    assert sorted(seen) == sorted(seq for seq, *_ in rows)
    assert len({seq for seq, *_ in rows}) == len(rows)
    count = hosts * procs
    for seq, host, process, _ in rows:
        assert divmod((seq - 1) % count, procs) == (host, process)
    keys = {cid.rsplit("-", 1)[0] for *_, cid in rows}
    assert len(keys) == 1  # one run key over every host
    run = _rows(
        pg_url,
        "SELECT status, hosts, requests_total, ok_total + failed_total FROM runs",
    )
    assert run == [("completed", hosts, len(rows), len(rows))]
    states = _rows(pg_url, "SELECT slot, state, requests_total FROM run_hosts ORDER BY slot")
    by_host = Counter(host for _, host, _, _ in rows)
    assert states == [(i, "finished", by_host[i]) for i in range(hosts)]
    return len(rows)


@pytest.mark.parametrize("hosts", [2, 3])
def test_hosts_split_a_count_of_requests_exactly(
    pg_url: str, server: FaultServer, hosts: int
) -> None:
    done = _run_hosts(pg_url, f"{server.url}/?status=500", "-n", "60", "-c", "2", hosts=hosts)
    assert [code for code, _, _ in done] == [0] * hosts, done
    assert _check_exact(pg_url, server, hosts) == 60
    # Each prints its own summary; the one that ended last also the run's.
    run_lines = [out for _, out, _ in done if f"on {hosts} hosts" in out]
    assert len(run_lines) == 1
    assert "60 requests, 60 failed, 60 stored" in run_lines[0]


def test_hosts_split_a_rate_over_a_duration(pg_url: str, server: FaultServer) -> None:
    # 40/s for 2 s is seqs 1..80 at their planned times, whichever host sends them.
    done = _run_hosts(pg_url, f"{server.url}/", "--qps", "40", "-d", "2s", "-c", "2", hosts=2)
    assert [code for code, _, _ in done] == [0, 0], done
    assert _check_exact(pg_url, server, 2) == 80
    assert sorted(_ledger_seqs(server)) == list(range(1, 81))
    # Each host's summary judges its share, 20/s, not the run's 40/s: "33 % of asked"
    # and "the pool did not keep up" on a healthy host would send a user to add -c.
    shares = sorted(
        line.split(" asked ")[1] for _, out, _ in done for line in out.splitlines()
        if line.startswith("  rate ")
    )  # fmt: skip
    assert sorted(s.split(", ", 1)[1] for s in shares) == [
        "slot 0's share of 40.0/s on 2 hosts",
        "slot 1's share of 40.0/s on 2 hosts",
    ]
    assert all("20.0/s asked" in out for _, out, _ in done)


def test_hosts_and_procs_compose(pg_url: str, server: FaultServer) -> None:
    done = _run_hosts(pg_url, f"{server.url}/", "-n", "48", "-c", "2", "--procs", "2", hosts=2)
    assert [code for code, _, _ in done] == [0, 0], done
    assert _check_exact(pg_url, server, 2, procs=2) == 48
    assert sorted(_ledger_seqs(server)) == list(range(1, 49))
    # Sessions and connection ids are unique over hosts and processes.
    sessions = _rows(pg_url, "SELECT DISTINCT host, process, session FROM requests")
    assert len({s for *_, s in sessions}) == len(sessions) == 8


def test_hosts_need_a_name_and_postgresql(cli: Any, db_path: Path, pg_url: str) -> None:
    url = "http://127.0.0.1:9/"
    sqlite = cli("run", url, "-n", "1", "--hosts", "2", "--name", "x", "--db", str(db_path))
    assert sqlite.exit_code == 2
    assert sqlite.stderr.strip().splitlines() == [
        "capture: error: --hosts needs a postgresql:// --db: the hosts meet in its server"
    ]
    assert not db_path.exists()
    nameless = cli("run", url, "-n", "1", "--hosts", "2", "--db", pg_url)
    assert nameless.exit_code == 2
    assert "--hosts needs --name NAME" in nameless.stderr
    assert len(nameless.stderr.strip().splitlines()) == 1
    bad_slot = cli("run", url, "-n", "1", "--hosts", "2", "--name", "x", "--slot", "2")
    assert bad_slot.exit_code == 2
    assert "--slot must be between 0 and 1" in bad_slot.stderr


def _await_slots(pg_url: str, count: int, state: str = "ready") -> None:
    """Waits (bounded) until count slots of the run have reached state."""
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        try:
            found = _rows(pg_url, "SELECT count(*) FROM run_hosts WHERE state = %s", state)
        except psycopg.errors.UndefinedTable:  # the first host has not migrated yet
            found = []
        if found == [(count,)]:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} slots never became {state}")


def test_a_slot_claimed_twice_names_its_holder(pg_url: str, server: FaultServer) -> None:
    first = _start(pg_url, f"{server.url}/", "-n", "10", "--slot", "0", hosts=2)
    _await_slots(pg_url, 1)
    [(code, _, err)] = _wait([_start(pg_url, f"{server.url}/", "-n", "10", "--slot", "0", hosts=2)])
    assert code == 2
    assert err.count("\n") == 1
    assert f"slot 0 of run 'big' is taken: slot 0 on {os.uname().nodename} (pid {first.pid}" in err
    # The run goes on with the right second host.
    second = _start(pg_url, f"{server.url}/", "-n", "10", "--slot", "1", hosts=2)
    assert [code for code, _, _ in _wait([first, second])] == [0, 0]
    assert _check_exact(pg_url, server, 2) == 10


def test_a_host_with_other_settings_is_refused(pg_url: str, server: FaultServer) -> None:
    first = _start(pg_url, f"{server.url}/", "-n", "10", "-c", "2", hosts=2)
    _await_slots(pg_url, 1)
    [(code, _, err)] = _wait([_start(pg_url, f"{server.url}/", "-n", "20", "-c", "2", hosts=2)])
    assert code == 2
    assert err.strip() == (
        "capture: error: run 'big' has other settings: requests is 20 here, 10 in the run"
    )
    second = _start(pg_url, f"{server.url}/", "-n", "10", "-c", "2", hosts=2)
    assert [code for code, _, _ in _wait([first, second])] == [0, 0]
    assert _check_exact(pg_url, server, 2) == 10


def test_a_missing_host_fails_the_barrier_and_nothing_is_sent(
    pg_url: str, server: FaultServer
) -> None:
    # Slot 0 would wait two minutes; slot 1, which joins once slot 0 holds its slot, waits
    # 2 s and fails the run for both: 2 s from each host's own start would race the start
    # of the second process on a busy machine.
    first = _start(pg_url, f"{server.url}/", "-n", "30", "--barrier-timeout", "120s", hosts=3)
    _await_slots(pg_url, 1, "ready")
    second = _start(pg_url, f"{server.url}/", "-n", "30", "--barrier-timeout", "2s", hosts=3)
    done = _wait([first, second])
    host = os.uname().nodename
    for code, _, err in done:
        assert code == 6
        assert err.count("\n") == 1
        assert "run 'big' gave up after 2 s at the barrier: slot 2 never joined of 3" in err
        assert f"(joined: 0 on {host} (pid " in err and f"1 on {host} (pid " in err
        assert "nothing was sent" in err
    assert server.entries() == []
    assert _rows(pg_url, "SELECT count(*) FROM requests") == [(0,)]
    assert _rows(pg_url, "SELECT status, requests_total FROM runs") == [("failed", 0)]
    assert _rows(pg_url, "SELECT slot, state FROM run_hosts ORDER BY slot") == [
        (0, "gave_up"),
        (1, "gave_up"),
    ]


def test_a_host_after_the_start_is_refused(pg_url: str, server: FaultServer) -> None:
    # Long enough for a third process to start while the run is going, on a busy machine.
    args = ("--qps", "3", "-d", "10s")  # the default barrier timeout: a busy machine is slow
    procs = [_start(pg_url, f"{server.url}/", *args, hosts=2) for _ in range(2)]
    _await_slots(pg_url, 2, "running")
    [(code, _, err)] = _wait([_start(pg_url, f"{server.url}/", *args, hosts=2)])
    assert code == 2
    assert "capture: error: run 'big' started at " in err
    assert "without this host (its slots: slot 0 on " in err
    assert [code for code, _, _ in _wait(procs)] == [0, 0]
    assert _check_exact(pg_url, server, 2) == 30


def test_stop_after_failures_counts_over_every_host(pg_url: str, server: FaultServer) -> None:
    # Every request fails. 2/s over 10 s is 20 seqs, 10 per host: a limit of 6 counted
    # per host would stop at 12; counted over the run it stops at 6 plus what the
    # heartbeats (0.5 s each way) let through: about 2 s at 2/s.
    args = ("--qps", "2", "-n", "20", "--stop-after-failures", "6", "-c", "1")
    done = _run_hosts(pg_url, f"{server.url}/?status=500", *args, hosts=2)
    assert [code for code, _, _ in done] == [0, 0], done
    sent = _check_exact(pg_url, server, 2)
    assert 6 <= sent <= 10
    assert _rows(pg_url, "SELECT sum(failed_total)::int FROM run_hosts") == [(sent,)]


def test_a_killed_host_is_recorded_lost_and_the_others_finish(
    pg_url: str, server: FaultServer
) -> None:
    args = ("--qps", "20", "-d", "6s", "-c", "2")
    procs = [_start(pg_url, f"{server.url}/", *args, "--slot", str(i), hosts=2) for i in (0, 1)]
    _await_slots(pg_url, 2, "running")
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:  # until slot 1 has stored a batch or more
        stored = _rows(pg_url, "SELECT count(*) FROM requests WHERE host = 1")
        if stored != [(0,)]:
            break
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    (code, _, err), (killed, _, _) = _wait(procs)
    assert killed == -signal.SIGKILL
    assert code == 6, err
    [(rows_1, failed_1)] = _rows(
        pg_url, "SELECT count(*), coalesce(sum(failed), 0)::int FROM requests WHERE host = 1"
    )
    assert rows_1 > 0
    line = f"slot 1 on {os.uname().nodename} (pid {procs[1].pid}) was lost while running"
    assert line in err
    assert f"it had stored {rows_1} requests ({failed_1} failed)" in err
    assert _rows(pg_url, "SELECT slot, state, requests_total FROM run_hosts ORDER BY slot") == [
        (0, "finished", 60),
        (1, "lost", rows_1),
    ]
    # Slot 0's share whole (odd seqs 1..119), slot 1's rows a part of what it sent.
    seen = _ledger_seqs(server)
    rows = _rows(pg_url, "SELECT seq, host FROM requests")
    assert sorted(seq for seq, host in rows if host == 0) == list(range(1, 120, 2))
    assert {seq for seq, host in rows if host == 1} <= {s for s in seen if s % 2 == 0}
    assert set(seen.values()) == {1}
    assert _rows(pg_url, "SELECT status, requests_total FROM runs") == [("failed", 60 + rows_1)]


def test_rows_of_a_host_with_a_wrong_clock_line_up(pg_url: str, server: FaultServer) -> None:
    # Slot 1's clock is an hour ahead. Both start at the database's instant, and both
    # store times on the database's clock: seq k of either is at start + (k - 1) / qps.
    skew = {1: {"CAPTURE_TEST_CLOCK_OFFSET_S": "3600"}}
    done = _run_hosts(pg_url, f"{server.url}/", "--qps", "10", "-d", "2s", hosts=2, env=skew)
    assert [code for code, _, _ in done] == [0, 0], done
    assert _check_exact(pg_url, server, 2) == 20
    [(started,)] = _rows(pg_url, "SELECT started_at FROM runs")
    start = datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp()
    rows = _rows(pg_url, "SELECT seq, host, started_at, offset_ms, lag_ms FROM requests")
    for seq, host, at, offset_ms, lag_ms in rows:
        intended = start + (seq - 1) / 10
        stored = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
        # Generous: a busy machine sends late; a wrong clock would be 3600 s off.
        assert abs(stored - intended) < 0.5, (seq, host, at)
        assert abs(offset_ms / 1000 - (seq - 1) / 10) < 0.5
        assert 0 <= lag_ms < 500
