"""queries.iter_failure_rows reads failures as they are asked for, a batch at a time, and
counts them with the same filters (issue 11, items 3 and 4), on a real capture file
written by a real run."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from capture.cli.main import main
from capture.errors import NotFoundError
from capture.store import queries
from capture.store.filters import FailureQuery
from capture.store.reader import open_readonly
from capture.target.server import FaultServer
from tests.conftest import query

FAILED = 600  # more than two fetch batches


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One run of 600 requests that all fail with 502."""
    db = tmp_path_factory.mktemp("stream") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        args = ["run", f"{server.url}/x?status=502", "-n", str(FAILED), "-c", "4"]
        assert main([*args, "--db", str(db), "--quiet"]) == 0
    yield db


def test_rows_come_as_they_are_read(stored: Path) -> None:
    q = FailureQuery.build(limit=None, oldest=True)
    rows = queries.iter_failure_rows(open_readonly(str(stored)), q, "1", full=True)
    assert inspect.isgenerator(rows)  # not a list: rows are made one by one as asked for
    assert queries.FETCH_ROWS < FAILED
    first = next(rows)
    assert first["status"] == 502 and first["body"] == b"502 Bad Gateway\n"
    every = [first, *rows]
    assert [r["id"] for r in every] == [
        i for (i,) in query(stored, "select id from requests order by id")
    ]
    assert sorted(r["seq"] for r in every) == list(range(1, FAILED + 1))


def test_a_bad_run_is_refused_before_the_first_row(stored: Path) -> None:
    with pytest.raises(NotFoundError):
        queries.iter_failure_rows(open_readonly(str(stored)), FailureQuery.build(), "nosuch")


def test_the_count_ignores_limit_and_offset(stored: Path) -> None:
    db = open_readonly(str(stored))
    page = FailureQuery.build(limit=7, offset=3, status="5xx")
    assert queries.failure_count(db, page, "1") == FAILED
    assert queries.failure_count(db, FailureQuery.build(status="4xx"), "all") == 0
    assert len(queries.failure_rows(db, page, "1")) == 7
