"""Tables that fit: rows of a real run rendered at 200, 80 and 60 columns keep every id,
socket and status whole, cut long URLs in the middle, and no line is wider than asked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from capture.output.tables import FittedTable, failures_table, runs_table, sockets_table
from capture.store import queries as query
from capture.store.filters import FailureQuery
from capture.store.reader import open_readonly
from capture.store.sockets import socket_rows
from capture.target.server import FaultServer
from tests.conftest import query as sql

LONG_PATH = "/api/v1/customers/4242/accounts/17/orders/987654/lines"


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run over IPv4 and IPv6 loopback: 503s on a long URL, 200s, two runs."""
    from capture.cli.main import main

    db = tmp_path_factory.mktemp("fit") / "capture.db"
    with FaultServer("127.0.0.1", 0) as v4, FaultServer("::1", 0) as v6:
        long_url = f"{v4.url}{LONG_PATH}?status=503&detail=yes"
        urls = [long_url, f"{v6.url}/v6?status=500", f"{v4.url}/ok"]
        args = ["run", *urls, "-n", "12", "-c", "3", "--db", str(db), "--quiet"]
        assert main([*args, "--name", "a-rather-long-run-name-for-a-table"]) == 0
        assert main([*args, "--name", "second"]) == 0
    assert sql(db, "select count(*), sum(failed) from requests") == [(24, 16)]
    return db


def _lines(table: FittedTable, width: int) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, record=True, highlight=False).print(table)
    return out.getvalue().splitlines()


def _tables(db: Path) -> dict[str, tuple[FittedTable, list[str]]]:
    """Each table of the real rows, with the values that must show whole in it."""
    source = open_readonly(str(db))
    failures = query.failure_rows(source, FailureQuery.build(limit=None), "all")
    assert len(failures) == 16
    runs = query.run_rows(source)
    _, sockets = socket_rows(source, "all")
    assert {s["local_addr"].startswith("[::1]:") for s in sockets if s["local_addr"]} == {
        True,
        False,
    }
    return {
        "failures": (
            failures_table(failures, all_runs=True),
            [str(r["id"]) for r in failures]
            + [str(r["local_addr"]) for r in failures]
            + [str(r["status"]) for r in failures],
        ),
        "runs": (runs_table(runs), [str(r["id"]) for r in runs] + [r["status"] for r in runs]),
        "sockets": (sockets_table(sockets, all_runs=True), [str(s["local_addr"]) for s in sockets]),
    }


@pytest.mark.parametrize("width", [200, 80, 60])
@pytest.mark.parametrize("name", ["failures", "runs", "sockets"])
def test_tables_fit_and_keep_ids_and_sockets_whole(captured: Path, name: str, width: int) -> None:
    table, whole = _tables(captured)[name]
    lines = _lines(table, width)
    assert lines and all(len(line) <= width for line in lines), lines
    body = lines[1:]  # one line per row, none wrapped
    assert len(body) == len(table.rows)
    words = [set(line.split()) for line in body]
    for value in whole:  # each id, socket and status appears as a whole word in a row
        assert any(value in w for w in words), (value, lines)
    if name == "failures":
        shown = "\n".join(lines)
        assert "…" not in shown.replace(" ", "").split("socket")[0]  # the header is whole
        if width == 200:
            assert LONG_PATH in shown
        else:  # cut in the middle: its start and its end are both there
            assert LONG_PATH not in shown
            cut = [line for line in body if "/api/v1" in line and "…" in line]
            assert len(cut) == 8 and all("=yes  " in line for line in cut), lines
    if width == 60:  # fewer columns, not cut values
        assert len(lines[0].split()) < len(_lines(table, 200)[0].split())


def test_ipv6_sockets_are_never_cut(captured: Path) -> None:
    table, whole = _tables(captured)["failures"]
    v6 = [w for w in whole if w.startswith("[::1]:")]
    assert len(v6) == 8
    text = "\n".join(_lines(table, 60))
    for socket in v6:
        assert socket in text.split()
