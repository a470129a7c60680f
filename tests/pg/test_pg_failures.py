"""A PostgreSQL --db under failure: unreachable at start, not capture's, gone mid-run,
back within the wait, gone at the end. Real servers, real child processes."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from capture.store import database
from capture.store.record import DETAIL_BYTES, RECORD_BYTES
from capture.target.server import FaultServer
from tests.conftest import Result, missing_part
from tests.pg.server import PASSWORD, USER, PgServer, find_bindir

MAX_QUEUE_BYTES = 1 << 20  # --max-queue 1MiB: the bound the lost records must stay under
BODY_BYTES = 1000
POLL_S = 0.02
WAIT_S = 60.0  # an event that does not come within this is a failure, not a slow box


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A server of this test's own, which it may stop; commits durable across a crash."""
    bindir = find_bindir()
    if bindir is None:
        missing_part("PostgreSQL server not installed (Debian package postgresql)")
    srv = PgServer(bindir, Path(tempfile.mkdtemp(prefix="capture-pgf-")))
    srv.start()
    # The test server runs with synchronous_commit=off: a commit it acknowledged could be
    # lost by the crash this test causes, and stored + lost would no longer add up.
    srv.create_database("run")
    srv.psql("ALTER DATABASE run SET synchronous_commit = on")
    try:
        yield srv
    finally:
        srv.stop()


def _stop(srv: PgServer) -> None:
    """Stops the server as a crash would (no checkpoint, connections cut)."""
    pg_ctl = str(srv.bindir / "pg_ctl")
    subprocess.run(
        srv._as_owner(pg_ctl, "-D", str(srv.data), "-m", "immediate", "-w", "stop"),
        check=True,
        capture_output=True,
        timeout=60,
    )


def _restart(srv: PgServer) -> None:
    """Starts the stopped server again on the same port (it recovers from its WAL)."""
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={srv.port} -c unix_socket_directories={srv.sockets}"
    )
    pg_ctl = str(srv.bindir / "pg_ctl")
    log = str(srv.root / "server.log")
    subprocess.run(
        srv._as_owner(pg_ctl, "-D", str(srv.data), "-l", log, "-o", options, "-w", "start"),
        check=True,
        capture_output=True,
        timeout=90,
    )


def _rows(url: str) -> int:
    """Counts the requests rows stored so far (0 before the schema exists)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('requests')").fetchone() == (None,):
            return 0
        found = conn.execute("SELECT count(*) FROM requests").fetchone()
    return int(found[0]) if found else 0


def _wait_for_rows(url: str, proc: subprocess.Popen[str]) -> None:
    """Waits until the run has stored some rows (or fails the test if it never does)."""
    deadline = time.monotonic() + WAIT_S
    while _rows(url) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run stored nothing: {proc.communicate()}")
        time.sleep(POLL_S)


def _spawn(url: str, db: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    """Starts `capture run URL --db DB --json` in a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "capture", "run", url, "--db", db, "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"capture run did not finish: {proc.communicate()}")


def _stored(url: str) -> tuple[Any, ...]:
    """Returns (rows, distinct seqs, failed rows, failures rows, run status)."""
    with psycopg.connect(url) as conn:
        counted = conn.execute(
            "SELECT count(*), count(DISTINCT seq), coalesce(sum(failed), 0)::int FROM requests"
        ).fetchone()
        (failures,) = conn.execute("SELECT count(*) FROM failures").fetchone() or (None,)
        statuses = [r[0] for r in conn.execute("SELECT status FROM runs")]
    assert counted is not None
    return (*counted, failures, statuses)


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("capture: error:")]


@pytest.mark.parametrize(
    ("case", "expect"),
    [
        ("nothing listening", "Connection refused"),
        ("wrong password", 'password authentication failed for user "capture"'),
        ("no such database", 'database "nosuch" does not exist'),
    ],
)
def test_unreachable_at_start_sends_nothing(
    case: str, expect: str, pg_server: PgServer, server: FaultServer, cli: Any
) -> None:
    """A server that cannot be used: one line, exit 5, no password, no request sent."""
    with socket.socket() as held:  # bound, not listening: connections to it are refused
        held.bind(("127.0.0.1", 0))
        urls = {
            "nothing listening": pg_server.url("run").replace(
                f":{pg_server.port}/", f":{held.getsockname()[1]}/"
            ),
            "wrong password": pg_server.url("postgres").replace(PASSWORD, "not-the-password"),
            "no such database": pg_server.url("nosuch"),
        }
        result: Result = cli("run", f"{server.url}/", "-n", "20", "--db", urls[case])
    assert result.exit_code == 5, result.stderr
    assert result.stderr.count("\n") == 1 and len(_error_lines(result)) == 1, result.stderr
    assert result.stderr.startswith("capture: error: cannot open the database postgresql://")
    assert expect in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "not-the-password" not in result.stderr + result.stdout
    assert server.entries() == []


def test_a_url_that_does_not_parse_is_a_usage_error(server: FaultServer, cli: Any) -> None:
    """A port that is not a number: exit 2 and one line, not an internal error."""
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:notaport/run"
    result: Result = cli("run", f"{server.url}/", "-n", "5", "--db", url)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        f"capture: error: --db 'postgresql://{USER}:***@127.0.0.1:notaport/run': "
        "not a valid postgresql:// URL\n"
    )
    assert server.entries() == []


