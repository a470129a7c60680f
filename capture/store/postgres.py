"""The PostgreSQL store: open a server's database for a run, migrate it, COPY batches.

Imported only for a postgresql:// --db, and psycopg 3 only from here: a SQLite run or a
read command never loads the driver. The schema is the SQLite file's, from the same
Alembic migrations (PostgreSQL types where they matter: bigint, bytea; timestamps stay
ISO-8601 text, so every read command prints the same as on SQLite).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ArgumentError, DBAPIError

from capture.errors import StorageError, UsageError
from capture.store.columns import FAILURES, REQUESTS
from capture.store.location import LOST_CONNECTION, password_hint, require_driver, sqlalchemy_url
from capture.store.migrate import head_revision, migrate
from capture.store.reader import check_revision, hide_password

__all__ = [
    "CONNECT_TIMEOUT_S",
    "batch_outcome",
    "connection_lost",
    "copy_batch",
    "database_name",
    "open_postgres",
    "server_message",
    "store_batch",
    "store_waiting",
]

log = logging.getLogger("capture")

CONNECT_TIMEOUT_S = 10  # a server that does not answer: a clear error, not a hang
# Every capture process that migrates takes this lock first, so N hosts starting at
# once upgrade a new database once (the others wait, then find it at head).
_MIGRATE_LOCK = 0x63617074  # 'capt'

# Binary COPY: ~4x less client CPU per row than text (notes/scale-and-reports.md), given
# each column's type, read from the server once per connection (_column_types).
_COPY_REQUESTS = f"COPY requests ({', '.join(REQUESTS.names)}) FROM STDIN (FORMAT BINARY)"
_COPY_FAILURES = f"COPY failures ({', '.join(FAILURES.names)}) FROM STDIN (FORMAT BINARY)"
_TYPES_SQL = (
    "SELECT a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a"
    " WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped"
)
# Every database the writer writes is at head: the same types, read once per process.
_types_cache: dict[str, list[str]] = {}


def server_message(exc: BaseException) -> str:
    """Returns the first line of a driver error, without the URL's password."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first


def database_name(engine: Engine) -> str:
    """Returns the engine's database as the user spells it, postgresql://user:***@host/db."""
    url = engine.url.set(drivername="postgresql")
    return hide_password(url.render_as_string(hide_password=True))


def connection_lost(exc: DBAPIError) -> bool:
    """Tells whether a driver error means the server or the connection went away (worth
    waiting for), not that the server refused the statement (disk full, a bad value)."""
    import psycopg

    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if not isinstance(orig, psycopg.OperationalError):
        return False
    state = orig.sqlstate
    # No SQLSTATE: the client's own error (connection refused, reset, closed). 08: a
    # connection exception; 57P01-03: the server is shutting down or starting up.
    return state is None or state.startswith(("08", "57P"))


def open_postgres(db: str, *, pool_size: int = 2) -> Engine:
    """Connects to a PostgreSQL --db, checks it is capture's (or empty), and upgrades its
    schema to head under an advisory lock. Raises StorageError when the server cannot
    be reached, with the URL's password hidden."""
    require_driver()
    where = hide_password(db)
    try:
        engine = _engine(db, pool_size)
    except (ArgumentError, ValueError):  # a port that is not a number, a bad [host]
        # Not the exception's text: SQLAlchemy's quotes the whole URL, password included.
        raise UsageError(f"--db {where!r}: not a valid postgresql:// URL") from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATE_LOCK})")
            current = _revision(conn)
            check_revision(current, _tables(conn), allow_empty=True, where=where)
            if current != head_revision():
                migrate(conn)
            conn.commit()
    except DBAPIError as exc:
        engine.dispose()
        why = password_hint(server_message(exc))
        raise StorageError(f"cannot open the database {where}: {why}") from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _engine(db: str, pool_size: int) -> Engine:
    """Returns the engine of a PostgreSQL --db; connects only when first used."""
    return create_engine(
        sqlalchemy_url(db),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "application_name": "capture",
            # A server that vanishes without a reset (a host down, a cable out) is found
            # in ~20 s instead of the kernel's two hours.
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )


def _revision(conn: Connection) -> str | None:
    if conn.exec_driver_sql("SELECT to_regclass('alembic_version')").scalar() is None:
        return None
    found = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if found is None else str(found)


def _tables(conn: Connection) -> set[str]:
    rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
    return {str(r[0]) for r in rows}


def copy_batch(
    conn: Connection,
    request_rows: Sequence[tuple[Any, ...]],
    failure_rows: Sequence[tuple[int, Sequence[Any]]],
) -> int:
    """Stores one batch with two COPYs in the caller's transaction; returns the
    transaction's id, which batch_outcome() asks about when the COMMIT's answer is lost.

    Ids come from the requests sequence, one call for the batch: several hosts write at
    once, and a sequence hands each its own ids without a lock. request_rows are the
    writer's rows without the id (seq second); failure_rows pair a seq with a failures
    row without its request_id. Driver errors are raised as SQLAlchemy's DBAPIError."""
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        return _copy(raw, request_rows, failure_rows)
    except psycopg.Error as exc:
        raise DBAPIError.instance(
            _COPY_REQUESTS, None, exc, psycopg.Error, connection_invalidated=raw.broken
        ) from exc


