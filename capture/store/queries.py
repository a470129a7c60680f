"""Read queries behind the inspection commands, in plain SQL on a read-only sqlite3
connection (reader.py). Filters reach SQL only as bound parameters."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any, Literal, TypedDict, TypeVar, cast, overload

from capture.errors import NotFoundError, UsageError
from capture.parse import MAX_ROW_ID
from capture.store.columns import FAILURES, REQUESTS, select_list
from capture.store.filters import FailureQuery, check_id
from capture.store.hosts import host_states
from capture.store.reader import ReadConnection, ReadCursor, ReadOnly
from capture.store.rows import ExchangeRow, FailureDetail, FailureRow, Neighbour, RunRow

__all__ = [
    "exchange",
    "exchange_in",
    "failure_batches",
    "failure_count",
    "failure_rows",
    "iter_failure_rows",
    "resolve_runs",
    "run_rows",
    "typed_rows",
]

FETCH_ROWS = 256  # rows taken from SQLite at a time by a streamed listing

# The columns of a failures listing, in its order; select_list refuses unknown names.
_LIST_COLUMNS = ", ".join((
    select_list("r", REQUESTS, "id", "run_id", "seq", "started_at", "offset_ms", "method",
                "url", "status", "error_kind", "latency_ms", "ttfb_ms"),
    select_list("f", FAILURES, "body_size", "body_truncated", "content_type"),
    select_list("r", REQUESTS, "local_addr", "remote_addr", "session", "connection_no",
                "connection_request_no", "correlation_id", "process", "connection_id", "host",
                "backend"),
))  # fmt: skip

_HEADER_EXISTS = (
    "EXISTS (SELECT 1 FROM json_each(f.response_headers) AS h"
    " WHERE lower(json_extract(h.value, '$[0]')) = lower(?)"
    " AND json_extract(h.value, '$[1]') = ?)"
)

_Row = TypeVar("_Row")


def typed_rows(cursor: ReadCursor, shape: type[_Row]) -> list[_Row]:
    """Returns the cursor's rows as dicts of the given shape (the SQL decides the keys)."""
    # Where an sqlite3 row becomes a typed one, unchecked: the SQL decides the keys, and
    # tests/store/test_rows.py checks them against the shapes.
    return [cast(_Row, dict(row)) for row in cursor]


def resolve_runs(conn: ReadConnection, spec: str | None) -> list[int] | None:
    """Turns --run ID|NAME|all (default: the latest) into run ids; None means all runs."""
    if spec is not None and spec.strip().lower() == "all":
        return None
    if spec is None or spec.strip().lower() == "latest":
        (latest,) = conn.execute("SELECT max(id) FROM runs").fetchone()
        if latest is None:
            raise NotFoundError("the database holds no runs yet")
        return [int(latest)]
    spec = spec.strip()
    if spec.isascii() and spec.isdigit():  # not '²': str.isdigit() is true for it
        if int(spec) > MAX_ROW_ID:
            raise UsageError(f"run id {spec} is larger than any id ({MAX_ROW_ID})")
        (found,) = conn.execute("SELECT max(id) FROM runs WHERE id = ?", (int(spec),)).fetchone()
    else:
        (found,) = conn.execute("SELECT max(id) FROM runs WHERE name = ?", (spec,)).fetchone()
    if found is None:
        raise NotFoundError(f"no run {spec!r} in this database (see: capture runs)")
    return [int(found)]


def _conditions(q: FailureQuery) -> tuple[list[str], list[Any]]:
    """Returns the WHERE terms of q and their parameters, in order."""
    cond: list[str] = []
    params: list[Any] = []
    if q.status is not None:
        cond.append("(" + " OR ".join("r.status BETWEEN ? AND ?" for _ in q.status.ranges) + ")")
        params += [bound for pair in q.status.ranges for bound in pair]
    if q.errors:
        cond.append(f"r.error_kind IN ({', '.join('?' * len(q.errors))})")
        params += q.errors
    if q.url_glob:
        pattern = q.url_glob if any(c in q.url_glob for c in "*?[") else f"*{q.url_glob}*"
        cond.append("r.url GLOB ?")
        params.append(pattern)
    if q.method:
        cond.append("r.method = ?")
        params.append(q.method)
    for when, op in ((q.since, ">="), (q.until, "<")):
        if when is None:
            continue
        column = "r.offset_ms" if when.offset_ms is not None else "r.started_at"
        cond.append(f"{column} {op} ?")
        params.append(when.offset_ms if when.offset_ms is not None else when.time_iso)
    if q.slower_than_ms is not None:
        cond.append("r.latency_ms > ?")
        params.append(q.slower_than_ms)
    if q.body_contains is not None:
        cond.append("instr(f.body, ?) > 0")
        params.append(q.body_contains)
    if q.header is not None:
        cond.append(_HEADER_EXISTS)
        params += q.header
    if q.socket:
        if q.socket.isdigit():  # a bare port: the client side
            cond.append("r.local_addr LIKE ?")
            params.append(f"%:{q.socket}")
        else:
            cond.append("(r.local_addr = ? OR r.remote_addr = ?)")
            params += [q.socket, q.socket]
    for value, column in (
        (q.session, "session"),
        (q.connection, "connection_id"),
        (q.position, "connection_request_no"),
        (q.host, "host"),
    ):
        if value is not None:
            cond.append(f"r.{column} = ?")
            params.append(value)
    return cond, params


