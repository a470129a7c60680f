"""Read-only access to a PostgreSQL --db for the reading commands, shaped like reader.py's.

Imported only for a postgresql:// --db: a read command on SQLite never loads psycopg.
The queries of queries.py, report.py and sockets.py are written once, in SQLite's SQL;
a PgConnection quacks like the sqlite3 connection they use (execute, cursor, rows read
by index and by name) and translates each distinct SQL text once: placeholders, and the
few SQLite constructs they use, so that every command prints byte for byte what it
prints on a SQLite file holding the same rows (NULL order, truncating casts, GLOB).
Each connect() is one REPEATABLE READ, READ ONLY transaction: one snapshot per command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg.adapt import Loader

from capture.errors import CaptureError, DataError, StorageError
from capture.store.location import LOST_CONNECTION, password_hint
from capture.store.pgsql import translate
from capture.store.source import ReadOnly, check_revision, hide_password, readable_revision

__all__ = [
    "PgConnection",
    "PgReadOnly",
    "PgRow",
    "open_pg_readonly",
    "read_error",
    "translate",
]

CONNECT_TIMEOUT_S = 10  # a server that does not answer: a clear error, not a hang
FETCH_ROWS = 20_000  # rows a server-side cursor brings per round trip when iterated


class PgRow(tuple[Any, ...]):
    """A result row read like sqlite3.Row: by position, by column name, or as dict(row)."""

    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Returns the column names, in the row's order."""
        return list(self._index)


def _named_rows(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    """psycopg row factory: one PgRow class per result, its names looked up once."""
    index: dict[str, int] = {}
    for i, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, i)  # the first of two equal names, as sqlite3.Row
    return type("PgRow", (PgRow,), {"_index": index})


def _plain_rows(cursor: Any) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """psycopg row factory: plain tuples (sqlite3's row_factory = None)."""
    return tuple


