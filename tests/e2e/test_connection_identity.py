"""Connection identity (issue 11): every request row names its process and its TCP
connection, checked against the target's own ledger of the connections it accepted.

The first test forces client-port reuse: inside a network namespace of its own (`unshare
-rn`: user and network namespace, no root) the ephemeral port range is four ports wide
and the target closes every connection after three requests, so twenty connections
share four client ports.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from capture.store.revisions import REVISIONS
from capture.target.server import FaultServer
from tests.conftest import query

ID_HEADER = "X-Capture-Id"
KEY = re.compile(r"[0-9a-f]{8}")

# Runs inside the namespace: loopback up, the target on it (bound before the port range is
# narrowed, so it does not take one of the four), then `capture run` against it; prints
# the run's result and the target's ledger as one JSON document.
_IN_NAMESPACE = """
import json, subprocess, sys
from capture.target.server import FaultServer

db, requests, connections, path = sys.argv[1:]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
# No TIME_WAIT in this namespace: after the target's close-after-N, who closes first is a
# race (a busy machine often lets the client close first), and a client port left in
# TIME_WAIT is not reused for a second or more: with four ports, connects then failed
# (client_resource) and never reached the target. Without TIME_WAIT a closed
# connection's port is free at once, whoever closed it.
with open("/proc/sys/net/ipv4/tcp_max_tw_buckets", "w") as buckets:
    buckets.write("0")
with FaultServer("127.0.0.1", 0) as server:
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as ports:
        ports.write("40000 40003")
    run = subprocess.run(
        [sys.executable, "-m", "capture", "run", server.url + path, "-n", requests,
         "-c", connections, "--id-header", "X-Capture-Id", "--db", db, "--quiet"],
        capture_output=True, text=True, timeout=120,
    )
    # The target logs a request when its reply is done, which may be after the client
    # has its response: wait for all of them, not what has been logged by now.
    entries = server.wait_for_entries(int(requests), timeout_s=30)
print(json.dumps({
    "rc": run.returncode,
    "stderr": run.stderr,
    "ledger": [
        {"id": e.request_id, "client": e.client_addr, "connection": e.connection_no,
         "position": e.connection_request_no, "status": e.status}
        for e in entries
    ],
}))
"""


def _connection_id(session: int, connection_no: int, sessions: int) -> int:
    """The formula of docs/schema.md: (connection_no - 1) * S + session + 1."""
    return (connection_no - 1) * sessions + session + 1


def _run_in_namespace(db: Path, requests: int, connections: int, path: str) -> dict[str, Any]:
    """Runs capture against a target in a fresh network namespace; returns its ledger.

    Fails (never skips) when the namespace cannot be made: CI is this machine.
    """
    args = [str(db), str(requests), str(connections), path]
    done = subprocess.run(
        ["unshare", "-rn", sys.executable, "-c", _IN_NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"unshare -rn failed ({done.returncode}): {done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["rc"] == 0, result["stderr"]
    return result


def _rows(db: Path, run_id: int = 1) -> list[dict[str, Any]]:
    """Returns the run's request rows with the columns these tests compare."""
    columns = (
        "id, seq, process, session, connection_no, connection_id, connection_request_no,"
        " local_addr, failed, status, correlation_id"
    )
    names = [c.strip() for c in columns.split(",")]
    found = query(db, f"select {columns} from requests where run_id = ? order by seq", run_id)
    return [dict(zip(names, row, strict=True)) for row in found]


