"""The read side's rows have exactly the keys of their TypedDict in store/rows.py, each
value of its declared type: the shapes are cast from sqlite3 rows unchecked, so this is
what makes mypy's checks true."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints, is_typeddict

from capture.store import rows
from capture.store.filters import FailureQuery
from capture.store.queries import exchange, failure_rows, run_rows
from capture.store.reader import open_readonly
from capture.store.report import run_report
from capture.store.sockets import socket_rows
from tests.store.test_queries import known

__all__ = ["known"]  # the fixture: a file with two runs, five failures and one success


def _fits(value: object, hint: Any) -> bool:
    """Tells whether value is of the hint: int, str, float, bytes, X | None, list, a row."""
    if get_origin(hint) is types.UnionType:
        return any(_fits(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if get_origin(hint) is not None:  # list[...], dict[...]: the items are checked apart
        return isinstance(value, get_origin(hint))
    if is_typeddict(hint):  # a nested row: its keys are checked apart
        return isinstance(value, dict)
    return type(value) is hint  # exact: a REAL column is a float even when it is whole


def _keys(shape: Any, row: Mapping[str, object] | None = None) -> set[str]:
    """Returns shape's keys, after checking that each value of row is of its key's type."""
    hints = get_type_hints(shape)
    for key, value in (row or {}).items():
        assert _fits(value, hints.get(key)), f"{shape.__name__}[{key!r}] = {value!r}"
    return set(shape.__required_keys__)


def test_run_rows_have_the_run_row_keys(known: str) -> None:
    """Every run row of `capture runs` has the keys of RunRow, in both runs."""
    found = run_rows(open_readonly(known))
    assert [r["id"] for r in found] == [1, 2]
    assert [set(r) for r in found] == [_keys(rows.RunRow, r) for r in found]


def test_failure_rows_have_the_listing_and_the_full_keys(known: str) -> None:
    """The listing has FailureRow's keys; full=True has FailureDetail's."""
    listed = failure_rows(open_readonly(known), FailureQuery.build(), "1")
    full = failure_rows(open_readonly(known), FailureQuery.build(), "1", full=True)
    assert [set(r) for r in listed] == [_keys(rows.FailureRow, r) for r in listed]
    assert [set(r) for r in full] == [_keys(rows.FailureDetail, r) for r in full]


def test_an_exchange_and_its_neighbours_have_their_keys(known: str) -> None:
    """Request 1 has requests 3 and 5 beside it on its connection; 5 has no failure row."""
    failed = exchange(open_readonly(known), 1)
    ok = exchange(open_readonly(known), 5)
    assert set(failed) == _keys(rows.ExchangeRow, failed)
    assert set(ok) == _keys(rows.ExchangeRow, ok)
    assert [n["id"] for n in failed["neighbours"]] == [3, 5]
    assert [set(n) for n in failed["neighbours"]] == [
        _keys(rows.Neighbour, n) for n in failed["neighbours"]
    ]
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
    assert [set(r) for r in found] == [_keys(rows.SocketRow, r) for r in found]


def test_the_report_has_its_keys_down_to_the_groups(known: str) -> None:
    """A summary has Report's keys, its run RunRecord's, each group FailureGroup's."""
    report = run_report(open_readonly(known), "1")
    assert set(report) == _keys(rows.Report, report)
    assert set(report["run"]) == _keys(rows.RunRecord, report["run"])
    assert len(report["groups"]) == 4
    assert [set(g) for g in report["groups"]] == [
        _keys(rows.FailureGroup, g) for g in report["groups"]
    ]
