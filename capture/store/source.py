"""What every read source is, SQLite file (reader.py) or PostgreSQL database (pgread.py):
the connection the read queries use, the checks both apply, in the same words.

Plain Python, no driver: reader.py and pgread.py both import it, neither imports the
other at module level.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from capture.errors import DataError
from capture.store.columns import TABLES
from capture.store.revisions import REVISIONS

__all__ = [
    "CAPTURE_TABLES",
    "ReadConnection",
    "ReadCursor",
    "ReadOnly",
    "check_revision",
    "hide_password",
    "readable_revision",
    "without_password",
]

CAPTURE_TABLES = frozenset({"alembic_version", *(t.name for t in TABLES)})
_CORE_TABLES = frozenset({"runs", "requests", "failures"})  # in every revision
_USERINFO_PASSWORD = re.compile(r"^([^:/?#]+://[^:/?#@]*:)[^/?#@]*@")
# libpq takes the password as a parameter too: postgresql://u@h/db?password=...
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def hide_password(url: str) -> str:
    """Returns a database URL with its password (user:PASSWORD@ or ?password=) as '***'."""
    if "://" not in url:
        return url
    url = _QUERY_PASSWORD.sub(r"\1***", url)
    try:
        password = urlsplit(url).password
    except ValueError:  # a bad [IPv6] host: the password is still between ':' and '@'
        return _USERINFO_PASSWORD.sub(r"\1***@", url, count=1)
    return url if not password else url.replace(f":{password}@", ":***@", 1)


def without_password(url: str) -> str:
    """Returns a database URL with no password at all, for a command to paste: libpq then
    takes the password from PGPASSWORD or ~/.pgpass (a '***' in it would be sent)."""
    if "://" not in url:
        return url
    url = re.sub(r"[?&]password=[^&#]*", "", url, flags=re.IGNORECASE)
    if "?" not in url and "&" in url:  # the first parameter went: the next one leads
        url = url.replace("&", "?", 1)
    try:
        password = urlsplit(url).password
    except ValueError:
        return hide_password(url)
    return url if password is None else url.replace(f":{password}@", "@", 1)


def check_revision(
    current: str | None, tables: set[str], *, allow_empty: bool, where: str = "the database"
) -> None:
    """Refuses files that are not capture's, or from a newer capture.

    A revision string alone proves nothing (another Alembic project has a '0001' too):
    the tables must be capture's as well. With allow_empty, a file without a single
    table counts as new.
    """
    own = {t for t in tables if not t.startswith("sqlite_")}  # SQLite's own bookkeeping
    if current is None:
        if allow_empty and own - {"alembic_version"}:
            raise DataError(f"{where} is not a capture file: it has other tables")
        if own:
            # Even a bare, empty alembic_version: capture creates it together with its
            # first revision, in one transaction, so this file is another tool's.
            raise DataError(f"{where} is not a capture file (no schema revision)")
        return
    foreign, missing = sorted(own - CAPTURE_TABLES), sorted(_CORE_TABLES - own)
    known = current in REVISIONS
    # A newer capture may add tables, but it keeps runs, requests and failures.
    if not known and not (foreign and missing):
        from capture.version import __version__

        raise DataError(
            f"{where} has schema revision {current}, newer than this capture "
            f"({__version__}) knows: upgrade capture"
        )
    if foreign or missing or not known:
        has = f"has table {', '.join(foreign)}" if foreign else f"lacks {', '.join(missing)}"
        raise DataError(
            f"{where} is not a capture file: {has}, alembic revision {current} is not capture's"
        )


class ReadCursor(Protocol):
    """What the read queries use of a cursor: sqlite3's, or pgread's for PostgreSQL."""

    row_factory: Any

    @property
    def description(self) -> Any: ...
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> ReadCursor: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class ReadConnection(Protocol):
    """What the read queries use of a connection: sqlite3's, or pgread's."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> ReadCursor: ...
    def cursor(self) -> ReadCursor: ...


class ReadOnly:
    """A database checked and opened for reading; connect() for each query set."""

    postgres = False  # pgread.PgReadOnly: a PostgreSQL database, path None

    def __init__(self, path: Path | None, db: str, revision: str) -> None:
        self.path = path
        self.db = db  # as the user gave it, for messages
        self.revision = revision

    def connect(self) -> AbstractContextManager[ReadConnection]:
        """Returns a context that yields a connection inside one read transaction."""
        raise NotImplementedError


def readable_revision(current: str | None, *, any_revision: bool, upgrade: str) -> str:
    """Returns a checked database's revision if the queries can read it; refuses an empty
    one, or an older one unless any_revision (upgrade: the --db to name in the advice)."""
    if current is None:
        raise DataError("the database is empty: no capture run was stored in it")
    if not any_revision and current != REVISIONS[-1]:
        raise DataError(
            f"the database has the older schema {current}: run `capture db upgrade --db {upgrade}`"
        )
    return current