def _copy(
    raw: Any,
    request_rows: Sequence[tuple[Any, ...]],
    failure_rows: Sequence[tuple[int, Sequence[Any]]],
) -> int:
    with raw.cursor() as cur:
        request_types = _column_types(cur, "requests", REQUESTS.names)
        failure_types = _column_types(cur, "failures", FAILURES.names)
        # txid_current() rides on the ids' query: no extra round trip per batch.
        cur.execute(
            "SELECT nextval('requests_id_seq'), txid_current() FROM generate_series(1, %s)",
            (len(request_rows),),
        )
        fetched = cur.fetchall()
        ids = {row[1]: new_id for row, (new_id, _) in zip(request_rows, fetched, strict=True)}
        with cur.copy(_COPY_REQUESTS) as copy:
            copy.set_types(request_types)
            for row in request_rows:
                copy.write_row((ids[row[1]], *row))
        if failure_rows:
            with cur.copy(_COPY_FAILURES) as copy:
                copy.set_types(failure_types)
                for seq, values in failure_rows:
                    copy.write_row((ids[seq], *_no_nul(values)))
    return int(fetched[0][1])


def _no_nul(values: Sequence[Any]) -> Sequence[Any]:
    """Returns a failures row whose text holds no NUL: PostgreSQL's text cannot, and one
    NUL (a binary body's signature, a reason phrase) would refuse the whole batch. Each
    becomes U+FFFD (docs/schema.md); bodies are bytea and keep every byte."""
    if not any(type(v) is str and "\x00" in v for v in values):
        return values
    return [v.replace("\x00", "\ufffd") if type(v) is str else v for v in values]


def _column_types(cur: Any, table: str, names: Sequence[str]) -> list[str]:
    """Returns the server's type of each column, in names' order (cached per process)."""
    found = _types_cache.get(table)
    if found is None:
        cur.execute(_TYPES_SQL, (table,))
        by_name = {str(name): str(kind) for name, kind in cur.fetchall()}
        found = _types_cache[table] = [by_name[name] for name in names]
    return found


def store_batch(
    engine: Engine,
    request_rows: Sequence[tuple[Any, ...]],
    failure_rows: Sequence[tuple[int, Sequence[Any]]],
    committing: list[int],
) -> None:
    """Stores one batch in its own transaction; appends its xid to committing just
    before the COMMIT, so a caller whose COMMIT got no answer knows what to ask about."""
    with engine.begin() as conn:
        committing.append(copy_batch(conn, request_rows, failure_rows))


def store_waiting(
    engine: Engine,
    request_rows: Sequence[tuple[Any, ...]],
    failure_rows: Sequence[tuple[int, Sequence[Any]]],
    *,
    wait_s: float,
    abandon: threading.Event,
) -> tuple[str | None, int]:
    """Stores one batch, waiting up to wait_s for a server that went away. Returns the
    cause of a failure (None when stored; a gone server's starts with LOST_CONNECTION)
    and how many rows are in doubt: sent in a COMMIT whose answer was lost.

    A COMMIT without an answer is never sent again blindly: its transaction's status is
    asked first, so a batch the server did keep is not stored twice."""
    cause = f"{LOST_CONNECTION}: the server went away"
    doubt: int | None = None  # the xid of a COMMIT whose answer was lost
    give_up_at: float | None = None
    delay = 0.05
    while True:
        committing: list[int] = []
        try:
            if doubt is None:
                store_batch(engine, request_rows, failure_rows, committing)
                return None, 0
            outcome = batch_outcome(engine, doubt)
            if outcome == "committed":
                return None, 0
            if outcome != "in progress":  # aborted: the batch is not there, send it
                doubt = None
                continue
        except DBAPIError as exc:
            if not connection_lost(exc):
                return server_message(exc), 0  # the server refused it: disk full, ...
            cause = f"{LOST_CONNECTION}: {server_message(exc)}"
            if doubt is None and committing:
                doubt = committing[0]
        now = time.monotonic()
        if give_up_at is None:
            give_up_at = now + wait_s
            log.warning("capture: %s; waiting for it (up to %.0f s)", cause, wait_s)
        if abandon.is_set() or now >= give_up_at:
            return cause, 0 if doubt is None else len(request_rows)
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def batch_outcome(engine: Engine, xid: int) -> str | None:
    """Returns 'committed', 'aborted' or 'in progress' for a batch's transaction, on a
    new connection (None: too old to tell). Raises DBAPIError while the server is away."""
    with engine.connect() as conn:
        found = conn.exec_driver_sql(f"SELECT txid_status({int(xid)})").scalar()
    return None if found is None else str(found)
