"""One read of every request of a run, as columns, and one of its failed requests: what
a summary counts its per-URL rows, seconds and failure groups from (report.py,
url_rows.py), diagnose its windows, positions, servers, targets, backends, idle gaps and
failures (diagnose_data.py), and a report its series, examples and per-URL outcomes.

A run's rows are read in file order, over the span of ids the run holds (NOT INDEXED,
dropped for PostgreSQL): walked through a (run_id, ...) index instead, each row was a
jump to another page, twice the time on a million (issue 15). Plain tuples, turned into
columns, so that counting is C-level Counters over them, not Python loops over rows."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from capture.store.source import ReadConnection

__all__ = ["CHUNK_ROWS", "FAILED_COLUMNS", "RunColumns", "run_columns"]

CHUNK_ROWS = 50_000

# The span's bounds are subqueries: each walks the run's index entries once.
_ROWS = """
SELECT offset_ms, latency_ms, ttfb_ms, failed, bytes_in, status, connection_request_no,
       remote_addr, backend, method, url, host, connection_id, id, wait_ms
FROM requests NOT INDEXED
WHERE id BETWEEN (SELECT min(id) FROM requests WHERE run_id = ?)
             AND (SELECT max(id) FROM requests WHERE run_id = ?)
  AND run_id = ?
"""
# The run's failed requests, in id order over the same span: what the summary's groups,
# diagnose's failures and the report's examples and per-URL outcomes are counted from
# (FAILED_COLUMNS names them; stored: whether a failures row holds its evidence).
_FAILED_ROWS = """
SELECT r.id, r.offset_ms, r.status, r.error_kind, r.method, r.url, r.remote_addr,
       r.connection_id, r.connection_request_no, r.bytes_in, r.latency_ms, r.ttfb_ms,
       f.body_signature, r.backend, r.local_addr,
       CASE WHEN f.request_id IS NULL THEN 0 ELSE 1 END
FROM requests AS r NOT INDEXED LEFT JOIN failures AS f ON f.request_id = r.id
WHERE r.id BETWEEN ? AND ? AND r.run_id = ? AND r.failed = 1 ORDER BY r.id
"""
FAILED_COLUMNS = (
    "id", "offset", "status", "kind", "method", "url", "remote", "connection", "position",
    "bytes_in", "latency", "ttfb", "signature", "backend", "local", "stored",
)  # fmt: skip
_NAMES = (
    "offset", "latency", "ttfb", "failed", "bytes_in", "status", "position", "remote",
    "backend", "method", "url", "host", "connection", "id", "wait",
)  # fmt: skip


_TEXT = frozenset({"remote", "backend", "method", "url"})  # a few values, a million rows


class _Pool(dict[Any, Any]):
    """One copy of each value: pool[v] is the first v seen (sqlite3 makes a new string
    for every row; a million copies of a few URLs were half the columns' memory)."""

    def __missing__(self, key: Any) -> Any:
        self[key] = key
        return key


class RunColumns:
    """A run's requests (in id order on SQLite), one list per column of _ROWS."""

    offset: list[float]
    latency: list[float]
    ttfb: list[float | None]
    failed: list[int]
    bytes_in: list[int]
    status: list[int | None]
    position: list[int | None]
    remote: list[str | None]
    backend: list[str | None]
    method: list[str]
    url: list[str]
    host: list[int]
    connection: list[int | None]
    id: list[int]
    wait: list[float]

    def __init__(self, run_id: int, chunks: Iterator[list[tuple[Any, ...]]]) -> None:
        self.run_id = run_id
        self._failed: list[tuple[Any, ...]] | None = None
        found: list[list[Any]] = [[] for _ in _NAMES]
        pools = {name: _Pool() for name in _TEXT}
        for rows in chunks:  # a chunk at a time: the rows and the columns never both whole
            for name, column, chunk in zip(_NAMES, found, zip(*rows, strict=True), strict=True):
                pool = pools.get(name)
                column.extend(chunk if pool is None else map(pool.__getitem__, chunk))
        for name, values in zip(_NAMES, found, strict=True):
            setattr(self, name, values)

    def failed_rows(self, conn: ReadConnection) -> list[tuple[Any, ...]]:
        """Returns the run's failed requests (FAILED_COLUMNS), read on first use and
        kept: four parts of a report read them, where each read them again."""
        if self._failed is None:
            if not self.id:
                self._failed = []
            else:
                with _collector_paused():
                    cursor = conn.cursor()
                    cursor.row_factory = None
                    span = (min(self.id), max(self.id), self.run_id)
                    self._failed = cursor.execute(_FAILED_ROWS, span).fetchall()
        return self._failed


def run_columns(conn: ReadConnection, run_id: int) -> RunColumns:
    """Returns every request of a run as columns."""
    with _collector_paused():
        cursor = conn.cursor()
        cursor.row_factory = None  # plain tuples: no per-row objects
        cursor.execute(_ROWS, (run_id, run_id, run_id))
        return RunColumns(run_id, iter(lambda: cursor.fetchmany(CHUNK_ROWS), []))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector: a million new tuples set it off again and
    again, each pass over every tuple so far, for no cycle (a third of the read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
