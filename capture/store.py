"""Open a capture database, bring its schema to head, and manage run rows.

One engine per process role: the writer thread's (BEGIN IMMEDIATE, batched commits)
and read-only ones for the query commands. Pragmas are set on every connection.

Test-only: CAPTURE_TEST_MAX_PAGES=N sets `PRAGMA max_page_count` on write connections
(a full disk, without filling one) and CAPTURE_TEST_BUSY_TIMEOUT_MS=N shortens their
busy timeout (a lock held longer than it). Not a supported interface.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, func, insert, inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from . import __version__
from .errors import DataError, StorageError, UsageError
from .schema import REVISIONS, failures, requests, runs

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "create_run",
    "database_url",
    "describe",
    "finish_run",
    "now_iso",
    "open_for_write",
    "open_readonly",
    "run_totals",
    "upgrade_file",
]

BUSY_TIMEOUT_MS = 5000
CHECKPOINT_WAIT_MS = 500  # how long the end-of-run checkpoint waits for readers to finish
_TEST_MAX_PAGES_ENV = "CAPTURE_TEST_MAX_PAGES"
_TEST_BUSY_TIMEOUT_ENV = "CAPTURE_TEST_BUSY_TIMEOUT_MS"
_SQLITE_MAGIC = b"SQLite format 3\x00"


def now_iso(ts: float | None = None) -> str:
    """Returns a UTC timestamp as ISO-8601 text with microseconds and a Z."""
    moment = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def database_url(db: str) -> str:
    """Turns a path or a SQLAlchemy URL into a SQLAlchemy URL."""
    if "://" in db:
        try:
            make_url(db)
        except ArgumentError:
            raise UsageError(f"--db {db!r} is not a valid database URL") from None
        return db
    return f"sqlite:///{Path(db).expanduser().absolute()}"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def _migrations_dir() -> str:
    # Installed: the capture.migrations package. From a checkout: the top-level folder.
    try:
        return str(resources.files("capture.migrations"))
    except ModuleNotFoundError:  # pragma: no cover - only when packaging is broken
        return str(Path(__file__).resolve().parent.parent / "migrations")


def _alembic_config() -> Config:
    # Alembic is imported only to migrate: read commands start faster without it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    return cfg


def head_revision() -> str:
    """Returns the newest schema revision this version of capture knows."""
    return REVISIONS[-1]


def _current_revision(conn: Connection) -> str | None:
    """Returns the file's alembic_version, or None when it has none."""
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError:  # no such table
        conn.rollback()
        return None