# A failure's own columns, shown beside its request row's (r.*): not the two keys.
_FAILURE_COLUMNS = select_list("f", FAILURES, *FAILURES.names[2:])


@overload
def failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: Literal[False] = False
) -> list[FailureRow]: ...
@overload
def failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: Literal[True]
) -> list[FailureDetail]: ...


def failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: bool = False
) -> list[FailureRow] | list[FailureDetail]:
    """Returns the failures matching q, newest first unless q.oldest (full: every column)."""
    if full:
        return list(iter_failure_rows(db, q, run_spec, full=True))
    return list(iter_failure_rows(db, q, run_spec))


@overload
def iter_failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: Literal[False] = False
) -> Iterator[FailureRow]: ...
@overload
def iter_failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: Literal[True]
) -> Iterator[FailureDetail]: ...


def iter_failure_rows(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: bool = False
) -> Iterator[FailureRow] | Iterator[FailureDetail]:
    """Returns an iterator over the failures matching q, read FETCH_ROWS at a time so that
    memory does not grow with their number. The run is resolved and the query run before
    it returns: a bad --run is raised here, before any output."""
    rows = _failure_stream(db, q, run_spec, full=full)
    next(rows)  # up to the first yield: connect, resolve the run, execute
    return rows


def _failure_stream(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: bool
) -> Iterator[Any]:
    """Yields None once the query runs, then its rows as dicts; one read transaction."""
    batches = _failure_batches(db, q, run_spec, full=full)
    names = next(batches)
    yield None
    for batch in batches:
        for row in batch:
            yield dict(zip(names, row, strict=True))


def failure_batches(
    db: ReadOnly, q: FailureQuery, run_spec: str | None
) -> tuple[list[str], Iterator[list[tuple[Any, ...]]]]:
    """Returns the column names of the failures matching q, in full, and an iterator over
    their rows as tuples, FETCH_ROWS at a time: what an export encodes without a dict per
    row. The query runs before it returns, so a bad --run is raised here."""
    batches = _failure_batches(db, q, run_spec, full=True)
    return next(batches), batches


def _failure_batches(
    db: ReadOnly, q: FailureQuery, run_spec: str | None, *, full: bool
) -> Iterator[Any]:
    """Yields the column names once the query runs, then lists of row tuples; one read
    transaction."""
    with db.connect() as conn:
        sql, params = _failure_select(conn, q, run_spec, full=full)
        cursor = conn.cursor()
        # Plain tuples: dict(sqlite3.Row) looks each key up by name and takes twice as
        # long as the query itself.
        cursor.row_factory = None
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        if len(set(names)) != len(names):  # a row as a dict would lose a column
            raise ValueError(f"duplicate column names in {names}")
        yield names
        while batch := cursor.fetchmany(FETCH_ROWS):
            yield batch


def failure_count(db: ReadOnly, q: FailureQuery, run_spec: str | None) -> int:
    """Returns how many failures match q's filters, whatever its limit and offset."""
    with db.connect() as conn:
        sql, params = _failure_select(conn, q, run_spec, count=True)
        (total,) = conn.execute(sql, params).fetchone()
    return int(total)


def _failure_select(
    conn: ReadConnection,
    q: FailureQuery,
    run_spec: str | None,
    *,
    full: bool = False,
    count: bool = False,
) -> tuple[str, list[Any]]:
    """Returns the SELECT (or, with count, the COUNT) of the failures matching q."""
    run_ids = resolve_runs(conn, run_spec)
    if q.connection is not None and (run_ids is None or len(run_ids) != 1):  # ids per run
        raise UsageError("--connection names a connection of one run: give -r RUN with it")
    columns = f"r.*, {_FAILURE_COLUMNS}" if full else _LIST_COLUMNS
    cond, params = _conditions(q)
    # Walk the failures of the run in id order and stop at the page: without the
    # hint SQLite may pick a requests index, read every request row and sort them.
    source = "failures AS f"
    if run_ids is not None:
        source += " INDEXED BY ix_failures_run_id"
        cond.insert(0, f"f.run_id IN ({', '.join('?' * len(run_ids))})")
        params[:0] = run_ids
    where = f"{' WHERE ' + ' AND '.join(cond) if cond else ''}"
    join = f"FROM {source} JOIN requests AS r ON r.id = f.request_id{where}"
    if count:
        return f"SELECT count(*) {join}", params
    order = f" ORDER BY f.request_id {'ASC' if q.oldest else 'DESC'} LIMIT ? OFFSET ?"
    return f"SELECT {columns} {join}{order}", [
        *params,
        -1 if q.limit is None else q.limit,
        q.offset,
    ]


