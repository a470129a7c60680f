"""diagnose's evidence (store/diagnose_data.py), read in one pass over a run's rows,
against the SQL it replaced (issue 15): the windows of a loop over the rows, a GROUP BY
per dimension, and the idle gaps of a LAG window, on a real run of the built-in target."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from capture.cli.main import main
from capture.diagnose.onset import bin_of
from capture.diagnose.split import url_template
from capture.store import diagnose_data, report, report_parts
from capture.store.reader import ReadConnection, open_readonly
from capture.store.run_pass import run_columns
from capture.store.urls import url_template as path_template
from capture.target.server import FaultServer


@pytest.fixture(scope="module")
def keep_alive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A first run to be skipped over, then run 2: 240 requests on 3 connections of at
    most 9 requests each (the 10th closed), to two URLs, with idle gaps between bursts."""
    db = tmp_path_factory.mktemp("evidence") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        assert main(["run", f"{server.url}/ok", "-n", "30", "--db", str(db), "--quiet"]) == 0
        urls = [f"{server.url}/a/1?max_requests=9", f"{server.url}/b/2?max_requests=9&mix=500:10"]
        stages = "400ms:200,200ms:0,400ms:200"
        args = ["run", *urls, "--stages", stages, "-c", "3", "-n", "120", "--quiet"]
        assert main([*args, "--db", str(db)]) in (0, 1)
    return db


@contextmanager
def _read(db: Path) -> Iterator[ReadConnection]:
    with open_readonly(str(db)).connect() as conn:
        yield conn


def _sql_dimensions(conn: ReadConnection, run_id: int) -> dict[str, tuple[Any, ...]]:
    """The GROUP BY per dimension that diagnose ran before issue 15."""
    out = {}
    for name, column in (
        ("position", "connection_request_no"),
        ("remote", "remote_addr"),
        ("backend", "backend"),
    ):
        rows = conn.execute(
            f"SELECT {column}, count(*), sum(failed) FROM requests WHERE run_id = ?"
            f" GROUP BY {column}",
            (run_id,),
        ).fetchall()
        out[name] = tuple((v, int(n), int(f)) for v, n, f in rows)
    targets: dict[str, list[int]] = {}
    for method, url, n, f in conn.execute(
        "SELECT method, url, count(*), sum(failed) FROM requests WHERE run_id = ?"
        " GROUP BY method, url",
        (run_id,),
    ):
        counts = targets.setdefault(url_template(method, url), [0, 0])
        counts[0] += n
        counts[1] += f
    out["target"] = tuple((k, n, f) for k, (n, f) in sorted(targets.items()))
    return out


