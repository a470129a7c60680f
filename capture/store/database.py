"""Open a capture database, bring its schema to head, and manage run rows.

One engine per process role: the writer thread's (BEGIN IMMEDIATE, batched commits)
and read-only ones for the query commands. Pragmas are set on every connection.

Test-only: CAPTURE_TEST_MAX_PAGES=N sets `PRAGMA max_page_count` on write connections
(a full disk, without filling one) and CAPTURE_TEST_BUSY_TIMEOUT_MS=N shortens their
busy timeout (a lock held longer than it). Not a supported interface.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import Engine, create_engine, event, func, insert, select, update
from sqlalchemy.exc import DatabaseError, DBAPIError, OperationalError

from capture.errors import DataError, StorageError, UsageError
from capture.store.location import is_postgres
from capture.store.migrate import head_revision, migrate
from capture.store.reader import (
    BUSY_TIMEOUT_MS,
    check_revision,
    check_sqlite_file,
    file_revision,
    open_readonly,
    revision,
    sqlite_path,
    table_names,
    wal_file,
)
from capture.store.schema import failures, requests, runs
from capture.store.tally import StorageTally
from capture.version import __version__

if TYPE_CHECKING:
    pass

__all__ = [
    "BUSY_TIMEOUT_MS",
    "RunTotals",
    "create_run",
    "finish_run",
    "new_run_key",
    "now_iso",
    "open_for_write",
    "run_key",
    "run_totals",
    "upgrade_file",
]

CHECKPOINT_WAIT_MS = 500  # how long the end-of-run checkpoint waits for readers to finish
_TEST_MAX_PAGES_ENV = "CAPTURE_TEST_MAX_PAGES"
_TEST_BUSY_TIMEOUT_ENV = "CAPTURE_TEST_BUSY_TIMEOUT_MS"


def now_iso(ts: float | None = None) -> str:
    """Returns a UTC timestamp as ISO-8601 text with microseconds and a Z."""
    moment = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _install_pragmas(engine: Engine, *, writer: bool) -> None:
    busy_ms = BUSY_TIMEOUT_MS
    max_pages = None
    if writer:
        busy_ms = int(os.environ.get(_TEST_BUSY_TIMEOUT_ENV) or busy_ms)
        max_pages = int(os.environ.get(_TEST_MAX_PAGES_ENV) or 0) or None

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Take transactions into our own hands: pysqlite's implicit BEGIN is deferred,
        # and a deferred writer can fail with SQLITE_BUSY_SNAPSHOT mid-batch.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cur.execute("PRAGMA foreign_keys = ON")
        if writer:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA journal_size_limit = 67108864")
            if max_pages is not None:
                cur.execute(f"PRAGMA max_page_count = {max_pages}")
        else:
            cur.execute("PRAGMA query_only = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _precreate(path: Path) -> None:
    """Creates the database file owner-readable only; -wal and -shm inherit the mode."""
    if not path.parent.is_dir():
        raise UsageError(f"--db {str(path)!r}: directory {str(path.parent)!r} does not exist")
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise UsageError(f"--db {str(path)!r}: cannot create ({exc.strerror})") from None
    os.close(fd)


def _check_revision(engine: Engine, *, allow_empty: bool) -> str | None:
    """Returns the file's schema revision; refuses files that are not capture's or too new."""
    with engine.connect() as conn:
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        try:
            current = revision(driver)
            tables = table_names(driver)
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot open the database: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"cannot open the database: {exc}") from None
    check_revision(current, tables, allow_empty=allow_empty)
    return current


def open_for_write(db: str) -> Engine:
    """Opens (creating if needed) a database for a run and upgrades its schema to head.

    db is a SQLite path or sqlite:/// URL, or a postgresql:// URL (store/postgres.py)."""
    if is_postgres(db):
        from capture.store.postgres import open_postgres

        return open_postgres(db)
    path = sqlite_path(db)
    info = check_sqlite_file(path)  # before anything opens it: a FIFO would block
    existing = info is not None and info.st_size > 0  # an empty file counts as new
    if info is None:
        _precreate(path)
    if existing:
        # Look before touching: even switching on WAL would change a foreign file.
        current = file_revision(path, allow_empty=True)
    engine = create_engine(f"sqlite:///{path}", pool_size=2, max_overflow=2)
    try:
        _install_pragmas(engine, writer=True)
        if not existing:
            current = _check_revision(engine, allow_empty=True)
        if current != head_revision():
            upgrade(engine)
    except OperationalError as exc:
        raise StorageError(f"cannot open the database: {exc.orig}") from None
    except DatabaseError as exc:
        raise DataError(f"cannot open the database: {exc.orig}") from None
    return engine


