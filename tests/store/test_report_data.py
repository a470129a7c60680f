"""capture report's numbers (docs/report.md) against the rows themselves: a real run of
the built-in target, every series, distribution, position and example recomputed from
the requests table with plain SQL and Python, exactly (percentiles: within HdrHistogram's
3 significant digits)."""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import capture
from capture.cli.main import main
from capture.store import series
from capture.store.ranks import nearest_rank
from capture.store.reader import open_readonly
from capture.store.run_pass import run_columns
from capture.target.server import FaultServer


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A paced run of 300 requests over three URLs: statuses, resets, short connections."""
    path = tmp_path_factory.mktemp("report") / "capture.db"
    with FaultServer("127.0.0.1", 0) as srv:
        urls = [
            f"{srv.url}/api/items/1?mix=500:10,503:5&delay=0.001",
            f"{srv.url}/api/items/2?close_after=4",
            f"{srv.url}/x?mix=404:20",
            f"{srv.url}/r?fault=reset",
        ]
        code = main(
            ["run", *urls, "-n", "300", "-c", "4", "--qps", "150", "--db", str(path), "--quiet"]
        )
        assert code == 0
    with capture.open_db(str(path)) as db:
        yield path, db.report()


def rows(path: Path, sql: str, *params: object) -> list[Any]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_series_counts_are_the_rows_per_second(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    series = doc["runs"][0]["series"]
    assert series["step_s"] == 1
    found = rows(
        path,
        "SELECT CAST(offset_ms / 1000 AS INTEGER), status, failed, error_kind,"
        " latency_ms, connection_id, connection_request_no FROM requests",
    )
    points = 1 + max(r[0] for r in found)
    assert series["points"] == points == len(series["t"])
    by_class: dict[str, list[int]] = {c: [0] * points for c in series["requests"]}
    failures, errors = [0] * points, defaultdict(lambda: [0] * points)
    for step, status, failed, kind, *_ in found:
        by_class["error" if status is None else f"{status // 100}xx"][step] += 1
        failures[step] += failed
        if kind:
            errors[kind][step] += 1
    assert series["requests"] == by_class
    assert sum(map(sum, by_class.values())) == 300
    assert series["failures"] == failures
    assert series["errors"] == dict(errors)
    assert sum(series["errors"]["reset"]) == 75  # one URL in four resets, every time
    opened = [sum(1 for r in found if r[0] == s and r[6] == 1) for s in range(points)]
    assert series["connections"]["opened"] == opened


def test_open_connections_never_exceed_the_pool(mixed: tuple[Path, dict[str, Any]]) -> None:
    """Open from the start of a connection's first request to the end of its last: the
    time-weighted average and the peak per step, recomputed here, and never above -c 4
    although close_after=4 makes a new connection every four requests."""
    path, doc = mixed
    series = doc["runs"][0]["series"]
    spans = [(max(0.0, a), b) for a, b in rows(
        path, "SELECT min(offset_ms), max(offset_ms + latency_ms) FROM requests"
        " WHERE connection_id IS NOT NULL GROUP BY connection_id")]  # fmt: skip
    points, last_span = series["points"], series["last_span_s"]
    ((end,),) = rows(path, "SELECT max(offset_ms + latency_ms) FROM requests")
    assert last_span == round(min(1.0, (end - (points - 1) * 1000) / 1000), 3)
    for step in range(points):
        low, high = step * 1000.0, (step + 1) * 1000.0
        covered = sum(max(0.0, min(b, high) - max(a, low)) for a, b in spans)
        length = 1000.0 if step < points - 1 else max(1.0, last_span * 1000)
        assert series["connections"]["open_avg"][step] == pytest.approx(covered / length, abs=0.002)
        moments = [a for a, _ in spans if low <= a < high] + [low]
        peak = max(sum(1 for a, b in spans if a <= t < b) for t in moments)
        assert series["connections"]["open_max"][step] == peak
    assert 0 < max(series["connections"]["open_max"]) <= 4
    assert len(spans) > 4 * points  # connections churned: distinct ones per step were many


def test_series_latency_is_within_hdrhistogram_precision(
    mixed: tuple[Path, dict[str, Any]],
) -> None:
    """Per step, of the ok and of the failed requests apart: the max exact; p50/p90/p99
    the top of the exact value's bucket (2 significant digits)."""
    path, doc = mixed
    series = doc["runs"][0]["series"]
    for failed, key in ((0, "latency_ms"), (1, "failed_latency_ms")):
        latency = series[key]
        per_step: dict[int, list[float]] = defaultdict(list)
        for step, value in rows(path, "SELECT CAST(offset_ms / 1000 AS INTEGER), latency_ms"
                                      " FROM requests WHERE failed = ?", failed):  # fmt: skip
            per_step[step].append(value)
        assert per_step
        for step in range(series["points"]):
            if step not in per_step:
                assert latency["p50"][step] is None and latency["max"][step] is None
                continue
            ordered = sorted(per_step[step])
            assert latency["max"][step] == ordered[-1]
            for p in (50, 90, 99):
                exact = nearest_rank(ordered, p)
                assert exact <= latency[f"p{p}"][step] <= exact * 1.008 + 0.001, (key, step, p)