class _Numeric(Loader):
    """Loads numeric (sum of bigints, numeric round) as int or float, as SQLite has them."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if "." in text or not text.lstrip("-").isdigit() else int(text)


class PgCursor:
    """A psycopg cursor behind sqlite3's cursor interface, for the read queries."""

    def __init__(self, cursor: psycopg.Cursor[Any], db: str) -> None:
        self._cursor = cursor
        self._db = db  # for the message of a connection lost
        self._plain = False

    @property
    def row_factory(self) -> object:
        """None for plain tuples, as sqlite3's cursor.row_factory."""
        return None if self._plain else PgRow

    @row_factory.setter
    def row_factory(self, value: object) -> None:
        self._plain = value is None
        self._cursor.row_factory = _plain_rows if self._plain else _named_rows

    @property
    def description(self) -> Any:
        """Each column's name first, as sqlite3's cursor.description."""
        return self._cursor.description

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Runs one SQLite-dialect statement, translated; returns the cursor."""
        text, converts = translate(sql)
        values = list(params)
        for index, convert in converts:
            values[index] = convert(values[index])
        try:
            self._cursor.execute(text, values)
        except psycopg.Error as exc:
            raise read_error(exc, self._db) from None
        return self

    def fetchone(self) -> Any:
        """Returns the next row, or None."""
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        """Returns the remaining rows."""
        return self._cursor.fetchall()

    def fetchmany(self, size: int) -> list[Any]:
        """Returns up to size more rows."""
        return self._cursor.fetchmany(size)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cursor)


class PgConnection:
    """A read-only psycopg connection that runs the SQLite-dialect read queries."""

    def __init__(self, conn: psycopg.Connection[Any], db: str) -> None:
        self._conn = conn
        self._db = db
        self._cursors = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Runs a statement on a client-side cursor (all rows fetched at once)."""
        cursor = PgCursor(self._conn.cursor(row_factory=_named_rows), self._db)
        return cursor.execute(sql, params)

    def fetch_binary(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Runs one statement written for PostgreSQL (%s placeholders, not translated) and
        returns its rows as tuples, in binary: arrays of floats come without text parsing."""
        with self._conn.cursor(binary=True, row_factory=_plain_rows) as cursor:
            try:
                return cursor.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                raise read_error(exc, self._db) from None

    def cursor(self) -> PgCursor:
        """Returns a server-side cursor: rows come as they are read, memory stays flat."""
        self._cursors += 1
        raw = self._conn.cursor(f"capture_{self._cursors}", row_factory=_named_rows)
        raw.itersize = FETCH_ROWS
        return PgCursor(raw, self._db)


def _first_line(exc: BaseException) -> str:
    """Returns the first line of a driver error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


# How libpq words a connection that broke while a result was coming: the cause follows.
_LOST_PREFIXES = ("consuming input failed: ", "sending query failed: ")


def read_error(exc: psycopg.Error, db: str) -> CaptureError:
    """Returns the error of a failed read: StorageError naming the database (password
    hidden) when the connection or server went away (the store failed, not the data),
    DataError for what the server refused."""
    first = _first_line(exc)
    if not _connection_lost(exc):
        return DataError(f"cannot read the database: {first}")
    for prefix in _LOST_PREFIXES:
        first = first.removeprefix(prefix)
    password = _password(db)
    if password:
        first = first.replace(password, "***")
    return StorageError(f"{LOST_CONNECTION} {hide_password(db)}: {first}")


def _connection_lost(exc: psycopg.Error) -> bool:
    """Tells whether a driver error means the connection or the server went away."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    # No SQLSTATE: the client's own (connection closed, reset). 08: a connection
    # exception; 57P01-03: the server is shutting down (pg_terminate_backend too).
    return state is None or state.startswith(("08", "57P"))


def _libpq_url(db: str) -> str:
    """Returns the URL libpq takes: postgresql+psycopg:// is SQLAlchemy's spelling."""
    scheme, _, rest = db.partition("://")
    return f"postgresql://{rest}" if scheme.lower() == "postgresql+psycopg" else db


def _connect(db: str) -> psycopg.Connection[Any]:
    """Opens a read-only REPEATABLE READ connection; StorageError when it cannot."""
    try:
        conn = psycopg.connect(
            _libpq_url(db), connect_timeout=CONNECT_TIMEOUT_S, application_name="capture"
        )
    except psycopg.Error as exc:
        message = _first_line(exc)
        password = _password(db)
        if password:
            message = message.replace(password, "***")
        message = password_hint(message)
        raise StorageError(f"cannot open the database {hide_password(db)}: {message}") from None
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.adapters.register_loader("numeric", _Numeric)
    return conn


def _password(db: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        secret = urlsplit(db).password
    except ValueError:
        return None
    return unquote(secret) if secret else None


class PgReadOnly(ReadOnly):
    """A PostgreSQL database checked and opened for reading; connect() per query set."""

    postgres = True

    def __init__(self, db: str, revision: str) -> None:
        super().__init__(None, db, revision)

    @contextmanager
    def connect(self) -> Iterator[PgConnection]:
        """Yields a connection inside one read-only snapshot; closes it after."""
        conn = _connect(self.db)
        try:
            yield PgConnection(conn, self.db)
        except psycopg.Error as exc:
            raise read_error(exc, self.db) from None
        finally:
            conn.close()


def _revision_and_tables(db: str) -> tuple[str | None, set[str]]:
    conn = _connect(db)
    try:
        tables = {
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        }
        current = None
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            current = None if row is None else str(row[0])
    except psycopg.Error as exc:
        raise read_error(exc, db) from None
    finally:
        conn.close()
    return current, tables


def open_pg_readonly(db: str, *, any_revision: bool = False) -> PgReadOnly:
    """Opens a PostgreSQL capture database for reading; refuses what is not capture's,
    empty, or (unless any_revision) of an older revision, in SQLite's words."""
    where = f"--db {hide_password(db)!r}"
    current, tables = _revision_and_tables(db)
    check_revision(current, tables, allow_empty=False, where=where)
    found = readable_revision(current, any_revision=any_revision, upgrade=hide_password(db))
    return PgReadOnly(db, found)


def describe_pg(db: str) -> dict[str, object]:
    """Returns facts about a PostgreSQL capture database: where, size, revision, counts."""
    from capture.store.revisions import REVISIONS

    source = open_pg_readonly(db, any_revision=True)
    with source.connect() as conn:
        counts = {
            name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in ("runs", "requests", "failures")
        }
        (size,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    info: dict[str, object] = {
        "database": hide_password(db),
        "size_bytes": size,
        "schema": source.revision,
        "schema_latest": REVISIONS[-1],
    }
    info.update(counts)
    return info
