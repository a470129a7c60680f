"""One read of every request of a run, as columns: what `capture diagnose` counts its
windows, positions, servers, targets, backends and idle gaps from (diagnose_data.py).

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

__all__ = ["RunColumns", "run_columns"]

# The span's bounds are subqueries: each walks the run's index entries once.
_ROWS = """
SELECT offset_ms, latency_ms, ttfb_ms, failed, bytes_in, status, connection_request_no,
       remote_addr, backend, method, url, host, connection_id, id
FROM requests NOT INDEXED
WHERE id BETWEEN (SELECT min(id) FROM requests WHERE run_id = ?)
             AND (SELECT max(id) FROM requests WHERE run_id = ?)
  AND run_id = ?
"""
_NAMES = (
    "offset", "latency", "ttfb", "failed", "bytes_in", "status", "position", "remote",
    "backend", "method", "url", "host", "connection", "id",
)  # fmt: skip


class RunColumns:
    """A run's requests (in id order on SQLite), one tuple per column of _ROWS."""

    offset: tuple[float, ...]
    latency: tuple[float, ...]
    ttfb: tuple[float | None, ...]
    failed: tuple[int, ...]
    bytes_in: tuple[int, ...]
    status: tuple[int | None, ...]
    position: tuple[int | None, ...]
    remote: tuple[str | None, ...]
    backend: tuple[str | None, ...]
    method: tuple[str, ...]
    url: tuple[str, ...]
    host: tuple[int, ...]
    connection: tuple[int | None, ...]
    id: tuple[int, ...]

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        found = list(zip(*rows, strict=True)) or [()] * len(_NAMES)
        for name, values in zip(_NAMES, found, strict=True):
            setattr(self, name, values)


def run_columns(conn: ReadConnection, run_id: int) -> RunColumns:
    """Returns every request of a run as columns."""
    with _collector_paused():
        cursor = conn.cursor()
        cursor.row_factory = None  # plain tuples: no per-row objects
        return RunColumns(cursor.execute(_ROWS, (run_id, run_id, run_id)).fetchall())


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
