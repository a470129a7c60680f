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

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import psycopg
from psycopg.adapt import Loader

from capture.errors import DataError, StorageError
from capture.store.columns import TABLES
from capture.store.filters import glob_regex
from capture.store.reader import ReadOnly, check_revision, hide_password, readable_revision

__all__ = ["PgConnection", "PgReadOnly", "PgRow", "open_pg_readonly", "translate"]

CONNECT_TIMEOUT_S = 10  # a server that does not answer: a clear error, not a hang
FETCH_ROWS = 20_000  # rows a server-side cursor brings per round trip when iterated

# Strings, quoted names, words, spaces, then any other single character.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\w+|\s+|.", re.S)
_ORDER_END = frozenset({"LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", ")", ";"})


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


@functools.lru_cache(maxsize=256)
def translate(sql: str) -> tuple[str, tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """Returns SQLite SQL rewritten for PostgreSQL, and the parameters to convert on the
    way (their position, the conversion): a GLOB pattern becomes a regex, LIMIT -1 NULL."""
    tokens = _TOKENS.findall(sql)
    tokens = _rewrite_calls(tokens)
    tokens = _nulls_like_sqlite(tokens)
    out: list[str] = []
    converts: list[tuple[int, Callable[[Any], Any]]] = []
    params = 0
    for i, token in enumerate(tokens):
        upper = token.upper()
        if token == "?":
            before = _previous_word(tokens, i)
            if before == "GLOB":
                converts.append((params, glob_regex))
            elif before == "LIMIT":
                converts.append((params, _no_limit))
            params += 1
            out.append("%s")
        elif upper == "GLOB":
            out.append("~")
        elif upper == "BINARY" and _previous_word(tokens, i) == "COLLATE":
            out.append('"C"')  # byte order, whatever the database's collation
        else:
            out.append(token.replace("%", "%%"))
    text = re.sub(r"\s+INDEXED\s+BY\s+\w+", "", "".join(out), flags=re.I)
    return text, tuple(converts)


def _no_limit(value: Any) -> Any:
    """SQLite's LIMIT -1 is PostgreSQL's LIMIT NULL: no limit."""
    return None if isinstance(value, int) and value < 0 else value


def _previous_word(tokens: Sequence[str], i: int) -> str:
    """Returns the upper-cased token before tokens[i], spaces skipped."""
    for token in reversed(tokens[:i]):
        if not token.isspace():
            return token.upper()
    return ""


def _closing(tokens: Sequence[str], start: int) -> int:
    """Returns the index of the ')' matching the '(' at tokens[start]."""
    depth = 0
    for i in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses in SQL")


def _arguments(tokens: Sequence[str]) -> list[str]:
    """Splits a call's argument tokens at its top-level commas; returns each as text."""
    args: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 0:
            args.append([])
        else:
            args[-1].append(token)
    return ["".join(a).strip() for a in args]


def _rewrite_calls(tokens: list[str]) -> list[str]:
    """Rewrites the SQLite-only functions the read queries call into PostgreSQL's."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        name = tokens[i].lower()
        if name in _CALLS and i + 1 < len(tokens) and tokens[i + 1] == "(":
            end = _closing(tokens, i + 1)
            inner = "".join(_rewrite_calls(tokens[i + 2 : end]))
            out.extend(_TOKENS.findall(_CALLS[name](inner)))
            i = end + 1
            continue
        out.append(tokens[i])
        i += 1
    return out


def _cast(inner: str) -> str:
    """CAST(x AS INTEGER) truncates in SQLite; PostgreSQL's rounds."""
    expr, sep, kind = inner.rpartition(" AS ")
    if not sep or kind.strip().upper() != "INTEGER":
        return f"CAST({inner})"
    return f"trunc({expr})::bigint"


def _instr(inner: str) -> str:
    haystack, needle = _arguments(_TOKENS.findall(inner))
    return f"position({needle} in {haystack})"


def _json_extract(inner: str) -> str:
    value, path = _arguments(_TOKENS.findall(inner))
    found = re.fullmatch(r"'\$\[(\d+)\]'", path)
    if found is None:
        raise ValueError(f"json_extract path {path} is not translated")
    return f"(({value})::jsonb ->> {found.group(1)})"


_CALLS: dict[str, Callable[[str], str]] = {
    "cast": _cast,
    "instr": _instr,
    "json_extract": _json_extract,
    # jsonb_array_elements' column is called value, as json_each's is.
    "json_each": lambda inner: f"jsonb_array_elements(({inner})::jsonb)",
    "group_concat": lambda inner: f"string_agg(({inner})::text, ',')",
}


def _nulls_like_sqlite(tokens: list[str]) -> list[str]:
    """Gives every ORDER BY term SQLite's NULL order: first ascending, last descending."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        out.append(tokens[i])
        i += 1
        if out[-1].upper() != "BY" or _previous_word(out, len(out) - 1) != "ORDER":
            continue
        depth, clause = 0, []
        while i < len(tokens) and not (depth == 0 and tokens[i].upper() in _ORDER_END):
            depth += {"(": 1, ")": -1}.get(tokens[i], 0)
            clause.append(tokens[i])
            i += 1
        terms = _arguments(clause)
        out.append(" " + ", ".join(_with_nulls(t) for t in terms) + " ")
    return _TOKENS.findall("".join(out))


def _never_null() -> frozenset[str]:
    """Returns the column names that are NOT NULL in every table that has them."""
    names = {c.name for t in TABLES for c in t.columns}
    nullable = {c.name for t in TABLES for c in t.columns if c.nullable}
    return frozenset(names - nullable)


# ORDER BY id DESC NULLS LAST cannot walk an index (a descending scan puts NULLs first):
# a column that holds no NULL keeps its plain term, and its index.
_NEVER_NULL = _never_null()
_COLUMN_TERM = re.compile(r"(?:\w+\.)?(\w+)(?:\s+(?:ASC|DESC))?", re.I)


def _with_nulls(term: str) -> str:
    words = term.upper().split()
    if not words or "NULLS" in words:
        return term
    column = _COLUMN_TERM.fullmatch(term.strip())
    if column is not None and column.group(1) in _NEVER_NULL:
        return term
    return f"{term} NULLS LAST" if words[-1] == "DESC" else f"{term} NULLS FIRST"


class PgCursor:
    """A psycopg cursor behind sqlite3's cursor interface, for the read queries."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
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
            raise DataError(f"cannot read the database: {_first_line(exc)}") from None
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

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._cursors = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        """Runs a statement on a client-side cursor (all rows fetched at once)."""
        cursor = PgCursor(self._conn.cursor(row_factory=_named_rows))
        return cursor.execute(sql, params)

    def cursor(self) -> PgCursor:
        """Returns a server-side cursor: rows come as they are read, memory stays flat."""
        self._cursors += 1
        raw = self._conn.cursor(f"capture_{self._cursors}", row_factory=_named_rows)
        raw.itersize = FETCH_ROWS
        return PgCursor(raw)


def _first_line(exc: BaseException) -> str:
    """Returns the first line of a driver error."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
            yield PgConnection(conn)
        except psycopg.Error as exc:
            raise DataError(f"cannot read the database: {_first_line(exc)}") from None
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
        raise DataError(f"cannot read the database: {_first_line(exc)}") from None
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
