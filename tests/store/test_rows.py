"""The read side's rows have exactly the keys of their TypedDict in store/rows.py: the
shapes are cast from sqlite3 rows unchecked, so this is what makes mypy's checks true."""

from __future__ import annotations

from typing import Any

from capture.store import rows
from capture.store.filters import FailureQuery
from capture.store.queries import exchange, failure_rows, run_rows, socket_rows
from capture.store.reader import open_readonly
from capture.store.report import run_report
from tests.store.test_queries import known

__all__ = ["known"]  # the fixture: a file with two runs, five failures and one success


def _keys(shape: Any) -> set[str]:
    return set(shape.__required_keys__)


def test_run_rows_have_the_run_row_keys(known: str) -> None:
    """Every run row of `capture runs` has the keys of RunRow, in both runs."""
    found = run_rows(open_readonly(known))
    assert [r["id"] for r in found] == [1, 2]
    assert [set(r) for r in found] == [_keys(rows.RunRow)] * 2


def test_failure_rows_have_the_listing_and_the_full_keys(known: str) -> None:
    """The listing has FailureRow's keys; full=True has FailureDetail's."""
    listed = failure_rows(open_readonly(known), FailureQuery.build(), "1")
    full = failure_rows(open_readonly(known), FailureQuery.build(), "1", full=True)
    assert [set(r) for r in listed] == [_keys(rows.FailureRow)] * 4
    assert [set(r) for r in full] == [_keys(rows.FailureDetail)] * 4


def test_an_exchange_and_its_neighbours_have_their_keys(known: str) -> None:
    """Request 1 has requests 3 and 5 beside it on its connection; 5 has no failure row."""
    failed = exchange(open_readonly(known), 1)
    ok = exchange(open_readonly(known), 5)
    assert set(failed) == set(ok) == _keys(rows.ExchangeRow)
    assert [n["id"] for n in failed["neighbours"]] == [3, 5]
    assert [set(n) for n in failed["neighbours"]] == [_keys(rows.Neighbour)] * 2
    assert ok["body_truncated"] is None and ok["request_headers"] is None


def test_socket_rows_have_the_socket_row_keys(known: str) -> None:
    """Each client socket of every run has the keys of SocketRow."""
    run_ids, found = socket_rows(open_readonly(known), "all")
    assert run_ids is None
    assert [(r["run_id"], r["local_addr"]) for r in found] == [
        (1, "127.0.0.1:5001"),
        (1, "127.0.0.1:5002"),
        (1, "127.0.0.1:5003"),
        (2, "127.0.0.1:6001"),
    ]
    assert [set(r) for r in found] == [_keys(rows.SocketRow)] * 4


def test_the_report_has_its_keys_down_to_the_groups(known: str) -> None:
    """A summary has Report's keys, its run RunRecord's, each group FailureGroup's."""
    report = run_report(open_readonly(known), "1")
    assert set(report) == _keys(rows.Report)
    assert set(report["run"]) == _keys(rows.RunRecord)
    assert len(report["groups"]) == 4
    assert [set(g) for g in report["groups"]] == [_keys(rows.FailureGroup)] * 4