def upgrade(engine: Engine) -> None:
    """Runs every migration the database has not had yet, on one connection."""
    with engine.connect() as conn:
        migrate(conn)
        conn.commit()


def upgrade_file(db: str) -> tuple[str | None, str]:
    """Upgrades a capture file to the latest schema. Returns (before, after) revisions."""
    before = open_readonly(db, any_revision=True).revision
    engine = open_for_write(db)
    checkpoint(engine)  # also folds back a WAL a run had to leave behind
    engine.dispose()
    return before, head_revision()


class RunTotals(TypedDict):
    """A run's counts as the runs row holds them; sockets_used None: not known."""

    requests_total: int
    ok_total: int
    failed_total: int
    failures_stored: int
    sockets_used: int | None


RUN_KEY_BYTES = 4  # 8 hex digits: two runs share a key once in ~65,000 pairs


def new_run_key() -> str:
    """Returns a fresh random run key: 8 lowercase hex digits."""
    return secrets.token_hex(RUN_KEY_BYTES)


def create_run(
    engine: Engine, *, name: str | None, command_line: str, config_json: str, qps: float | None
) -> int:
    """Inserts a run row with status 'running' and a fresh run key; returns its id."""
    try:
        with engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    name=name,
                    started_at=now_iso(),
                    status="running",
                    command_line=command_line,
                    config_json=config_json,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    capture_version=__version__,
                    qps_asked=qps,
                    # The first part of every correlation id (KEY-SEQ): the run id alone
                    # restarts in every file, so ids from two files would collide.
                    run_key=new_run_key(),
                )
            )
            key = result.inserted_primary_key
    except OperationalError as exc:  # locked by another process, disk full, read-only file
        raise _start_error(engine, exc) from None
    except DBAPIError as exc:  # PostgreSQL: a role without INSERT rights on runs
        if engine.dialect.name != "postgresql":
            raise
        raise _start_error(engine, exc) from None
    assert key is not None and isinstance(key[0], int)
    run_id: int = key[0]
    return run_id


def _start_error(engine: Engine, exc: DBAPIError) -> StorageError:
    """Says a run cannot start in the database: on PostgreSQL in one line (its errors
    have several, the SQL among them) naming the database, its password hidden."""
    if engine.dialect.name != "postgresql":
        return StorageError(f"cannot start a run in the database: {exc.orig}")
    from capture.store.postgres import database_name, server_message

    return StorageError(
        f"cannot start a run in the database {database_name(engine)}: {server_message(exc)}"
    )


def run_key(engine: Engine, run_id: int) -> str:
    """Returns the run key create_run gave the run (every process of --procs reads it)."""
    try:
        with engine.connect() as conn:
            key = conn.execute(select(runs.c.run_key).where(runs.c.id == run_id)).scalar_one()
    except OperationalError as exc:
        raise _start_error(engine, exc) from None
    except DBAPIError as exc:
        if engine.dialect.name != "postgresql":
            raise
        raise _start_error(engine, exc) from None
    if not isinstance(key, str):
        raise StorageError(f"run {run_id} has no run key: it was not created by this capture")
    return key