def test_lag_series_of_a_paced_run(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    lag = doc["runs"][0]["series"]["lag_ms"]
    tops = dict(
        rows(path, "SELECT CAST(offset_ms / 1000 AS INTEGER), max(lag_ms) FROM requests GROUP BY 1")
    )
    assert lag["max"] == [tops[s] for s in range(len(tops))]
    assert all(v is not None for v in lag["p50"])


def test_distributions_count_every_request(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    run = doc["runs"][0]
    dist = run["distribution"]
    ((failed,),) = rows(path, "SELECT count(*) FROM requests WHERE failed = 1")
    assert (dist["overall"]["count"], dist["ok"]["count"], dist["failed"]["count"]) == (
        300,
        300 - failed,
        failed,
    )
    assert sum(b[2] for b in dist["overall"]["histogram"]) == 300
    ((top,),) = rows(path, "SELECT max(latency_ms) FROM requests")
    last_percent, last_value = dist["overall"]["percentiles"][-1]
    assert last_percent == 100.0
    assert top <= last_value <= top * 1.001 + 0.001
    # Per URL: exact, the same percentiles as the per-URL table's.
    assert [(u["method"], u["template"]) for u in dist["urls"]] == [
        (u["method"], u["template"]) for u in run["urls"]
    ]
    for url, row in zip(dist["urls"], run["urls"], strict=True):
        curve = dict(map(tuple, url["dist"]["percentiles"]))
        assert url["dist"]["count"] == row["requests"]
        assert curve[100.0] == max(v for _, v in url["dist"]["percentiles"])
        assert sum(b[2] for b in url["dist"]["histogram"]) == row["requests"]


def test_positions_and_first_against_reused(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    conns = doc["runs"][0]["connections"]
    found = rows(
        path,
        "SELECT connection_request_no, count(*), sum(failed) FROM requests"
        " WHERE connection_request_no IS NOT NULL GROUP BY 1",
    )
    pos = conns["positions"]
    assert pos["bin"] == 1
    assert dict(
        zip(pos["from"], zip(pos["requests"], pos["failures"], strict=True), strict=True)
    ) == {p: (n, f) for p, n, f in found}
    first = next((n, f) for p, n, f in found if p == 1)
    reused = (sum(n for p, n, _ in found if p > 1), sum(f for p, _, f in found if p > 1))
    side = conns["first_vs_reused"]
    assert (side["first"]["requests"], side["first"]["failed"]) == first
    assert (side["reused"]["requests"], side["reused"]["failed"]) == reused
    kinds = Counter[str]()
    for status, kind, n in rows(
        path,
        "SELECT status, error_kind, count(*) FROM requests"
        " WHERE failed = 1 AND connection_request_no IS NOT NULL"
        " GROUP BY 1, 2",
    ):
        kinds[" ".join(str(x) for x in (status, kind) if x is not None)] += n
    assert {k: sum(v) for k, v in pos["by_kind"].items()} == dict(kinds)


def test_connection_table(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    table = doc["runs"][0]["connections"]
    ((distinct,),) = rows(path, "SELECT count(DISTINCT connection_id) FROM requests")
    assert table["total"] == distinct
    assert len(table["rows"]) == min(50, distinct)
    keys = [(-r["failures"], -r["requests"]) for r in table["rows"]]
    assert keys == sorted(keys)
    for row in table["rows"]:
        positions = [
            p
            for (p,) in rows(
                path,
                "SELECT connection_request_no FROM requests WHERE"
                " connection_id = ? AND failed = 1 ORDER BY 1",
                row["connection_id"],
            )
        ]
        assert row["failed_at"] == positions
        assert row["failed_at_more"] == 0


def test_failure_group_examples_are_first_middle_last(
    mixed: tuple[Path, dict[str, Any]],
) -> None:
    path, doc = mixed
    run = doc["runs"][0]
    members: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for rid, status, kind, url, sig in rows(
        path,
        "SELECT r.id, r.status, r.error_kind, r.url, f.body_signature FROM failures f"
        " JOIN requests r ON r.id = f.request_id ORDER BY r.id",
    ):
        outcome = " ".join(str(x) for x in (status, kind) if x is not None)
        members[(outcome, url.split("?")[0], sig)].append(rid)
    assert run["failure_groups_total"] == len(members)
    assert run["failure_groups"]
    for group in run["failure_groups"]:
        ids = members[(group["outcome"], group["path"], group["signature"])]
        assert group["count"] == len(ids)
        want = sorted({ids[0], ids[(len(ids) - 1) // 2], ids[-1]})
        assert [e["id"] for e in group["examples"]] == want
        assert group["examples"][0]["id"] == group["example_id"]


def test_the_report_counts_are_the_summary_counts(mixed: tuple[Path, dict[str, Any]]) -> None:
    path, doc = mixed
    run = doc["runs"][0]
    ((total, failed),) = rows(path, "SELECT requests_total, failed_total FROM runs")
    assert (run["totals"]["requests"], run["totals"]["failed"]) == (total, failed)
    assert run["verdict"].startswith(f"{failed:,} of {total:,} requests failed")
    assert sum(n for _, n in run["failure_outcomes"]) == failed


def test_a_long_run_gets_steps_of_several_seconds(tmp_path: Path) -> None:
    """7,301 s of rows: three seconds a point, at most 3,600 points, every request counted."""
    from capture.store import database as store

    path = tmp_path / "long.db"
    store.open_for_write(str(path)).dispose()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO runs (id, started_at, status, duration_s, qps_asked)"
            " VALUES (1, '2026-12-01T00:00:00Z', 'completed', 7301.0, NULL)"
        )
        conn.executemany(
            "INSERT INTO requests (run_id, seq, worker, session, method, url, started_at,"
            " offset_ms, wait_ms, latency_ms, status, failed, bytes_in)"
            " VALUES (1, ?, 0, 0, 'GET', 'http://127.0.0.1/', '2026-12-01T00:00:00Z', ?, 0, 1.5,"
            " ?, ?, 0)",
            [(i + 1, i * 7300.0, 200 if i % 3 else 500, int(i % 3 == 0)) for i in range(1001)],
        )
    conn.close()
    with capture.open_db(str(path)) as db:
        series = db.report()["runs"][0]["series"]
    assert series["step_s"] == 3
    assert series["points"] == 7300 * 1000 // 3000 + 1 == len(series["failures"])
    assert sum(series["requests"]["2xx"]) == 667
    assert sum(series["failures"]) == sum(series["requests"]["5xx"]) == 334
    assert series["t"][:3] == [0, 3, 6]


def test_positions_are_exact_when_a_connection_lost_rows(tmp_path: Path) -> None:
    """Positions come from each connection's first and last position while they run
    without a gap; rows lost from the middle of a connection (a crash between batches,
    here deleted) make the report count by position instead: never an invented request."""
    path = tmp_path / "gap.db"
    # One connection: positions 1-80 are all on connection 1, and the mix fails the
    # server's first 10 requests (positions 1-10). With two, how the 80 split between
    # the connections was the scheduler's choice: connection 1 could end before 31.
    with FaultServer("127.0.0.1", 0) as srv:
        assert main(["run", f"{srv.url}/a?mix=500:10", "-n", "80", "-c", "1", "--db", str(path),
                     "--quiet"]) == 0  # fmt: skip
    conn = sqlite3.connect(path)
    with conn:
        gone = conn.execute(
            "DELETE FROM requests WHERE connection_id = 1 AND"
            " connection_request_no IN (30, 31) AND failed = 0"
        ).rowcount
    conn.close()
    assert gone == 2
    with capture.open_db(str(path)) as db:
        pos = db.report()["runs"][0]["connections"]["positions"]
    found = dict(rows(path, "SELECT connection_request_no, count(*) FROM requests GROUP BY 1"))
    counted = dict(zip(pos["from"], pos["requests"], strict=True))
    assert {n: c for n, c in counted.items() if c} == found
    assert counted.get(30, 0) == counted.get(31, 0) == 0  # the lost rows: none invented
    assert sum(pos["requests"]) == 78


@pytest.mark.parametrize("step", [1, 2])
def test_series_grouped_from_the_rows_are_the_databases(
    mixed: tuple[Path, dict[str, Any]], step: int
) -> None:
    """The series grouped from the rows as read (the report's) equal the GROUP BY's."""
    path, _ = mixed
    with open_readonly(str(path)).connect() as conn:
        sql = series._grouped(conn, 1, step)
        found = series._counts(series._column_groups(run_columns(conn, 1), step))
    assert found == sql
    assert sum(sum(v) for v in found["requests"].values()) == 300
