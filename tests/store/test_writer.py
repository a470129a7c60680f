"""The writer's batch chunking and its storage tally after a storage error, on real
SQLite files (a full disk is PRAGMA max_page_count, set by CAPTURE_TEST_MAX_PAGES)."""

from __future__ import annotations

import pickle
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from capture.config import Target
from capture.redact import Redactor
from capture.store import database as store
from capture.store.insert import _MAX_PARAMS, insert_rows
from capture.store.record import FailureDetail, Identity, Record
from capture.store.stats import Stats
from capture.store.tally import StorageTally
from capture.store.writer import Writer
from tests.conftest import query


@pytest.mark.parametrize(
    ("rows", "width", "limit", "statements"),
    [
        (0, 3, 999, 0),  # nothing to insert: no statement
        (1, 3, 999, 1),
        (333, 3, 999, 1),  # 999 values: exactly the limit, one statement
        (334, 3, 999, 2),  # one row more: a second statement
        (1000, 23, 999, 24),  # a requests row: 43 rows (989 values) per statement
        (3000, 23, 32766, 3),  # SQLite >= 3.32: 1,424 rows per statement
        (5, 4, 3, 5),  # a row wider than the limit still goes, alone
    ],
)
def test_rows_are_split_into_inserts_within_the_variable_limit(
    tmp_path: Path, rows: int, width: int, limit: int, statements: int
) -> None:
    """Each multi-row INSERT binds at most the limit's values; every row arrives in order."""
    engine = create_engine(f"sqlite:///{tmp_path / 'chunks.db'}")
    names = [f"c{i}" for i in range(width)]
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE t ({', '.join(names)})")
        driver: sqlite3.Connection = conn.connection.driver_connection  # type: ignore[assignment]
        if width <= limit:  # SQLite itself refuses more: proves each chunk is within it
            driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
        seen: list[str] = []
        driver.set_trace_callback(seen.append)
        data = [tuple(r * width + c for c in range(width)) for r in range(rows)]
        insert_rows(conn, f"INSERT INTO t ({', '.join(names)}) VALUES ", data, max_params=limit)
        driver.set_trace_callback(None)
        stored = conn.exec_driver_sql("SELECT * FROM t ORDER BY rowid").fetchall()
    engine.dispose()
    assert sum(1 for sql in seen if sql.startswith("INSERT")) == statements
    assert [tuple(r) for r in stored] == data


def test_the_default_limit_is_within_this_sqlite() -> None:
    """The writer's bound never exceeds the variable limit of the SQLite it runs on."""
    conn = sqlite3.connect(":memory:")
    try:
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) >= _MAX_PARAMS
    finally:
        conn.close()


def _record(seq: int, *, failed: bool, body: int, header: int, url: int) -> Record:
    """A finished record: failed ones carry a body and a request header of given sizes."""
    rec = Record(seq, 0, 0, 0)
    rec.latency_s = 0.001
    rec.status = 500 if failed else 200
    rec.failed = failed
    if url:
        rec.url = "http://127.0.0.1:9/" + "u" * url
    if failed:
        detail = FailureDetail()
        detail.request_headers = [("X-Pad", "h" * header)]
        detail.body = b"b" * body if body else None
        detail.body_size = body
        detail.request_body = b"q" * body if body else None
        rec.detail = detail
    return rec


# Sizes in bytes. With the limit at the file's own size ("full"), only what fits in the
# pages already there can be written: light rows do, bodies, big headers and long URLs
# need overflow pages and do not.
CASES = {
    "room for all": (None, 0, 0, 0, StorageTally(15, 10)),
    "room, bodies kept": (None, 5000, 0, 0, StorageTally(15, 10)),
    "bodies do not fit": ("full", 20_000, 0, 0, StorageTally(15, 10, stripped_bodies=10)),
    "failure rows do not fit": ("full", 20_000, 20_000, 0, StorageTally(15, 0, 10)),
    "nothing fits": ("full", 20_000, 0, 20_000, StorageTally(lost_requests=15, lost_failures=10)),
}


@pytest.mark.parametrize(("limit", "body", "header", "url", "tally"), CASES.values(), ids=CASES)
def test_a_storage_error_strips_bodies_then_failure_rows_and_counts_the_rest(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: str | None,
    body: int,
    header: int,
    url: int,
    tally: StorageTally,
) -> None:
    """One batch of 5 ok and 10 failed records on a disk that is full to some degree:
    the tally says exactly what the file holds, and nothing is stored twice."""
    db = str(tmp_path / "full.db")
    engine = store.open_for_write(db)
    run_id = store.create_run(engine, name=None, command_line="", config_json="{}", qps=None)
    engine.dispose()  # folds the WAL back: the file's page count is all there is
    if limit == "full":
        (pages,) = query(Path(db), "PRAGMA page_count")[0]
        monkeypatch.setenv("CAPTURE_TEST_MAX_PAGES", str(pages))
    engine = store.open_for_write(db)
    writer = Writer(
        engine,
        run_id,
        wall_start=time.time(),
        targets=(Target.build("GET", "http://127.0.0.1:9/"),),
        redactor=Redactor(),
        stats=Stats(),
        identity=Identity.of((0, 1), 1),
    )
    writer.start()
    for seq in range(1, 16):
        writer.put(_record(seq, failed=seq > 5, body=body, header=header, url=url))
    assert writer.close(timeout=30.0)
    engine.dispose()
    assert writer.tally == tally
    assert (writer.error is None) == (limit is None)
    path = Path(db)
    assert query(path, "SELECT count(*) FROM requests") == [(tally.stored_requests,)]
    stored = query(
        path,
        "SELECT length(body), length(request_body), body_size, body_truncated FROM failures",
    )
    assert len(stored) == tally.stored_failures
    if tally.stripped_bodies:  # body_size still says how much there was
        assert set(stored) == {(None, None, body, 1)}
    elif body and stored:
        assert set(stored) == {(body, body, body, 0)}


def test_tallies_add_up_and_cross_a_process_boundary() -> None:
    """+ sums field by field, and a tally survives pickling (the --procs queue) whole."""
    one = StorageTally(1, 2, 3, 4, 5, 6)
    two = StorageTally(10, 20, 30, 40, 50, 60)
    assert one + two == StorageTally(11, 22, 33, 44, 55, 66)
    assert one + StorageTally() == one
    assert pickle.loads(pickle.dumps(two)) == two