def test_reused_client_ports_are_told_apart_by_connection(cli, tmp_path: Path) -> None:
    """Twenty-odd connections on four client ports: one connection_id per server connection."""
    db = tmp_path / "reuse.db"
    result = _run_in_namespace(db, 60, 2, "/c?close_after=3&mix=500:20")
    ledger = {e["id"]: e for e in result["ledger"]}
    assert len(ledger) == len(result["ledger"]) == 60
    server_connections = {e["connection"] for e in ledger.values()}
    connections = len(server_connections)  # 20 or more: close_after=3, two sessions
    assert connections >= 20
    # the kernel really gave two connections the same client port
    assert len({e["client"] for e in ledger.values()}) <= 4 < len(server_connections)

    rows = _rows(db)
    assert {r["correlation_id"] for r in rows} == set(ledger)
    # each connection_id is exactly one of the server's connections, and the other way round
    pairs = {(r["connection_id"], ledger[r["correlation_id"]]["connection"]) for r in rows}
    assert len(pairs) == len({c for c, _ in pairs}) == len({s for _, s in pairs}) == connections
    for r in rows:
        entry = ledger[r["correlation_id"]]
        assert (r["local_addr"], r["connection_request_no"]) == (entry["client"], entry["position"])
        assert r["process"] == 0
        assert r["connection_id"] == _connection_id(r["session"], r["connection_no"], 2)
    assert query(db, "select count(distinct connection_id) from requests") == [(connections,)]
    assert query(db, "select sockets_used, failed_total from runs") == [(connections, 20)]

    # capture sockets: one row per server connection, with that connection's numbers
    server_of = dict(pairs)
    expected: dict[int, list[Any]] = defaultdict(lambda: [None, 0, 0, []])
    for entry in ledger.values():
        counts = expected[entry["connection"]]
        counts[0] = entry["client"]
        counts[1] += 1
        if entry["status"] == 500:
            counts[2] += 1
            counts[3].append(entry["position"])
    listed = cli("sockets", "--db", db, "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    sockets = json.loads(listed.stdout)
    assert len(sockets) == connections
    got = {
        server_of[s["connection_id"]]: [
            s["local_addr"],
            s["requests"],
            s["failures"],
            sorted(int(n) for n in (s["failed_at"] or "").split(",") if n),
        ]
        for s in sockets
    }
    assert got == {k: [v[0], v[1], v[2], sorted(v[3])] for k, v in expected.items()}
    assert {s["process"] for s in sockets} == {0}
    table = cli("sockets", "--db", db)
    assert table.exit_code == 0, table.stderr
    assert table.stderr == f"run 1: {connections} connections\n"

    # --connection ID lists exactly the failures the server sent on that connection
    for cid, server_no in pairs:
        found = cli("failures", "--db", db, "--connection", str(cid), "-f", "json")
        assert found.exit_code == 0, found.stderr
        ids = {r["correlation_id"] for r in json.loads(found.stdout)}
        assert ids == {
            i for i, e in ledger.items() if e["connection"] == server_no and e["status"] == 500
        }

    # summary counts failures per connection, not per client port
    report = cli("summary", "--db", db)
    assert report.exit_code == 0, report.stderr
    addr = {r["connection_id"]: r["local_addr"] for r in rows}
    per_connection = Counter(
        f"connection {r['connection_id']} ({r['local_addr']})" for r in rows if r["failed"]
    )
    top = sorted(per_connection.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    lines = report.stdout.splitlines()
    at = lines.index("failures by connection:") + 1
    assert lines[at : at + len(top)] == [f"  {n:>9}  {label}" for label, n in top]
    assert len(addr) == connections


def _neighbour_ids(text: str) -> list[int]:
    """Returns the request ids `capture show` lists under "same connection:"."""
    lines = text.splitlines()
    if "same connection:" not in lines:
        return []
    after = lines[lines.index("same connection:") + 1 :]
    return [int(re.search(r" id (\d+) ", line).group(1)) for line in after]  # type: ignore[union-attr]


def test_processes_have_their_own_sessions_and_connections(
    cli, server: FaultServer, db_path: Path
) -> None:
    """--procs 2 -c 3: sessions 0-5, processes 0 and 1, one id per server connection, and
    `show` lists neighbours from the same connection only."""
    result = cli(
        "run",
        f"{server.url}/p?close_after=4&mix=500:10",
        "-n",
        "120",
        "-c",
        "3",
        "--procs",
        "2",
        "--id-header",
        ID_HEADER,
        "--db",
        db_path,
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    ledger = {e.request_id: e for e in server.wait_for_entries(120)}
    assert len(ledger) == 120
    rows = _rows(db_path)
    assert len(rows) == 120
    ((key,),) = query(db_path, "select run_key from runs")
    assert KEY.fullmatch(str(key))
    # one key in both processes: every id is KEY-SEQ
    assert {r["correlation_id"] for r in rows} == {f"{key}-{r['seq']}" for r in rows} == set(ledger)
    assert {r["session"] for r in rows} == set(range(6))
    for r in rows:  # process k sent seqs k+1, k+1+P, ... with sessions 3k to 3k+2
        assert r["process"] == (r["seq"] - 1) % 2 == r["session"] // 3
        assert r["connection_id"] == _connection_id(r["session"], r["connection_no"], 6)
    pairs = {(r["connection_id"], ledger[r["correlation_id"]].connection_no) for r in rows}
    connections = len({e.connection_no for e in ledger.values()})
    assert len(pairs) == len({c for c, _ in pairs}) == connections
    assert query(db_path, "select sockets_used from runs") == [(connections,)]

    # show: the neighbours are the requests just before and after on the same connection
    server_no = {r["id"]: ledger[r["correlation_id"]].connection_no for r in rows}
    failed = [r for r in rows if r["failed"]]
    assert len(failed) == 20  # mix=500:10: requests 0-9 and 100-109
    for r in failed:
        shown = cli("show", str(r["id"]), "--db", db_path)
        assert shown.exit_code == 0, shown.stderr
        same = sorted((o["seq"], o["id"]) for o in rows if server_no[o["id"]] == server_no[r["id"]])
        at = same.index((r["seq"], r["id"]))
        expected = [i for _, i in same[max(0, at - 2) : at] + same[at + 1 : at + 3]]
        assert _neighbour_ids(shown.stdout) == expected
        assert f"process {r['process']}, session {r['session']}" in shown.stdout


def test_correlation_ids_are_unique_across_files(cli, server: FaultServer, tmp_path: Path) -> None:
    """Two runs in two files: ids are run_key-seq exactly, the keys differ, no id repeats."""
    found: list[set[str]] = []
    for name in ("a.db", "b.db"):
        db = tmp_path / name
        server.clear()
        ran = cli(
            "run", f"{server.url}/", "-n", "20", "--id-header", ID_HEADER, "--db", db, "--quiet"
        )
        assert ran.exit_code == 0, ran.stderr
        ((key,),) = query(db, "select run_key from runs")
        assert KEY.fullmatch(str(key))
        stored = dict(query(db, "select seq, correlation_id from requests"))
        assert stored == {seq: f"{key}-{seq}" for seq in range(1, 21)}
        assert {e.request_id for e in server.wait_for_entries(20)} == set(stored.values())
        found.append(set(stored.values()))
    assert not found[0] & found[1]


def _copy_to_revision_0002(source: Path, old: Path) -> None:
    """Builds old at revision 0002 holding source's rows, in the columns 0002 has."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parents[2] / "migrations"))
    engine = create_engine(f"sqlite:///{old}")
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.commit()
    engine.dispose()
    conn = sqlite3.connect(old)
    try:
        conn.execute("ATTACH DATABASE ? AS src", (str(source),))
        for table in ("runs", "requests", "failures"):
            names = ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})"))
            conn.execute(f"INSERT INTO main.{table} ({names}) SELECT {names} FROM src.{table}")
        conn.commit()
    finally:
        conn.close()


def test_migration_fills_one_process_runs_as_the_writer_does(
    cli, server: FaultServer, tmp_path: Path
) -> None:
    """A 0002 file with the same rows, upgraded: its one-process run gets the process and
    connection ids the writer gave it; its --procs run keeps NULL (sessions repeat there)."""
    new, old = tmp_path / "new.db", tmp_path / "old.db"
    url = f"{server.url}/?close_after=5&mix=500:10"
    for extra in ((), ("--procs", "2")):
        ran = cli("run", url, "-n", "40", "-c", "2", *extra, "--db", new, "--quiet")
        assert ran.exit_code == 0, ran.stderr
    written = query(new, "select id, process, connection_id from requests order by id")
    one = [(i, p, c) for i, p, c in written if i <= 40]
    assert {p for _, p, _ in one} == {0} and None not in {c for _, _, c in one}
    # The server closes after 5 requests: a session that sent n opened ceil(n / 5). How
    # the 40 split between the 2 sessions is up to the workers' race for them.
    per_session = query(new, "select count(*) from requests where run_id = 1 group by session")
    expected = sum(-(-n // 5) for (n,) in per_session)
    assert len({c for _, _, c in one}) == expected
    totals = query(new, "select id, sockets_used from runs order by id")
    assert totals[0] == (1, expected)

    _copy_to_revision_0002(new, old)
    upgraded = cli("db", "upgrade", "--db", old)
    assert upgraded.exit_code == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"schema 0002 -> {REVISIONS[-1]}"

    after = query(old, "select id, process, connection_id from requests order by id")
    assert [row for row in after if row[0] <= 40] == one
    assert {(p, c) for i, p, c in after if i > 40} == {(None, None)}
    assert query(old, "select id, sockets_used from runs order by id") == totals
    # the old --procs run: sockets by client socket, and no neighbours that could mix
    sockets = json.loads(cli("sockets", "-r", "2", "--db", old, "-f", "json").stdout)
    assert {s["connection_id"] for s in sockets} == {None}
    assert (
        len(sockets)
        == query(old, "select count(distinct local_addr) from requests where run_id = 2")[0][0]
    )
    ((failure,),) = query(old, "select min(request_id) from failures where run_id = 2")
    assert "same connection:" not in cli("show", str(failure), "--db", old).stdout