def test_a_database_of_other_tables_is_refused_untouched(
    pg_url: str, pg_server: PgServer, server: FaultServer, cli: Any
) -> None:
    """Another application's database: exit 3, nothing created in it, nothing sent."""
    name = pg_url.rsplit("/", 1)[1]
    pg_server.psql("CREATE TABLE users (id int); INSERT INTO users VALUES (1)", name)
    result: Result = cli("run", f"{server.url}/", "-n", "5", "--db", pg_url)
    assert result.exit_code == 3, result.stderr
    assert result.stderr == (
        f"capture: error: postgresql://{USER}:***@127.0.0.1:{pg_server.port}/{name} "
        "is not a capture file: it has other tables\n"
    )
    tables = pg_server.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", name)
    assert tables.split() == ["users"]
    assert server.entries() == []


def test_server_gone_mid_run_counts_every_loss(own_pg: PgServer, server: FaultServer) -> None:
    """The server stops mid-run: the run waits a bounded time, stops sending, exits 5 with
    one line of cost, and sent = stored + lost, counted against the rows that survived."""
    url = own_pg.url("run")
    target = f"{server.url}/?status=500&size={BODY_BYTES}"
    cap = ["-d", "20s", "-n", "100000", "-c", "4", "--max-queue", "1MiB"]
    proc = _spawn(target, url, *cap, env={"CAPTURE_TEST_RECONNECT_S": "1"})
    _wait_for_rows(url, proc)
    _stop(own_pg)
    out, err = _finish(proc)
    assert proc.returncode == 5, err
    summary = json.loads(out)  # the summary is printed though the end row is not written
    sent = len(server.entries())
    assert summary["sent"] == summary["failed"] == sent
    assert summary["stop_reason"] == "storage error"
    errors = [line for line in err.splitlines() if line.startswith("capture: error:")]
    assert len(errors) == 1 and errors[0] == f"capture: error: {summary['storage_error']}"
    lost = summary["requests_lost"]
    assert f"{lost} failures not stored (0 of them kept a requests row)" in errors[0]
    assert f"{lost} requests got no row at all" in errors[0]
    assert "could not record the end of run 1 (connection failed" in errors[0]
    assert PASSWORD not in out + err
    # Bounded: what was lost is what the queue held, at most --max-queue of records
    # (each holds its body), plus one in flight per connection.
    per_record = RECORD_BYTES + DETAIL_BYTES + BODY_BYTES
    assert 0 < lost <= MAX_QUEUE_BYTES // per_record + 1 + 4
    _restart(own_pg)
    rows, seqs, failed, failures, statuses = _stored(url)
    # A batch whose COMMIT lost its answer may be on the server: said in the message.
    doubt = re.search(r"\((\d+) of them were being committed when the server", errors[0])
    doubtful = int(doubt.group(1)) if doubt else 0
    assert rows in (sent - lost, sent - lost + doubtful)
    assert summary["stored"] == sent - lost
    assert rows == seqs == failed == failures  # every batch whole, none twice
    assert statuses == ["running"]


def test_server_back_within_the_wait_loses_nothing(own_pg: PgServer, server: FaultServer) -> None:
    """The server restarts while the writer waits: every request is stored exactly once."""
    url = own_pg.url("run")
    total = 3000
    proc = _spawn(
        f"{server.url}/?status=500&size={BODY_BYTES}",
        url,
        *("-n", str(total), "-c", "2"),
        env={"CAPTURE_TEST_RECONNECT_S": "300"},  # far longer than any restart takes
    )
    _wait_for_rows(url, proc)
    _stop(own_pg)
    assert proc.stderr is not None
    warning = proc.stderr.readline()  # the writer saw the loss and waits: restart now
    assert warning.startswith("capture: lost the connection to the database: "), warning
    assert warning.endswith("; waiting for it (up to 300 s)\n")
    _restart(own_pg)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert (summary["sent"], summary["stored"], summary["requests_lost"]) == (total, total, 0)
    assert len(server.entries()) == total
    assert _stored(url) == (total, total, total, total, ["completed"])


def _stop_before_the_end_row(own_pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stops the server once every batch is stored, just before the run's end row."""
    finish = database.finish_run

    def stop_then_finish(*args: Any, **kwargs: Any) -> Any:
        _stop(own_pg)
        return finish(*args, **kwargs)

    monkeypatch.setattr(database, "finish_run", stop_then_finish)


def test_server_gone_at_the_end_still_prints_the_summary(
    own_pg: PgServer,
    server: FaultServer,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every batch stored, then the server goes before the run's end row: the summary
    (from what the writer stored) and the 'could not record the end' line, exit 5."""
    _stop_before_the_end_row(own_pg, monkeypatch)
    url = own_pg.url("run")
    result: Result = cli("run", f"{server.url}/?status=500", "-n", "300", "--db", url, "--json")
    assert result.exit_code == 5, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["sent"], summary["stored"], summary["requests_lost"]) == (300, 300, 0)
    assert summary["sockets_used"] is None  # only the rows know it: not known, not 0
    assert summary["storage_error"].startswith(
        "could not record the end of run 1 (connection failed: "
    )
    assert summary["storage_error"].endswith(
        "it stays 'running' and `capture runs` shows it as crashed"
    )
    logged = [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert logged == [f"capture: error: {summary['storage_error']}"]
    assert PASSWORD not in result.stdout + result.stderr + caplog.text
    _restart(own_pg)
    assert _stored(url) == (300, 300, 300, 300, ["running"])


def test_server_gone_at_the_end_says_the_connection_count_is_not_known(
    own_pg: PgServer, server: FaultServer, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text summary of a run whose server went before the end: no '0 TCP connections'
    (only the rows could count them), but that the count is not known."""
    _stop_before_the_end_row(own_pg, monkeypatch)
    url = own_pg.url("run")
    result: Result = cli("run", f"{server.url}/?status=500", "-n", "50", "-c", "4", "--db", url)
    assert result.exit_code == 5, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("  connections")]
    assert lines == ["  connections not known (the database could not count them) for 4 sessions"]
    assert PASSWORD not in result.stdout + result.stderr