def exchange(db: ReadOnly, request_id: int, *, around: int = 2) -> ExchangeRow:
    """Returns one failed exchange in full, with its neighbours on the same connection."""
    check_id(request_id, option="ID")
    with db.connect() as conn:
        return exchange_in(conn, request_id, around)


def exchange_in(conn: ReadConnection, request_id: int, around: int = 2) -> ExchangeRow:
    """exchange() inside a read transaction already open (a report's examples)."""
    row = conn.execute(
        f"SELECT r.*, {_FAILURE_COLUMNS} FROM requests AS r"
        " LEFT JOIN failures AS f ON f.request_id = r.id WHERE r.id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no request with id {request_id} in this database")
    found = cast(ExchangeRow, dict(row))  # every key but neighbours, set next
    return {**found, "neighbours": _neighbours(conn, found, around)}


_NEIGHBOURS = """
SELECT id, seq, offset_ms, status, error_kind, latency_ms, connection_request_no
FROM requests WHERE run_id = ? AND connection_id = ? AND seq {op} ?
ORDER BY seq {order} LIMIT ?
"""


def _neighbours(conn: ReadConnection, row: ExchangeRow, around: int) -> list[Neighbour]:
    """Returns the requests just before and after row's on its TCP connection.

    None without a connection_id: no connection was made, or an older --procs run whose
    session numbers repeat across processes, so (session, connection_no) may name two.
    """
    if row["connection_id"] is None:
        return []
    same = (row["run_id"], row["connection_id"], row["seq"], around)
    before = typed_rows(conn.execute(_NEIGHBOURS.format(op="<", order="DESC"), same), Neighbour)
    after = typed_rows(conn.execute(_NEIGHBOURS.format(op=">", order="ASC"), same), Neighbour)
    return [*reversed(before), *after]


def pid_alive(pid: int) -> bool:
    """Tells whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is just not ours
        pass
    return True


class _RunState(TypedDict):
    """The columns of a run row that tell its status."""

    status: str
    pid: int | None
    hostname: str | None


def run_status(row: _RunState) -> str:
    """Returns the run's status, 'crashed' for a 'running' run whose process is gone.

    Only a run of this host can be judged by its pid: in a store shared by many hosts
    (PostgreSQL) another host's pid says nothing here, and a live run must not read as
    crashed (nor a dead one as running because some local process has its pid)."""
    status = str(row["status"])
    pid = row.get("pid")
    if status != "running" or not pid or row.get("hostname") != socket.gethostname():
        return status
    return status if pid_alive(int(pid)) else "crashed"


# Counted per run on the (run_id, seq) and (run_id, failed, status) indexes: a GROUP BY
# over every request row takes seconds on a million-row file. The span (for a run with
# no duration yet: running or crashed) needs the rows themselves.
_RUNS = """
SELECT id, name, started_at, finished_at, status, pid, hostname, duration_s, qps_asked,
       (SELECT count(*) FROM requests WHERE run_id = runs.id) AS requests,
       (SELECT count(*) FROM requests WHERE run_id = runs.id AND failed = 1) AS failures,
       CASE WHEN duration_s IS NULL THEN
           (SELECT max(offset_ms + latency_ms) FROM requests WHERE run_id = runs.id)
       END AS span_ms,
       coalesce(aborted_total, 0) AS aborted, hosts
FROM runs ORDER BY id
"""


class _CountedRun(TypedDict):
    """A row of _RUNS, in its order."""

    id: int
    name: str | None
    started_at: str
    finished_at: str | None
    status: str
    pid: int | None
    hostname: str | None
    duration_s: float | None
    qps_asked: float | None
    requests: int
    failures: int
    span_ms: float | None
    aborted: int
    hosts: int | None


def run_rows(db: ReadOnly) -> list[RunRow]:
    """Returns every run, oldest first, with counts taken from the rows themselves."""
    with db.connect() as conn:
        counted = typed_rows(conn.execute(_RUNS), _CountedRun)
        slots = host_states(conn, [item["id"] for item in counted if item["hosts"]])
    rows = [_run_row(item) for item in counted]
    for row, item in zip(rows, counted, strict=True):
        if item["hosts"]:
            row["hosts"] = slots.get(row["id"], [])
            # runs.pid is the first host's, maybe on another machine: no crash check here
            row["status"] = item["status"]
    return rows


def _run_row(item: _CountedRun) -> RunRow:
    """Returns a run's row with its status checked, its duration and its rate."""
    duration = item["duration_s"] or (item["span_ms"] or 0) / 1000.0
    # In _RUNS's order, span_ms replaced by rate: the json, jsonl and csv key order.
    return {
        "id": item["id"],
        "name": item["name"],
        "started_at": item["started_at"],
        "finished_at": item["finished_at"],
        "status": run_status(item),
        "pid": item["pid"],
        "hostname": item["hostname"],
        "duration_s": duration,
        "qps_asked": item["qps_asked"],
        "requests": item["requests"],
        "failures": item["failures"],
        "rate": item["requests"] / duration if duration else None,
        # Last: a column added after the others, so a csv read by position keeps its columns.
        "aborted": item["aborted"],
        "hosts": None,
    }