def _table_names(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
        return {str(name) for (name,) in rows}
    return set(inspect(conn).get_table_names())


def _install_pragmas(engine: Engine, *, writer: bool) -> None:
    if engine.dialect.name != "sqlite":
        return
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


def _check_sqlite_file(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"--db {str(path)!r} is a directory")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise DataError(f"--db {str(path)!r}: cannot read ({exc.strerror})") from None
    if head and head != _SQLITE_MAGIC:
        raise DataError(f"--db {str(path)!r} is not a SQLite database")


def _check_revision(engine: Engine, *, allow_empty: bool) -> str | None:
    """Returns the file's schema revision; refuses files that are not capture's or too new."""
    with engine.connect() as conn:
        current = _current_revision(conn)
        tables = _table_names(conn)
    if current is None:
        if tables and not allow_empty:
            raise DataError("the database is not a capture file (no schema revision)")
        if tables - {"alembic_version"}:
            raise DataError("the database is not a capture file: it has other tables")
        return None
    if current not in REVISIONS:
        raise DataError(
            f"the database has schema revision {current}, newer than this capture "
            f"({__version__}) knows: upgrade capture"
        ) from None
    return current


def open_for_write(db: str) -> Engine:
    """Opens (creating if needed) a database for a run and upgrades its schema to head."""
    url = database_url(db)
    # Built first: an unknown dialect or missing driver must fail before any file exists.
    engine = _create_engine(url, pool_size=2, max_overflow=2)
    path = _sqlite_path(url)
    existing = path is not None and path.exists() and path.stat().st_size > 0
    if path is not None:
        if path.exists():
            _check_sqlite_file(path)
        else:
            _precreate(path)
    try:
        if existing:
            # Look before touching: even switching on WAL would change a foreign file.
            probe = _readonly_engine(url)
            try:
                current = _check_revision(probe, allow_empty=True)
            finally:
                probe.dispose()
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
    from alembic import command

    cfg = _alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()


def _create_engine(url: str, **options: Any) -> Engine:
    """create_engine, with an unusable URL (unknown dialect, missing driver) as UsageError."""
    try:
        return create_engine(url, **options)
    except (ArgumentError, ImportError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise UsageError(f"--db {shown!r}: cannot use this database URL ({exc})") from None


def _readonly_engine(url: str) -> Engine:
    path = _sqlite_path(url)
    if path is not None:
        url = f"sqlite:///file:{path.absolute()}?mode=ro&uri=true"
    engine = _create_engine(url)
    _install_pragmas(engine, writer=False)
    return engine


def open_readonly(db: str, *, any_revision: bool = False) -> Engine:
    """Opens an existing capture database read-only; never creates or changes a file.

    Files from an older schema are refused (the queries need the current one) unless
    any_revision: `capture db upgrade` brings them up to date.
    """
    url = database_url(db)
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise DataError(f"--db {str(path)!r} does not exist")
        _check_sqlite_file(path)
    engine = _readonly_engine(url)
    try:
        current = _check_revision(engine, allow_empty=False)
    except DatabaseError as exc:
        raise DataError(f"cannot read the database: {exc.orig}") from None
    if current is None:
        raise DataError("the database is empty: no capture run was stored in it")
    if not any_revision and current != head_revision():
        raise DataError(
            f"the database has the older schema {current}: run `capture db upgrade --db {db}`"
        )
    return engine


def describe(db: str) -> dict[str, object]:
    """Returns facts about a capture file: path, sizes, schema revision, row counts."""
    engine = open_readonly(db, any_revision=True)
    url = database_url(db)
    path = _sqlite_path(url)
    with engine.connect() as conn:
        current = _current_revision(conn)
        counts = {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in (("runs", runs), ("requests", requests), ("failures", failures))
        }
    info: dict[str, object] = {"path": str(path) if path else url}
    if path is not None:
        info["size_bytes"] = path.stat().st_size
        wal = path.with_name(path.name + "-wal")
        info["wal_bytes"] = wal.stat().st_size if wal.exists() else 0
    info["schema"] = current
    info["schema_latest"] = head_revision()
    info.update(counts)
    engine.dispose()
    return info


def upgrade_file(db: str) -> tuple[str | None, str]:
    """Upgrades a capture file to the latest schema. Returns (before, after) revisions."""
    probe = open_readonly(db, any_revision=True)
    with probe.connect() as conn:
        before = _current_revision(conn)
    probe.dispose()
    engine = open_for_write(db)
    checkpoint(engine)  # also folds back a WAL a run had to leave behind
    engine.dispose()
    return before, head_revision()


def create_run(
    engine: Engine, *, name: str | None, command_line: str, config_json: str, qps: float | None
) -> int:
    """Inserts a run row with status 'running' and returns its id."""
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
                )
            )
            key = result.inserted_primary_key
    except OperationalError as exc:  # locked by another process, disk full, read-only file
        raise StorageError(f"cannot start a run in the database: {exc.orig}") from None
    assert key is not None and isinstance(key[0], int)
    run_id: int = key[0]
    return run_id


def run_totals(engine: Engine, run_id: int) -> dict[str, int]:
    """Counts what the database holds for a run: requests, ok, failed, stored failures, sockets."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(requests.c.failed), 0),
                func.count(requests.c.local_addr.distinct()),
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
    engine: Engine, run_id: int, *, status: str, duration_s: float, dropped: int, aborted: int
) -> dict[str, int]:
    """Marks a run finished with its status, stores its totals, and returns them."""
    try:
        totals = run_totals(engine, run_id)
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
                    **totals,
                )
            )
    except OperationalError as exc:
        raise StorageError(
            f"could not record the end of run {run_id} ({exc.orig}); "
            "it stays 'running' and `capture runs` shows it as crashed"
        ) from None
    return totals


def checkpoint(engine: Engine, *, wait_ms: int = CHECKPOINT_WAIT_MS) -> str | None:
    """Folds the WAL back into the database file, so the .db alone is complete.

    Waits at most wait_ms for readers to finish. Returns None when done, or says how
    much is left in the -wal file and why.
    """
    if engine.dialect.name != "sqlite":
        return None
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
    path = _sqlite_path(str(engine.url))
    if not blocked or path is None:
        return None
    wal = path.with_name(path.name + "-wal")
    size = wal.stat().st_size if wal.exists() else 0
    return f"{size} bytes are still in {wal} ({why})"


def program_name() -> str:
    """Returns how the user invoked capture, for the runs.command_line column."""
    return Path(sys.argv[0]).name or "capture"
