"""Read-only access to a capture file, through the standard library's sqlite3.

The reading commands (failures, show, runs, summary, sockets, export, replay) and the
Python API's Database use this module, not SQLAlchemy: importing SQLAlchemy costs
~0.1-0.25 s, more than the queries themselves on a million-row file, and a reading
command has a start-up budget of 0.3 s (issue 3). The queries are plain SQL with bound
parameters; the schema they read is the public one in docs/schema.md.

A file is opened with `PRAGMA query_only`, so nothing here can change it, and it can be
read while a run is writing it (WAL) or when the user may not write it. Every
`connect()` is one read transaction: the queries of one command see one snapshot of a
run still in progress. Before SQLite sees a path, it is checked to be a regular file
(a FIFO would block the open forever) that starts like a SQLite file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from capture.errors import DataError, UsageError
from capture.safe import SQLITE_MAGIC, read_head, regular_or_missing
from capture.store.location import is_postgres, refuse_libpq, require_driver
from capture.store.revisions import REVISIONS
from capture.store.source import (
    ReadConnection,
    ReadCursor,
    ReadOnly,
    check_revision,
    hide_password,
    readable_revision,
)

__all__ = [
    "ReadConnection",
    "ReadCursor",
    "ReadOnly",
    "SqliteFile",
    "check_revision",
    "check_sqlite_file",
    "describe",
    "file_revision",
    "hide_password",
    "open_readonly",
    "readable_revision",
    "revision",
    "sqlite_path",
    "table_names",
    "wal_file",
]

BUSY_TIMEOUT_MS = 5000  # for every connection, reading or writing (database.py)
# Reads map the file instead of copying each page through a read() call: a summary of a
# million-row run reads the table several times over, and those copies were a quarter of
# its time (system CPU, issue 15). Only address space; the pages are the OS's cache.
MMAP_BYTES = 1 << 30
HEADER_BYTES = 100  # the database header; bytes 18 and 19 are 2 in WAL mode
SIDECARS = ("-wal", "-shm", "-journal")  # files SQLite opens beside the database


def sqlite_path(db: str) -> Path:
    """Returns the file behind --db: a path, or a sqlite:/// URL (SQLAlchemy's form).
    Refuses a libpq keyword string: it names a server, not a file."""
    refuse_libpq(db)
    if "://" not in db:
        return Path(db).expanduser().absolute()
    scheme, _, rest = db.partition("://")
    if scheme.lower() not in ("sqlite", "sqlite+pysqlite"):
        raise UsageError(f"--db {hide_password(db)!r}: capture files are SQLite files")
    # sqlite:///relative.db and sqlite:////absolute.db; the host part must be empty.
    if not rest.startswith("/") or rest in ("/", "/:memory:") or "?" in rest:
        raise UsageError(f"--db {hide_password(db)!r}: expected sqlite:///path/to/file.db")
    return Path(rest[1:]).expanduser().absolute()


def sidecar(path: Path, suffix: str) -> Path:
    """Returns the -wal, -shm or -journal file that belongs beside a database."""
    return path.with_name(path.name + suffix)


def wal_file(path: Path) -> Path:
    """Returns the write-ahead log beside a database: what a run has not folded back yet."""
    return sidecar(path, "-wal")


def check_sqlite_file(path: Path) -> os.stat_result | None:
    """Refuses a special file, special files beside it, or a file that is not SQLite,
    without opening anything that could block. Returns the file's stat, None if missing."""
    info = regular_or_missing(path, what="--db")
    for suffix in SIDECARS:
        regular_or_missing(sidecar(path, suffix), what="beside --db,")
    if info is None:
        return None
    head = _header(path)
    if head and head[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise DataError(f"--db {str(path)!r} is not a SQLite database")
    return info


def _header(path: Path) -> bytes:
    try:
        return read_head(path, HEADER_BYTES, what="--db")
    except OSError as exc:
        raise DataError(f"--db {str(path)!r}: cannot read ({exc.strerror})") from None


def _wal_mode(path: Path) -> bool:
    head = _header(path)
    return len(head) >= 20 and head[18] == 2 and head[19] == 2


def revision(conn: sqlite3.Connection) -> str | None:
    """Returns the file's schema revision, or None when it has none."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else str(row[0])


def table_names(conn: sqlite3.Connection) -> set[str]:
    """Returns the names of the file's tables."""
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


class SqliteFile(ReadOnly):
    """A capture file checked and opened for reading; connect() for each query set."""

    @contextmanager
    def connect(self) -> Iterator[ReadConnection]:
        """Yields a read-only connection inside one read transaction; closes it after."""
        assert self.path is not None  # a SQLite file's
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise DataError(f"cannot read the database: {exc}") from None
        finally:
            conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    # A read-only connection to a WAL file creates -wal and -shm and, unable to
    # checkpoint, leaves them behind. With no -wal there (a finished run), open it
    # read-write but query_only: SQLite then deletes both when the last connection
    # closes, and a run that starts meanwhile simply keeps them.
    wal = wal_file(path)
    fresh = not wal.exists() and _wal_mode(path)
    try:
        conn = _open(path, mode="rw" if fresh else "ro")
    except sqlite3.OperationalError as exc:
        # A WAL file needs a -shm beside it; in a directory this user may not write,
        # SQLite cannot create one. With no -wal left (a finished run), the .db holds
        # everything and nothing is writing it, so it can be read as immutable.
        code = exc.sqlite_errorcode & 0xFF
        if code not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise DataError(f"cannot open the database: {exc} (--db {str(path)!r})") from None
        if wal.exists() and wal.stat().st_size > 0:
            raise DataError(
                f"cannot read {str(path)!r}: it has a write-ahead log ({wal.name}) and this"
                " user cannot create the shared-memory file beside it; read it as its owner,"
                " or copy the .db and its -wal together to a writable directory"
            ) from None
        try:
            conn = _open(path, mode="ro", immutable=True)
        except sqlite3.DatabaseError as again:
            raise DataError(f"cannot open the database: {again} (--db {str(path)!r})") from None
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot open the database: {exc} (--db {str(path)!r})") from None
    conn.row_factory = sqlite3.Row
    return conn


def _open(path: Path, *, mode: str, immutable: bool = False) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode={mode}{'&immutable=1' if immutable else ''}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")  # before the first read, and for good
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the first real read
    except BaseException:
        conn.close()
        raise
    return conn


def file_revision(path: Path, *, allow_empty: bool) -> str | None:
    """Returns a checked file's schema revision, reading it without changing it; refuses
    files that are not capture's or are too new."""
    conn = _connect(path)
    try:
        current = revision(conn)
        tables = table_names(conn)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the database: {exc}") from None
    finally:
        conn.close()
    check_revision(current, tables, allow_empty=allow_empty, where=f"--db {str(path)!r}")
    return current


def open_readonly(db: str, *, any_revision: bool = False) -> ReadOnly:
    """Opens an existing capture database read-only; never creates or changes a file.

    Files from an older schema are refused (the queries need the current one) unless
    any_revision: `capture db upgrade` brings them up to date. A postgresql:// URL opens
    the server's database the same way (pgread.py, psycopg imported only then).
    """
    if is_postgres(db):
        require_driver()
        from capture.store.pgread import open_pg_readonly

        return open_pg_readonly(db, any_revision=any_revision)
    path = sqlite_path(db)
    if check_sqlite_file(path) is None:
        raise DataError(f"--db {str(path)!r} does not exist")
    current = file_revision(path, allow_empty=False)
    return SqliteFile(path, db, readable_revision(current, any_revision=any_revision, upgrade=db))


def describe(db: str) -> dict[str, object]:
    """Returns facts about a capture file: path, sizes, schema revision, row counts."""
    if is_postgres(db):
        require_driver()
        from capture.store.pgread import describe_pg

        return describe_pg(db)
    source = open_readonly(db, any_revision=True)
    assert source.path is not None
    with source.connect() as conn:
        counts = {
            name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ("runs", "requests", "failures")
        }
    wal = wal_file(source.path)
    info: dict[str, object] = {
        "path": str(source.path),
        "size_bytes": source.path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "schema": source.revision,
        "schema_latest": REVISIONS[-1],
    }
    info.update(counts)
    return info
