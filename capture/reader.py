"""Read-only access to a capture file, through the standard library's sqlite3.

The reading commands (failures, show, runs, summary, sockets, export, replay) and the
Python API's Database use this module, not SQLAlchemy: importing SQLAlchemy costs
~0.1-0.25 s, more than the queries themselves on a million-row file, and a reading
command has a start-up budget of 0.3 s (issue 3). The queries are plain SQL with bound
parameters; the schema they read is the public one in docs/schema.md.

A file is opened with `mode=ro` and `PRAGMA query_only`, so nothing here can create or
change it, and it can be read while a run is writing it (WAL) or when the user may not
write it. Every `connect()` is one read transaction: the queries of one command see one
snapshot of a run still in progress.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

from .errors import DataError, UsageError
from .revisions import REVISIONS

__all__ = [
    "ReadOnly",
    "check_revision",
    "check_sqlite_file",
    "describe",
    "hide_password",
    "open_readonly",
    "revision",
    "sqlite_path",
    "table_names",
]

BUSY_TIMEOUT_MS = 5000
SQLITE_MAGIC = b"SQLite format 3\x00"


def sqlite_path(db: str) -> Path:
    """Returns the file behind --db: a path, or a sqlite:/// URL (SQLAlchemy's form)."""
    if "://" not in db:
        return Path(db).expanduser().absolute()
    scheme, _, rest = db.partition("://")
    if scheme.lower() not in ("sqlite", "sqlite+pysqlite"):
        raise UsageError(f"--db {hide_password(db)!r}: capture files are SQLite files")
    # sqlite:///relative.db and sqlite:////absolute.db; the host part must be empty.
    if not rest.startswith("/") or rest in ("/", "/:memory:") or "?" in rest:
        raise UsageError(f"--db {db!r}: expected sqlite:///path/to/file.db")
    return Path(rest[1:]).expanduser().absolute()


def hide_password(url: str) -> str:
    """Returns a database URL with its password shown as '***'."""
    try:
        password = urlsplit(url).password if "://" in url else None
    except ValueError:
        return url
    return url if not password else url.replace(f":{password}@", ":***@", 1)


def check_sqlite_file(path: Path) -> None:
    """Refuses a directory or a file that is not SQLite, before SQLite sees it."""
    if path.is_dir():
        raise UsageError(f"--db {str(path)!r} is a directory")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise DataError(f"--db {str(path)!r}: cannot read ({exc.strerror})") from None
    if head and head != SQLITE_MAGIC:
        raise DataError(f"--db {str(path)!r} is not a SQLite database")


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


def check_revision(current: str | None, tables: set[str], *, allow_empty: bool) -> None:
    """Refuses files that are not capture's, or from a newer capture."""
    if current is None:
        if tables and not allow_empty:
            raise DataError("the database is not a capture file (no schema revision)")
        if tables - {"alembic_version"}:
            raise DataError("the database is not a capture file: it has other tables")
        return
    if current not in REVISIONS:
        from . import __version__

        raise DataError(
            f"the database has schema revision {current}, newer than this capture "
            f"({__version__}) knows: upgrade capture"
        )


class ReadOnly:
    """A capture file checked and opened for reading; connect() for each query set."""

    def __init__(self, path: Path, db: str, revision: str) -> None:
        self.path = path
        self.db = db  # as the user gave it, for messages
        self.revision = revision

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """Yields a read-only connection inside one read transaction; closes it after."""
        conn = _connect(self.path)
        try:
            conn.execute("BEGIN")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise DataError(f"cannot read the database: {exc}") from None
        finally:
            conn.close()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = _open(path, immutable=False)
    except sqlite3.OperationalError as exc:
        # A WAL file needs a -shm beside it; in a directory this user may not write,
        # SQLite cannot create one. With no -wal left (a finished run), the .db holds
        # everything and nothing is writing it, so it can be read as immutable.
        code = exc.sqlite_errorcode & 0xFF
        wal = path.with_name(path.name + "-wal")
        if code not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise DataError(f"cannot open the database {str(path)!r}: {exc}") from None
        if wal.exists() and wal.stat().st_size > 0:
            raise DataError(
                f"cannot read {str(path)!r}: it has a write-ahead log ({wal.name}) and this"
                " user cannot create the shared-memory file beside it; read it as its owner,"
                " or copy the .db and its -wal together to a writable directory"
            ) from None
        try:
            conn = _open(path, immutable=True)
        except sqlite3.DatabaseError as again:
            raise DataError(f"cannot open the database {str(path)!r}: {again}") from None
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot open the database {str(path)!r}: {exc}") from None
    conn.row_factory = sqlite3.Row
    return conn


def _open(path: Path, *, immutable: bool) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro{'&immutable=1' if immutable else ''}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the first real read
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(db: str, *, any_revision: bool = False) -> ReadOnly:
    """Opens an existing capture database read-only; never creates or changes a file.

    Files from an older schema are refused (the queries need the current one) unless
    any_revision: `capture db upgrade` brings them up to date.
    """
    path = sqlite_path(db)
    if not path.exists():
        raise DataError(f"--db {str(path)!r} does not exist")
    check_sqlite_file(path)
    conn = _connect(path)
    try:
        current = revision(conn)
        check_revision(current, table_names(conn), allow_empty=False)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read the database: {exc}") from None
    finally:
        conn.close()
    if current is None:
        raise DataError("the database is empty: no capture run was stored in it")
    if not any_revision and current != REVISIONS[-1]:
        raise DataError(
            f"the database has the older schema {current}: run `capture db upgrade --db {db}`"
        )
    return ReadOnly(path, db, current)


def describe(db: str) -> dict[str, object]:
    """Returns facts about a capture file: path, sizes, schema revision, row counts."""
    source = open_readonly(db, any_revision=True)
    with source.connect() as conn:
        counts = {
            name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ("runs", "requests", "failures")
        }
    wal = source.path.with_name(source.path.name + "-wal")
    info: dict[str, object] = {
        "path": str(source.path),
        "size_bytes": source.path.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "schema": source.revision,
        "schema_latest": REVISIONS[-1],
    }
    info.update(counts)
    return info
