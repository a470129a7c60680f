"""Process and storage faults: SIGKILL, a lingering reader, another process's write lock,
a full disk, an old schema, file modes. Real child processes writing real files."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from capture.store import database as store
from capture.target.server import FaultServer, LedgerEntry
from tests.conftest import query

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ID_HEADER = "X-Capture-Id"  # the header FaultServer echoes and records in its ledger
KILLS = 20
SLACK_S = 1.0  # batch interval (0.2 s) plus generous room for a loaded 2-core CI box


def _spawn(
    url: str, db: Path, *extra: str, env: dict[str, str] | None = None, umask: int = -1
) -> subprocess.Popen[str]:
    """Starts `capture run URL` in a child process writing to db."""
    args = ["run", url, "--db", str(db), "--id-header", ID_HEADER, *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "capture", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        umask=umask,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"capture run did not finish: {out}\n{err}")


def _entries(server: FaultServer, db: Path, run_id: int) -> dict[str, LedgerEntry]:
    """Returns the run's requests as the server saw them, by correlation id (KEY-SEQ)."""
    ((key,),) = query(db, "select run_key from runs where id = ?", run_id)
    prefix = f"{key}-"
    return {
        e.request_id: e
        for e in server.entries()
        if e.request_id and e.request_id.startswith(prefix)
    }


def _ledger(server: FaultServer, db: Path, run_id: int) -> dict[str, int | None]:
    """Returns the run's requests as the server saw them: correlation id -> status sent."""
    return {cid: e.status for cid, e in _entries(server, db, run_id).items()}


def _stored_ids(db: Path, run_id: int) -> set[str]:
    rows = query(db, "select correlation_id from requests where run_id = ?", run_id)
    return {str(cid) for (cid,) in rows}


def _assert_batches_intact(db: Path, run_id: int, dropped: int = 0) -> None:
    """Every committed batch is whole: unique seqs, one failures row per failed request
    (but for `dropped` ones, stored as a requests row only after a storage error)."""
    ((rows, seqs, failed),) = query(
        db,
        "select count(*), count(distinct seq), coalesce(sum(failed), 0) from requests"
        " where run_id = ?",
        run_id,
    )
    assert rows == seqs
    assert query(
        db,
        "select count(*) from requests r where r.run_id = ? and r.failed = 1"
        " and not exists (select 1 from failures f where f.request_id = r.id)",
        run_id,
    ) == [(dropped,)]
    assert query(
        db,
        "select count(*) from failures f left join requests r on r.id = f.request_id"
        " where f.run_id = ? and (r.id is null or r.failed = 0 or r.run_id != f.run_id)",
        run_id,
    ) == [(0,)]
    assert query(db, "select count(*) from failures where run_id = ?", run_id) == [
        (failed - dropped,)
    ]
    # mix=500:30 with the default --fail-status: failed exactly when the server sent 500
    assert query(
        db,
        "select count(*) from requests where run_id = ? and failed != (status = 500)",
        run_id,
    ) == [(0,)]


