"""`capture runs` shows each host slot of a --hosts run, read with plain SQL: checked on
a SQLite file whose run_hosts rows are written by hand."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from capture.store.hosts import host_states
from capture.target.server import FaultServer


def _hosts_run(cli: Any, server: FaultServer, db: Path) -> None:
    """Stores two runs, then makes the second one a run of 4 hosts, 3 finished, 1 lost."""
    for name in ("one", "big"):
        done = cli("run", f"{server.url}/", "-n", "2", "--name", name, "--db", db, "--quiet")
        assert done.exit_code == 0, done.stderr
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE runs SET hosts = 4, status = 'failed' WHERE name = 'big'")
        for slot, host, state in ((0, "a", "finished"), (1, "b", "lost"), (2, "c", "finished")):
            conn.execute(
                "INSERT INTO run_hosts (run_id, slot, hostname, pid, state, requests_total,"
                " failed_total, error) VALUES (2, ?, ?, 100, ?, 5, 1, ?)",
                (slot, host, state, "gone" if state == "lost" else None),
            )
        conn.execute(
            "INSERT INTO run_hosts (run_id, slot, hostname, pid, state) VALUES (2, 3, 'd', 7,"
            " 'finished')"
        )
    conn.close()


def test_host_states_reads_each_slot(cli: Any, server: FaultServer, db_path: Path) -> None:
    _hosts_run(cli, server, db_path)
    conn = sqlite3.connect(db_path)
    try:
        found = host_states(conn, [1, 2])
    finally:
        conn.close()
    assert list(found) == [2]
    assert [(s["slot"], s["hostname"], s["state"]) for s in found[2]] == [
        (0, "a", "finished"),
        (1, "b", "lost"),
        (2, "c", "finished"),
        (3, "d", "finished"),
    ]
    assert found[2][1] == {
        "slot": 1,
        "hostname": "b",
        "state": "lost",
        "requests": 5,
        "failures": 1,
        "error": "gone",
    }


def test_runs_shows_the_hosts_of_a_hosts_run(cli: Any, server: FaultServer, db_path: Path) -> None:
    _hosts_run(cli, server, db_path)
    table = cli("runs", "--db", db_path)
    assert table.exit_code == 0, table.stderr
    header, first, second = table.stdout.splitlines()[:3]
    assert header.split()[-1] == "hosts"
    assert second.split()[-5:] == ["failed", "3", "finished,", "1", "lost"]
    assert first.rstrip().endswith("completed")
    listed = json.loads(cli("runs", "--db", db_path, "--format", "json").stdout)
    assert listed[0]["hosts"] is None
    assert [(s["slot"], s["state"]) for s in listed[1]["hosts"]] == [
        (0, "finished"),
        (1, "lost"),
        (2, "finished"),
        (3, "finished"),
    ]
    csv = cli("runs", "--db", db_path, "--format", "csv").stdout.splitlines()
    assert csv[0].endswith(",hosts")
    assert csv[2].endswith(',"3 finished, 1 lost"')
