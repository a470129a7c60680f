"""Copies every row of a capture file into a PostgreSQL database, ids kept: one run
stored once, readable from both stores (tests/pg/test_read_same.py, bench/pg_read.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from capture.store.columns import TABLES
from capture.store.database import open_for_write

__all__ = ["copy_file"]

BATCH = 20_000


def copy_file(path: Path, pg_url: str) -> None:
    """Creates capture's schema in pg_url and COPYs path's rows into it, ids kept."""
    open_for_write(pg_url).dispose()  # the schema through the real migrations
    source = sqlite3.connect(path)
    try:
        with psycopg.connect(pg_url) as conn, conn.cursor() as cur:
            for table in TABLES:  # parents before children: the foreign keys hold
                _copy_table(source, cur, table.name)
            cur.execute("SELECT setval('requests_id_seq', coalesce(max(id), 1)) FROM requests")
            cur.execute("SELECT setval('runs_id_seq', coalesce(max(id), 1)) FROM runs")
    finally:
        source.close()


def _copy_table(
    source: sqlite3.Connection, cur: psycopg.Cursor[tuple[object, ...]], name: str
) -> None:
    rows = source.execute(f"SELECT * FROM {name}")
    names = ", ".join(column[0] for column in rows.description)
    with cur.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
        while batch := rows.fetchmany(BATCH):
            for row in batch:
                copy.write_row(row)
