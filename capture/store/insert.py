"""Multi-row INSERTs for the writer: chunked within SQLite's limits, one cached statement.

pysqlite caches each distinct SQL text, and SQLite keeps the values last bound to a
cached statement until it is bound again: one INSERT text per batch size kept a copy of
the bodies of every size seen. Padding every chunk to one size leaves one statement per
table, and a failures statement binds at most STATEMENT_BYTES.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

__all__ = ["STATEMENT_BYTES", "insert_rows"]

# Bound parameters per statement: SQLite's limit (999 before 3.32).
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


# The values one INSERT copies into SQLite at most (a row bigger than that goes alone).
STATEMENT_BYTES = 4 * 1024**2
_PAD_KEY = -1  # the first value of a padding row: a key no row has (ids start at 1)


@functools.lru_cache(maxsize=8)
def _values_sql(head: str, width: int, rows: int) -> str:
    """Returns head ('INSERT INTO t (cols) VALUES ') as an INSERT of rows slots of values;
    the slots whose first value is _PAD_KEY are padding and are skipped."""
    one = f"({', '.join('?' * width)})"
    return (
        f"{head.removesuffix('VALUES ')}SELECT * FROM (VALUES {', '.join([one] * rows)})"
        f" WHERE column1 <> {_PAD_KEY}"
    )


def _row_bytes(row: tuple[Any, ...]) -> int:
    """Returns about how many bytes SQLite copies to bind row: its text and blobs."""
    return sum(len(v) for v in row if isinstance(v, (bytes, str)))


def insert_rows(
    conn: Any,
    head: str,
    rows: list[tuple[Any, ...]],
    *,
    max_params: int = _MAX_PARAMS,
    max_bytes: int | None = STATEMENT_BYTES,
    max_rows: int | None = None,
    sizes: list[int] | None = None,
) -> None:
    """Inserts rows with one multi-row INSERT per chunk, not one step per row; each chunk
    binds at most max_params values, max_rows rows and about max_bytes (a single row
    wider or bigger than that still goes alone).

    pysqlite's executemany releases and retakes the GIL around every row's step; with
    16 workers holding it, each retake waited, and the writer fell behind once every
    response was a stored failure. A statement per ~500 rows takes it a few times.

    Every chunk is padded to the same number of slots, so there is one statement per
    table: pysqlite caches up to 128 statements, and SQLite keeps a copy of the values
    last bound to each until it is bound again. With a statement per batch size, the
    cache held a copy of the bodies of every batch size seen, hundreds of MiB
    (bench/RESULTS.md, Memory); one statement holds one chunk, about max_bytes.

    sizes, when given, are the rows' bytes as the caller knows them (else _row_bytes)."""
    if not rows:
        return
    width = len(rows[0])
    per = max(1, min(max_params // width, max_rows or max_params))
    pad = (_PAD_KEY, *([0] * (width - 1)))  # ints: pysqlite binds them fastest
    start = 0
    while start < len(rows):
        end = min(len(rows), start + per)
        if max_bytes is not None:  # light rows (requests) skip the count
            size_of = sizes.__getitem__ if sizes is not None else lambda i: _row_bytes(rows[i])
            end, size = start + 1, size_of(start)
            while end < len(rows) and end - start < per:
                size += size_of(end)
                if size > max_bytes:
                    break
                end += 1
        params = [value for row in rows[start:end] for value in row]
        params.extend(pad * (per - (end - start)))
        conn.exec_driver_sql(_values_sql(head, width, per), tuple(params))
        start = end