def _loop_bins(conn: ReadConnection, run_id: int, width: float) -> list[tuple[Any, ...]]:
    """The windows as one loop over the rows in id order gives them."""
    rows = conn.execute(
        "SELECT offset_ms, latency_ms, failed FROM requests WHERE run_id = ? ORDER BY id",
        (run_id,),
    ).fetchall()
    count = 1 + max(bin_of(r[0], width) for r in rows)
    n, f, total = [0] * count, [0] * count, [0.0] * count
    ok: list[list[float]] = [[] for _ in range(count)]
    for offset, latency, failed in rows:
        i = bin_of(offset, width)
        n[i] += 1
        f[i] += failed
        total[i] += latency
        if not failed:
            ok[i].append(latency)
    return [
        (n[i], f[i], sorted(ok[i])[(len(ok[i]) - 1) // 2] if ok[i] else None,
         total[i] / n[i] if n[i] else None)
        for i in range(count)
    ]  # fmt: skip


@pytest.mark.parametrize("width", [0.1, 0.2, 1.0])
def test_windows_and_dimensions_are_the_grouped_counts(keep_alive: Path, width: float) -> None:
    with _read(keep_alive) as conn:
        ev = diagnose_data.gather(conn, 2, width * 200, None)
        assert ev.bin_s == width
        found = [(b.requests, b.failed, b.ok_latency_ms, b.mean_latency_ms) for b in ev.bins]
        assert found == _loop_bins(conn, 2, width)
        assert {k: d.values for k, d in ev.dimensions.items()} == _sql_dimensions(conn, 2)
        (failed,) = conn.execute("SELECT count(*) FROM requests WHERE run_id = 2 AND failed = 1")
    assert (ev.requests, ev.failed) == (120, failed[0])
    assert failed[0] > 0
    assert ev.dimensions["position"].values[-1][0] == 10  # the closed ones: failed
    assert len(ev.dimensions["target"].values) == 2  # /a/1 and /b/2


def test_idle_gaps_are_the_lag_windows(keep_alive: Path) -> None:
    """The gaps from the rows in id order are the SQL window's, and there are some."""
    with _read(keep_alive) as conn:
        fast = diagnose_data._gaps(run_columns(conn, 2))
        sql = diagnose_data._sql_gaps(conn, 2)
    assert fast is not None
    assert sorted(fast) == sorted(sql)
    conn = sqlite3.connect(keep_alive)
    reused = conn.execute(
        "SELECT id, failed FROM requests WHERE run_id = 2 AND connection_request_no > 1"
    ).fetchall()
    conn.close()
    assert len(fast) == len(reused) > 0
    assert {rid for _, rid in fast if rid} == {rid for rid, failed in reused if failed}


def test_a_connection_out_of_order_falls_back_to_the_window(
    keep_alive: Path, tmp_path: Path
) -> None:
    """Positions 2 and 3 of a connection swapped (rows a merge may have reordered): the
    pass gives up, and gather's gaps are the SQL window's over the positions as stored."""
    db = tmp_path / "swapped.db"
    shutil.copy(keep_alive, db)
    conn = sqlite3.connect(db)
    with conn:
        (cid,) = conn.execute(
            "SELECT connection_id FROM requests WHERE run_id = 2 AND connection_request_no = 3"
            " ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute(
            "UPDATE requests SET connection_request_no = 5 - connection_request_no"
            " WHERE run_id = 2 AND connection_id = ? AND connection_request_no IN (2, 3)",
            (cid,),
        )
    conn.close()
    with _read(db) as read:
        assert diagnose_data._gaps(run_columns(read, 2)) is None
        ev = diagnose_data.gather(read, 2, 40.0, None)
        assert ev.gaps == diagnose_data._sql_gaps(read, 2)


@pytest.mark.parametrize("percent", [1, 50, 99, 100])
def test_wait_ranks_from_the_rows_are_the_sql_ranks(keep_alive: Path, percent: int) -> None:
    """The summary's wait_ms percentiles, ranked from the rows as read (report._wait_rank),
    are the ORDER BY ... OFFSET ones (report._rank) it replaced."""
    with _read(keep_alive) as conn:
        columns = run_columns(conn, 2)
        waits = sorted(columns.wait)
        assert len(waits) == 120
        expected = report._rank(conn, 2, "wait_ms", len(waits), percent)
    assert report._wait_rank(waits, percent) == expected
    assert report._wait_rank([], percent) is None


def test_failed_rows_without_evidence_count_where_they_did(
    keep_alive: Path, tmp_path: Path
) -> None:
    """A failed request whose failures row is gone: the summary's groups (failures JOIN
    requests) leave it out, the per-URL outcomes (failed requests) keep it, as the
    queries they replaced (issue 15) did."""
    db = tmp_path / "gone.db"
    shutil.copy(keep_alive, db)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM failures WHERE request_id = (SELECT min(request_id)"
                     " FROM failures WHERE run_id = 2)")  # fmt: skip
    (stored,) = conn.execute("SELECT count(*) FROM failures WHERE run_id = 2").fetchone()
    (failed,) = conn.execute(
        "SELECT count(*) FROM requests WHERE run_id = 2 AND failed = 1"
    ).fetchone()
    expected: dict[Any, Any] = {}
    for method, url, status, kind, n in conn.execute(
        "SELECT method, url, status, error_kind, count(*) FROM requests"
        " WHERE run_id = 2 AND failed = 1 GROUP BY method, url, status, error_kind"
    ):
        outcomes = expected.setdefault((method, path_template(url)), {})
        outcome = " ".join(str(x) for x in (status, kind) if x is not None)
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    conn.close()
    assert stored == failed - 1
    with _read(db) as read:
        rows = run_columns(read, 2).failed_rows(read)
    tally = report._failure_tally(rows)
    assert sum(n for n, *_ in tally.groups.values()) == stored
    found = report_parts.url_failures(rows)
    assert {k: dict(map(tuple, v)) for k, v in found.items()} == expected
    assert sum(n for v in found.values() for _, n in v) == failed