def run_totals(engine: Engine, run_id: int) -> RunTotals:
    """Counts what the database holds for a run: requests, ok, failed, stored failures,
    and the TCP connections used (not client ports: the kernel reuses those)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(requests.c.failed), 0),
                func.count(requests.c.connection_id.distinct()),
            ).where(requests.c.run_id == run_id)
        ).one()
        stored = conn.execute(
            select(func.count()).select_from(failures).where(failures.c.run_id == run_id)
        ).scalar_one()
    total, failed, sockets = int(row[0]), int(row[1]), int(row[2])
    return {
        "requests_total": total,
        "ok_total": total - failed,
        "failed_total": failed,
        "failures_stored": int(stored),
        "sockets_used": sockets,
    }


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    duration_s: float,
    dropped: int,
    aborted: int,
    cpu_s: float | None = None,
    stored: StorageTally | None = None,
) -> tuple[RunTotals, str | None]:
    """Marks a run finished with its status and totals. Returns the totals, and why the
    end could not be written (None when it was): on a full disk even this small update
    can fail, and the caller still owes the user the run's summary.

    stored is what the writers stored: the totals when a PostgreSQL server that went
    away cannot count the rows."""
    try:
        totals = run_totals(engine, run_id)  # a read: works on a full disk
    except OperationalError as exc:
        if stored is None or engine.dialect.name != "postgresql":
            raise StorageError(f"could not count run {run_id} ({exc.orig})") from None
        return _tally_totals(stored), _unrecorded(run_id, exc)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=now_iso(),
                    duration_s=duration_s,
                    failures_dropped=dropped,
                    aborted_total=aborted,
                    cpu_s=cpu_s,
                    **totals,
                )
            )
    except OperationalError as exc:
        return totals, _unrecorded(run_id, exc)
    return totals, None


def _unrecorded(run_id: int, exc: OperationalError) -> str:
    """Says the end of a run could not be written, in one line (a PostgreSQL error has
    several: the first says what happened)."""
    first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    return (
        f"could not record the end of run {run_id} ({first}); "
        "it stays 'running' and `capture runs` shows it as crashed"
    )


def _tally_totals(stored: StorageTally) -> RunTotals:
    """Returns run_totals' figures from what the writers stored; the TCP connection count
    is None, not known: only the rows know it."""
    failed = stored.stored_failures + stored.dropped_failures
    return {
        "requests_total": stored.stored_requests,
        "ok_total": stored.stored_requests - failed,
        "failed_total": failed,
        "failures_stored": stored.stored_failures,
        "sockets_used": None,
    }


def checkpoint(engine: Engine, *, wait_ms: int = CHECKPOINT_WAIT_MS) -> str | None:
    """Folds the WAL back into the database file, so the .db alone is complete.

    Waits at most wait_ms for readers to finish. Returns None when done, or says how
    much is left in the -wal file and why.
    """
    if engine.dialect.name != "sqlite":
        return None  # a server keeps its own log
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    conn: sqlite3.Connection = raw.driver_connection  # type: ignore[assignment]
    why = "another connection holds a read transaction"
    try:
        (busy_ms,) = conn.execute("PRAGMA busy_timeout").fetchone()
        # TRUNCATE waits (busy handler) until no reader uses the WAL; a reader holding a
        # snapshot for the whole run would stall the end of the run for busy_timeout.
        conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
        try:
            (blocked, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    except sqlite3.Error as exc:  # disk full: the checkpoint grows the .db file
        blocked, why = 1, str(exc)
    finally:
        raw.close()
    if not blocked:
        return None
    wal = wal_file(Path(str(engine.url.database)))
    size = wal.stat().st_size if wal.exists() else 0
    return f"{size} bytes are still in {wal} ({why})"


def program_name() -> str:
    """Returns how the user invoked capture, for the runs.command_line column."""
    return Path(sys.argv[0]).name or "capture"
