"""Each filter of `capture failures` (filters.FailureQuery -> queries.failure_rows) against
a small real database whose rows are known: the exact ids, in order."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from capture.store import database as store
from capture.store.columns import FAILURES, REQUESTS
from capture.store.filters import FailureQuery
from capture.store.queries import failure_rows
from capture.store.reader import open_readonly

# id, run, method, url, offset_ms, latency_ms, status, error_kind, local, remote, session,
# body, response headers. Request 5 succeeded (no failures row); 6 is in another run.
_ROWS: list[tuple[Any, ...]] = [
    (1, 1, "GET", "http://h/api/a", 100.0, 10.0, 500, None, "127.0.0.1:5001", "127.0.0.1:80",
     0, b"boom", [["Retry-After", "5"]]),
    (2, 1, "POST", "http://h/api/b", 2000.0, 600.0, 503, None, "127.0.0.1:5002", "127.0.0.1:80",
     1, b"overloaded", [["X-Id", "7"]]),
    (3, 1, "GET", "http://h/static/c.css", 5000.0, 50.0, None, "reset", "127.0.0.1:5001",
     "127.0.0.1:81", 0, None, None),
    (4, 1, "GET", "http://h/api/a?x=1", 9000.0, 1500.0, 404, "header_mismatch",
     "127.0.0.1:5003", "127.0.0.1:81", 2, b"not here: boom", [["retry-after", "5"]]),
    (5, 1, "GET", "http://h/api/a", 9500.0, 5.0, 200, None, "127.0.0.1:5001", "127.0.0.1:80",
     0, None, None),
    (6, 2, "GET", "http://h/api/a", 100.0, 10.0, 500, None, "127.0.0.1:6001", "127.0.0.1:80",
     0, b"boom", []),
]  # fmt: skip
_START = "2026-01-01T00:00:00"


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> None:
    conn.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )


@pytest.fixture(scope="module")
def known(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A capture file holding the rows above (runs 1 and 2)."""
    db = str(tmp_path_factory.mktemp("queries") / "known.db")
    store.open_for_write(db).dispose()
    conn = sqlite3.connect(db)
    for run_id in (1, 2):
        conn.execute(
            "INSERT INTO runs (id, started_at, status) VALUES (?, ?, 'completed')",
            (run_id, _START + "Z"),
        )
    for rid, run, method, url, offset, latency, status, kind, local, remote, session, body, \
            headers in _ROWS:  # fmt: skip
        request = {
            "id": rid, "run_id": run, "seq": rid, "worker": 0, "session": session,
            "method": method, "url": url,
            "started_at": f"{_START}.{int(offset * 1000):06d}Z" if offset < 1000
            else f"2026-01-01T00:00:{int(offset // 1000):02d}.000000Z",
            "offset_ms": offset, "wait_ms": 0.0, "latency_ms": latency, "status": status,
            "error_kind": kind, "failed": int(status != 200), "bytes_in": 0,
            "local_addr": local, "remote_addr": remote, "connection_no": 1,
            "connection_request_no": rid, "process": 0, "connection_id": session + 1,
        }  # fmt: skip
        REQUESTS.check(*request)
        _insert(conn, "requests", request)
        if status == 200:
            continue
        failure = {
            "request_id": rid, "run_id": run, "request_headers": "[]",
            "response_headers": None if headers is None else json.dumps(headers),
            "body": body, "body_size": len(body or b""), "body_truncated": 0,
        }  # fmt: skip
        FAILURES.check(*failure)
        _insert(conn, "failures", failure)
    conn.commit()
    conn.close()
    return db


FILTERS: dict[str, tuple[dict[str, Any], str, list[int]]] = {
    "none: newest first": ({}, "1", [4, 3, 2, 1]),
    "status class": ({"status": "5xx"}, "1", [2, 1]),
    "status code": ({"status": "500"}, "1", [1]),
    "status list": ({"status": "404,503"}, "1", [4, 2]),
    "status range": ({"status": "400-499"}, "1", [4]),
    "error kind": ({"error": "reset"}, "1", [3]),
    "error kinds": ({"error": "reset, header_mismatch"}, "1", [4, 3]),
    "url glob": ({"url": "*/api/*"}, "1", [4, 2, 1]),
    "url substring": ({"url": "static"}, "1", [3]),
    "url glob on the query": ({"url": "*?x=*"}, "1", [4]),
    "method, any case": ({"method": "post"}, "1", [2]),
    "since an offset": ({"since": "2s"}, "1", [4, 3, 2]),
    "until an offset": ({"until": "5s"}, "1", [2, 1]),
    "since and until": ({"since": "2s", "until": "9s"}, "1", [3, 2]),
    "since a time": ({"since": "2026-01-01T00:00:05Z"}, "1", [4, 3]),
    "until a time, other zone": ({"until": "2026-01-01T01:00:05+01:00"}, "1", [2, 1]),
    "slower than": ({"slower_than": "500ms"}, "1", [4, 2]),
    "slower than, exclusive": ({"slower_than": "600ms"}, "1", [4]),
    "body contains": ({"body_contains": "boom"}, "1", [4, 1]),
    "header, name in any case": ({"header": "Retry-After: 5"}, "1", [4, 1]),
    "header, value exact": ({"header": "X-Id: 8"}, "1", []),
    "socket: a client port": ({"socket": "5001"}, "1", [3, 1]),
    "socket: a client address": ({"socket": "127.0.0.1:5003"}, "1", [4]),
    "socket: a server address": ({"socket": "127.0.0.1:81"}, "1", [4, 3]),
    "connection: its id": ({"connection": 1}, "1", [3, 1]),
    "session": ({"session": 0}, "1", [3, 1]),
    "limit": ({"limit": 2}, "1", [4, 3]),
    "oldest first": ({"limit": 2, "oldest": True}, "1", [1, 2]),
    "offset": ({"limit": 2, "offset": 1}, "1", [3, 2]),
    "no limit": ({"limit": None}, "1", [4, 3, 2, 1]),
    "combined": ({"status": "5xx", "method": "GET"}, "1", [1]),
    "another run": ({}, "2", [6]),
    "the latest run": ({}, "latest", [6]),
    "all runs": ({"status": "500"}, "all", [6, 1]),
}


@pytest.mark.parametrize(("options", "run", "ids"), FILTERS.values(), ids=FILTERS)
def test_each_filter_selects_exactly_its_rows(
    known: str, options: dict[str, Any], run: str, ids: list[int]
) -> None:
    """failure_rows returns exactly the failures the filter describes, in order."""
    rows = failure_rows(open_readonly(known), FailureQuery.build(**options), run)
    assert [row["id"] for row in rows] == ids


def test_full_rows_carry_every_failure_column(known: str) -> None:
    """--full rows hold each requests column and each failure column but the two keys."""
    (row,) = failure_rows(open_readonly(known), FailureQuery.build(limit=1), "2", full=True)
    assert set(row) == set(REQUESTS.names) | set(FAILURES.names[2:])
    assert row["body"] == b"boom" and row["run_id"] == 2
