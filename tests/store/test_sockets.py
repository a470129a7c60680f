"""`capture sockets`' rows (store/sockets.py) against the rows of a real run counted here:
one per TCP connection, or per client socket where a row has no connection_id (an older
--procs run), in order, with each connection's failed positions."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from capture.cli.main import main
from capture.store.connection_pass import connection_pass
from capture.store.reader import open_readonly
from capture.store.sockets import socket_rows
from capture.target.server import FaultServer


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs of 60 requests on 3 sessions, each connection closed after 4; run 1's
    session 0 rows lose their connection_id (as revision 0003 left older --procs rows),
    and 4 of them their sockets too (no connection made)."""
    db = tmp_path_factory.mktemp("sockets") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        for name in ("one", "two"):
            args = [
                "run",
                f"{server.url}/x?mix=500:20&close_after=4",
                "-n",
                "60",
                "-c",
                "3",
                "--quiet",
            ]
            assert main([*args, "--name", name, "--db", str(db)]) in (0, 1)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE requests SET connection_id = NULL WHERE run_id = 1 AND session = 0")
        conn.execute(
            "UPDATE requests SET local_addr = NULL, remote_addr = NULL WHERE id IN"
            " (SELECT id FROM requests WHERE run_id = 1 AND session = 0 ORDER BY id LIMIT 4)"
        )
    conn.close()
    return db


def _expected(db: Path) -> list[dict[str, Any]]:
    """The socket rows counted in Python from every request row."""
    conn = sqlite3.connect(db)
    found = conn.execute(
        "SELECT run_id, connection_id, local_addr, remote_addr, process, session, failed,"
        " offset_ms, connection_request_no FROM requests ORDER BY id"
    ).fetchall()
    conn.close()
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = defaultdict(list)
    for row in found:
        run, cid, local = row[0], row[1], row[2]
        groups[(run, cid, local if cid is None else None)].append(row)
    out = []
    for (run, cid, _), items in groups.items():
        failed = sorted(r[8] for r in items if r[6])
        out.append(
            {
                "run_id": run,
                "connection_id": cid,
                "process": min(r[4] for r in items),
                "session": min(r[5] for r in items),
                "local_addr": min((r[2] for r in items if r[2] is not None), default=None),
                "remote_addr": min((r[3] for r in items if r[3] is not None), default=None),
                "requests": len(items),
                "failures": sum(r[6] for r in items),
                "first_ms": min(r[7] for r in items),
                "last_ms": max(r[7] for r in items),
                "failed_at": ",".join(map(str, failed)) or None,
            }
        )

    def order(r: dict[str, Any]) -> tuple[Any, ...]:
        local = r["local_addr"]
        cid = r["connection_id"]
        return (r["run_id"], cid is None, cid or 0, local is not None, local or "")

    return sorted(out, key=order)


@pytest.mark.parametrize("spec", ["all", "1", "2"])
def test_socket_rows_are_the_connections_counted(mixed: Path, spec: str) -> None:
    """Every row as counted from the requests, in capture sockets' order."""
    expected = _expected(mixed)
    if spec != "all":
        expected = [r for r in expected if r["run_id"] == int(spec)]
    run_ids, found = socket_rows(open_readonly(str(mixed)), spec)
    assert run_ids == (None if spec == "all" else [int(spec)])
    assert [dict(r) for r in found] == expected
    assert sum(r["requests"] for r in found) == 60 * (2 if spec == "all" else 1)
    if spec == "1":  # the fallback rows: one per client socket, the socketless one first
        fallback = [r for r in found if r["connection_id"] is None]
        assert fallback[0]["local_addr"] is None
        assert fallback[0]["requests"] == 4
        conn = sqlite3.connect(mixed)
        (session_0,) = conn.execute(
            "SELECT count(*) FROM requests WHERE run_id = 1 AND session = 0"
        ).fetchone()
        conn.close()
        assert sum(r["requests"] for r in fallback) == session_0 > 4


def test_the_reports_connections_are_the_socket_rows(mixed: Path) -> None:
    """The report's connection pass (connection_pass.py) finds the same connections and
    client sockets as capture sockets, the socketless requests apart."""
    with open_readonly(str(mixed)).connect() as conn:
        found = connection_pass(conn, 1, 1, 10, 1.0)["connections"]
    _, sockets = socket_rows(open_readonly(str(mixed)), "1")
    with_socket = [dict(r) for r in sockets if r["local_addr"] is not None]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["connection_id"] is None, r["connection_id"] or 0, r["local_addr"])

    assert sorted((dict(r) for r in found["rows"]), key=key) == sorted(with_socket, key=key)
    assert found["total"] == len(with_socket) == len(sockets) - 1
    assert found["no_connection"]["requests"] == 4