def _files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def _wal_bytes(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_sigkill_at_random_moments(server: FaultServer, db_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """S1: SIGKILL 20 times: the file stays sound, committed batches are whole, the run
    reads as crashed, and at most the last batch interval before the kill is missing."""
    rng = random.Random(20261125)
    url = f"{server.url}/?mix=500:30"
    counts: dict[int, int] = {}  # run id -> rows stored, to check later runs change none
    mid_traffic = aged = 0
    log: list[str] = []
    for i in range(KILLS):
        server.clear()
        # Half the runs are paced: a batch then fills by time (200 ms), not by size.
        paced = ("--qps", "300") if i % 2 else ()
        proc = _spawn(url, db_path, "-c", "4", "-d", "60s", "--quiet", *paced)
        # Most kills land in the middle of the traffic; every fifth counts from the spawn,
        # so it can also land in start-up (imports, migration, the run row).
        if i % 5 != 0:
            server.wait_for_entries(1, timeout_s=30)
        time.sleep(rng.uniform(0.3, 1.5))  # the random moment of the kill
        # Read the clock before the signal, and judge each answer by the moment the server
        # logged it (same clock, this process): a ledger length sampled after reading the
        # clock counted answers younger than SLACK_S whenever this thread waited for the
        # GIL behind the server's threads in between.
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL

        listed = cli("runs", "--format", "json", "--db", db_path)  # read-only, after a crash
        mine = [r for r in json.loads(listed.stdout or "[]") if r["pid"] == proc.pid]
        if not mine:  # killed before its run row was committed: it sent nothing
            assert listed.exit_code in (0, 3), listed.stderr
            assert server.entries() == []
            continue
        assert listed.exit_code == 0, listed.stderr
        assert [r["status"] for r in mine] == ["crashed"]
        run_id = int(mine[0]["id"])
        assert query(db_path, "pragma integrity_check") == [("ok",)]
        assert query(db_path, "select status, finished_at from runs where id = ?", run_id) == [
            ("running", None)
        ]
        _assert_batches_intact(db_path, run_id)
        ledger = _ledger(server, db_path, run_id)
        stored = _stored_ids(db_path, run_id)
        assert stored <= ledger.keys()
        ages = {
            cid: killed_at - e.logged_at for cid, e in _entries(server, db_path, run_id).items()
        }
        must = {cid for cid, age in ages.items() if age >= SLACK_S}
        lost = sorted(ages[cid] for cid in must - stored)
        assert not lost, f"kill {i}: {len(lost)} answered {lost[0]:.2f}-{lost[-1]:.2f} s ago lost"
        mid_traffic += bool(stored)
        aged += bool(must)
        counts[run_id] = len(stored)
        log.append(f"kill {i}: {len(ledger)} answered, {len(stored)} stored, {len(must)} old")
    # the loop really killed runs while they were writing, some long after their start
    assert mid_traffic >= KILLS // 2 and aged >= KILLS // 5, log

    # A later run appends to the same file, and the crashed runs keep what they had.
    server.clear()
    result = cli("run", url, "-n", "300", "--db", db_path, "--quiet")
    assert result.exit_code == 0, result.stderr
    ((last, status, total, failed, stored_failures),) = query(
        db_path,
        "select id, status, requests_total, failed_total, failures_stored from runs"
        " order by id desc limit 1",
    )
    assert (status, total, failed, stored_failures) == ("completed", 300, 90, 90)
    _assert_batches_intact(db_path, int(str(last)))
    for run_id, rows in counts.items():
        assert query(db_path, "select count(*) from requests where run_id = ?", run_id) == [(rows,)]
    assert query(db_path, "pragma integrity_check") == [("ok",)]
    listed = cli("runs", "--format", "json", "--db", db_path)
    statuses = {r["id"]: r["status"] for r in json.loads(listed.stdout)}
    assert {statuses[run_id] for run_id in counts} == {"crashed"}


def test_reader_holding_a_snapshot_blocks_nothing(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """S5: a read transaction open for the whole run neither blocks nor stalls it; the WAL
    it pins is reported, and folded back by `capture db upgrade` once the reader is gone."""
    assert cli("run", f"{server.url}/", "-n", "50", "--db", db_path, "--quiet").exit_code == 0
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("begin")
        assert reader.execute("select count(*) from requests").fetchone() == (50,)
        server.clear()
        proc = _spawn(f"{server.url}/?mix=500:30", db_path, "-n", "3000", "-c", "4", "--quiet")
        _, err = _finish(proc)
        assert proc.returncode == 0, err
        assert query(
            db_path,
            "select status, requests_total, failed_total, failures_stored from runs where id = 2",
        ) == [("completed", 3000, 900, 900)]
        assert _stored_ids(db_path, 2) == set(_ledger(server, db_path, 2))
        # The reader still sees its snapshot, so the run's pages could not leave the WAL:
        # capture said so instead of waiting busy_timeout for a checkpoint that cannot run.
        assert reader.execute("select count(*) from requests").fetchone() == (50,)
        assert _wal_bytes(db_path) > 0
        notes = [line for line in err.splitlines() if line.startswith("capture: note:")]
        assert len(notes) == 1 and "-wal" in notes[0], err

        reader.execute("commit")  # the reader goes, its connection stays open
        upgraded = cli("db", "upgrade", "--db", db_path)
        assert upgraded.exit_code == 0, upgraded.stderr
        assert _wal_bytes(db_path) == 0
        assert reader.execute("select count(*) from requests").fetchone() == (3050,)
    finally:
        reader.close()
    assert query(db_path, "pragma integrity_check") == [("ok",)]


def test_write_lock_held_by_another_process(server: FaultServer, db_path: Path) -> None:
    """S6: a BEGIN IMMEDIATE held ~2.5 s mid-run (longer than the busy timeout, shortened
    for the test) makes the writer wait and retry; no batch is dropped."""
    env = {"CAPTURE_TEST_BUSY_TIMEOUT_MS": "300"}
    proc = _spawn(f"{server.url}/?mix=500:30", db_path, "-n", "5000", "-c", "4", env=env)
    server.wait_for_entries(300, timeout_s=30)
    holder = sqlite3.connect(db_path, isolation_level=None, timeout=10)
    try:
        holder.execute("begin immediate")
        time.sleep(2.5)
        assert proc.poll() is None  # the run is still going: the lock was held mid-run
        holder.execute("commit")
    finally:
        holder.close()
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert "locked by another connection; waiting" in err  # the retry path, not busy_timeout
    assert query(
        db_path,
        "select status, requests_total, failed_total, failures_stored, failures_dropped from runs",
    ) == [("completed", 5000, 1500, 1500, 0)]
    ledger = _ledger(server, db_path, 1)
    assert len(ledger) == 5000 and _stored_ids(db_path, 1) == set(ledger)
    _assert_batches_intact(db_path, 1)
    assert "NOT stored" not in out


def test_write_lock_held_when_a_run_starts(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write lock held when a run starts ends it at once: exit 5, one line, no traffic."""
    assert cli("run", f"{server.url}/", "-n", "10", "--db", db_path, "--quiet").exit_code == 0
    server.clear()
    monkeypatch.setenv("CAPTURE_TEST_BUSY_TIMEOUT_MS", "200")
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("begin immediate")
        result = cli("run", f"{server.url}/", "-n", "10", "--db", db_path, "--quiet")
    finally:
        holder.execute("rollback")
        holder.close()
    assert result.exit_code == 5, result.stderr
    assert result.stderr == (
        "capture: error: cannot start a run in the database: database is locked\n"
    )
    assert server.entries() == []
    assert query(db_path, "select count(*) from runs") == [(1,)]


def _disk_full_run(server: FaultServer, db: Path, cli, env: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    """Runs the disk-full scenario on db and checks the documented rule (README.md)."""
    first = cli("run", f"{server.url}/?mix=500:30", "-n", "200", "--db", db, "--quiet")
    assert first.exit_code == 0, first.stderr
    before = query(db, "select * from requests order by id") + query(
        db, "select * from failures order by request_id"
    )
    server.clear()
    url = f"{server.url}/?mix=500:30&size=3000"
    proc = _spawn(url, db, "-n", "20000", "-c", "4", "--json", env=env)
    out, err = _finish(proc)
    assert proc.returncode == 5, err
    summary = json.loads(out)
    ledger = _ledger(server, db, 2)
    sent, sent_failed = len(ledger), sum(1 for s in ledger.values() if s == 500)
    assert 0 < sent < 20000  # it stopped sending
    assert summary["sent"] == sent and summary["failed"] == sent_failed

    assert query(db, "pragma integrity_check") == [("ok",)]
    ((status, total, ok, failed, stored, dropped, aborted),) = query(
        db,
        "select status, requests_total, ok_total, failed_total, failures_stored,"
        " failures_dropped, aborted_total from runs where id = 2",
    )
    ((rows_total, rows_failed, rows_stored, rows_dropped),) = query(
        db,
        "select count(*), sum(failed), count(f.request_id),"
        " sum(failed = 1 and f.request_id is null)"
        " from requests as r left join failures as f on f.request_id = r.id where r.run_id = 2",
    )
    # On a full disk even the end-of-run update may not fit: then the row stays
    # 'running' (shown as crashed) and the summary alone carries the totals.
    recorded = status == "failed"
    if recorded:
        assert aborted == 0
        assert (total, ok, failed) == (rows_total, rows_total - rows_failed, rows_failed)
        assert (stored, dropped) == (rows_stored, rows_dropped)
    else:
        assert (status, total, stored, dropped) == ("running", None, None, None)
        listed = cli("runs", "--db", db, "-f", "json")
        assert listed.exit_code == 0, listed.stderr
        assert json.loads(listed.stdout)[1]["status"] == "crashed"
    assert rows_failed == rows_stored + rows_dropped
    dropped = rows_dropped
    stored_ids = _stored_ids(db, 2)
    assert stored_ids <= ledger.keys()
    _assert_batches_intact(db, 2, dropped)
    # Nothing committed before is lost.
    after = query(db, "select * from requests where run_id = 1 order by id") + query(
        db, "select * from failures where run_id = 1 order by request_id"
    )
    assert after == before

    # One line on stderr says what was lost, in numbers the ledger and the file confirm.
    errors = [line for line in err.splitlines() if line.startswith("capture: error:")]
    assert len(errors) == 1, err
    message = re.fullmatch(
        r"capture: error: run 2 failed: database or disk is full; sending stopped; "
        r"(\d+) failures not stored \((\d+) of them kept a requests row\), "
        r"(\d+) requests got no row at all, (\d+) failures stored without bodies"
        r"(; could not record the end of run 2 \(database or disk is full\); it stays"
        r" 'running' and `capture runs` shows it as crashed)?",
        errors[0],
    )
    assert message, errors[0]
    not_stored, kept, no_row, stripped = map(int, message.groups()[:4])
    assert (message.group(5) is None) == recorded
    assert (not_stored, kept, no_row) == (sent_failed - rows_stored, dropped, sent - rows_total)
    # Stripped bodies say so: nothing stored, the size and the truncation flag kept.
    assert query(
        db,
        "select count(*), coalesce(sum(body_size = 3000 and body_truncated = 1), 0)"
        " from failures where run_id = 2 and body is null",
    ) == [(stripped, stripped)]
    assert not_stored + stripped > 0
    assert summary["dropped"] == dropped
    assert summary["storage_error"] == errors[0].removeprefix("capture: error: ")


def test_failures_refused_keep_their_requests_rows(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """When a failure cannot be stored even without its body (every insert into failures
    fails as if the disk were full), its requests row still is: failures_dropped."""
    opened = store.open_for_write

    def open_refusing_failures(db: str) -> Engine:
        engine = opened(db)

        @event.listens_for(engine, "before_cursor_execute")
        def _full(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            if statement.startswith("INSERT INTO failures"):
                raise sqlite3.OperationalError("database or disk is full")

        return engine

    monkeypatch.setattr(store, "open_for_write", open_refusing_failures)
    url = f"{server.url}/?mix=500:30"
    result = cli("run", url, "-n", "2000", "-c", "4", "--db", db_path, "--id-header", ID_HEADER)
    assert result.exit_code == 5, result.stderr
    ledger = _ledger(server, db_path, 1)
    sent_failed = sum(1 for s in ledger.values() if s == 500)
    assert 0 < len(ledger) < 2000 and _stored_ids(db_path, 1) == set(ledger)
    assert query(
        db_path,
        "select status, requests_total, failed_total, failures_stored, failures_dropped from runs",
    ) == [("failed", len(ledger), sent_failed, 0, sent_failed)]
    _assert_batches_intact(db_path, 1, dropped=sent_failed)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"capture: error: run 1 failed: database or disk is full; sending stopped; "
        f"{sent_failed} failures not stored ({sent_failed} of them kept a requests row), "
        "0 requests got no row at all, 0 failures stored without bodies"
    ]


def test_disk_full_by_page_limit(server: FaultServer, db_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """S4: SQLITE_FULL from a page limit: the run stops, is marked failed, exits 5, and
    failed_total = failures_stored + failures_dropped; committed rows are untouched."""
    store.open_for_write(str(db_path)).dispose()
    (pages,) = query(db_path, "pragma page_count")[0]
    # room for the first run and a few batches of the second
    _disk_full_run(server, db_path, cli, {"CAPTURE_TEST_MAX_PAGES": str(int(str(pages)) + 60)})


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, when this process may mount one (root in a container that allows it)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


def test_disk_full_on_a_tiny_tmpfs(server: FaultServer, tiny_disk: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """S4 on a real full file system (ENOSPC): the same rule as the page limit."""
    _disk_full_run(server, tiny_disk / "capture.db", cli, {})


def test_first_revision_file_is_upgraded_in_place(
    server: FaultServer,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """A file written at revision 0001 is upgraded to head by `capture run`, keeps its
    run intact, and gets the new run appended."""
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURES / "rev0001.db", db)
    assert query(db, "select version_num from alembic_version") == [("0001",)]
    columns = "id, run_id, seq, status, error_kind, failed, latency_ms, local_addr, correlation_id"
    old_requests = query(db, f"select {columns} from requests order by id")
    old_failures = query(
        db, "select request_id, reason, response_headers, body, body_size from failures"
    )
    old_run = query(db, "select * from runs")[0]
    assert (len(old_requests), len(old_failures)) == (240, 60)

    result = cli(
        "run", f"{server.url}/?mix=500:30&retry_after=1", "-n", "100", "--db", db, "--quiet",
        "--backend-header", "Retry-After",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr

    assert query(db, "select version_num from alembic_version") == [(store.head_revision(),)]
    assert query(db, "pragma integrity_check") == [("ok",)]
    assert query(db, f"select {columns} from requests where run_id = 1 order by id") == (
        old_requests
    )
    assert (
        query(
            db,
            "select request_id, reason, response_headers, body, body_size from failures"
            " where run_id = 1",
        )
        == old_failures
    )
    # 0003 appended run_key and cpu_s (unknown for an old run); the rest is as it was
    assert query(db, "select * from runs where id = 1") == [(*old_run, None, None, None)]
    # revision 0002 filled in the signature of the old failures and added the views
    assert query(db, "select count(*) from failures where body_signature is null") == [(0,)]
    assert query(db, "select count(*) from failure_details where run_id = 1") == [(60,)]
    assert query(
        db, "select status, requests_total, failed_total, failures_stored from runs where id = 2"
    ) == [("completed", 100, 30, 30)]
    assert query(
        db,
        "select min(id) > (select max(id) from requests where run_id = 1)"
        " from requests where run_id = 2",
    ) == [(1,)]
    listed = cli("runs", "--format", "json", "--db", db)
    assert [r["requests"] for r in json.loads(listed.stdout)] == [240, 100]
    # 0005: the old rows do not know their backend; the new run's rows do, failed or not
    assert query(
        db, "select run_id, backend, sum(failed), count(*) from requests group by 1, 2"
    ) == [
        (1, None, 60, 240),
        (2, "Retry-After: 1", 30, 100),
    ]


def test_files_are_owner_only(server: FaultServer, db_path: Path) -> None:
    """The database, -wal and -shm are 0600 with a umask of 0, while the WAL is live."""
    proc = _spawn(f"{server.url}/", db_path, "-n", "1500", "-c", "2", "--quiet", umask=0)
    server.wait_for_entries(50, timeout_s=30)  # the run has created -wal and -shm by now
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("begin")
        reader.execute("select count(*) from requests").fetchone()
        _, err = _finish(proc)
        assert proc.returncode == 0, err
        assert _wal_bytes(db_path) > 0  # the reader keeps the WAL alive
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in _files(db_path)}
        assert modes == {p.name: 0o600 for p in _files(db_path)}
    finally:
        reader.close()
