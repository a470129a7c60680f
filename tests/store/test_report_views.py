"""The views of `capture summary` over real runs against the fault target: per URL
template, status over time by class, and pacing. Each figure is checked against the
stored rows, recomputed here by hand (sorted lists, nearest rank) or by plain SQL."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from capture.output.units import ms
from capture.store.reader import open_readonly
from capture.store.report import run_report
from capture.target.server import FaultServer
from tests.conftest import query

MIX = "mix=200:80,503:20"  # deterministic: 80 of every 100 answers 200, 20 answer 503


def _rank(values: list[float], p: float) -> float:
    """The nearest-rank percentile, written out: the ceil(p/100 * n)-th smallest value."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def _run(cli, db: Path, *args: object) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", *args, "--db", db, "--quiet")
    assert result.exit_code == 0, result.stderr


def test_per_url_rows_collapse_ids_and_match_the_rows(
    cli, server: FaultServer, db_path: Path
) -> None:
    """/api/orders/17 and /18 are one template; counts, rate and p50/p95/p99 are exact."""
    urls = [f"{server.url}/api/orders/17?{MIX}", f"{server.url}/api/orders/18?{MIX}"]
    _run(cli, db_path, *urls, f"{server.url}/health", "-n", "600", "-c", "4")
    report = run_report(open_readonly(str(db_path)), None)
    (duration,) = query(db_path, "select duration_s from runs")[0]
    rows = {(u["method"], u["template"]): u for u in report["urls"]}
    assert set(rows) == {
        ("GET", f"{server.url}/api/orders/#?mix=#:#,#:#"),
        ("GET", f"{server.url}/health"),
    }
    for (_, template), like in (
        (("GET", f"{server.url}/api/orders/#?mix=#:#,#:#"), "%/api/orders/%"),
        (("GET", f"{server.url}/health"), "%/health"),
    ):
        row = rows[("GET", template)]
        latencies = [
            r[0] for r in query(db_path, "select latency_ms from requests where url like ?", like)
        ]
        (failed,) = query(db_path, "select sum(failed) from requests where url like ?", like)[0]
        assert row["requests"] == len(latencies) == (400 if "orders" in like else 200)
        assert row["failed"] == failed == (80 if "orders" in like else 0)
        assert row["failed_pct"] == pytest.approx(100.0 * failed / len(latencies))
        assert row["rate"] == pytest.approx(len(latencies) / duration, abs=1e-3)
        # Exact, so within any precision HdrHistogram states (3 significant digits).
        for p in (50, 95, 99):
            assert row["latency_ms"][f"p{p}"] == pytest.approx(_rank(latencies, p), rel=1e-3)


def test_at_most_twenty_templates_the_rest_summed(cli, server: FaultServer, db_path: Path) -> None:
    """23 templates: the 20 busiest are shown, the other 3 are one row with their sums."""
    paths = [f"{server.url}/p/{chr(ord('a') + i)}" for i in range(23)]
    _run(cli, db_path, *paths, "-n", str(23 * 4 + 3), "-c", "4")
    urls = run_report(open_readonly(str(db_path)), None)["urls"]
    assert len(urls) == 21
    named, other = urls[:20], urls[20]
    assert all(u["templates"] == 1 and u["template"] for u in named)
    assert (other["method"], other["template"], other["templates"]) == (None, None, 3)
    # Round robin over the targets: the first three paths got one request more.
    assert [u["requests"] for u in named] == [5, 5, 5] + [4] * 17
    assert other["requests"] == 12
    assert sum(u["requests"] for u in urls) == 23 * 4 + 3


def test_status_over_time_is_exact_per_second(cli, server: FaultServer, db_path: Path) -> None:
    """Per second and class the counts are SQL's GROUP BY; summed they are the statuses."""
    _run(
        cli, db_path,
        f"{server.url}/a?{MIX}", f"{server.url}/b?status=404", f"{server.url}/c?fault=reset",
        "-n", "450", "--qps", "150", "-c", "4",
    )  # fmt: skip
    report = run_report(open_readonly(str(db_path)), None)
    per_second = report["per_second"]
    expected: dict[str, Counter[int]] = {}
    for second, status, n in query(
        db_path,
        "select cast(offset_ms / 1000 as integer), status, count(*) from requests group by 1, 2",
    ):
        cls = "error" if status is None else f"{int(status) // 100}xx"  # type: ignore[call-overload]
        expected.setdefault(cls, Counter())[int(second)] += int(n)  # type: ignore[call-overload]
    assert per_second["seconds"] == 1 + max(max(c) for c in expected.values())
    assert per_second["seconds"] >= 3  # 450 requests at 150/s span three seconds or more
    for cls, series in per_second["counts"].items():
        assert dict((s, n) for s, n in enumerate(series) if n) == dict(expected.get(cls, {}))
    sums = {cls: sum(series) for cls, series in per_second["counts"].items()}
    # mix: of 150 answers, 80 + 50 are 200 (slots 0-79 of each hundred), 20 are 503
    assert sums == {"2xx": 130, "3xx": 0, "4xx": 150, "5xx": 20, "error": 150}
    by_status = dict(report["status_counts"])
    assert (by_status[200], by_status[503], by_status[404], by_status[None]) == (130, 20, 150, 150)
    text = cli("summary", "--db", db_path).stdout
    for cls, name in (("2xx", "2xx"), ("4xx", "4xx"), ("5xx", "5xx"), ("error", "no resp.")):
        line = next(x for x in text.splitlines() if x.startswith(f"  {name} "))
        assert line.endswith(f"max {max(per_second['counts'][cls])}/s")
    assert "3xx" not in text  # a class that never occurred has no row
    assert f"0 s {per_second['seconds']} s" in " ".join(text.split())


def test_paced_run_shows_asked_achieved_and_lag(cli, server: FaultServer, db_path: Path) -> None:
    """A --qps 200 -n 200 run: asked, achieved and send lag p50/p99/max as SQL gives them."""
    _run(cli, db_path, f"{server.url}/", "--qps", "200", "-n", "200", "-c", "4")
    pacing = run_report(open_readonly(str(db_path)), None)["pacing"]
    assert pacing is not None
    (qps, duration, total) = query(
        db_path, "select qps_asked, duration_s, requests_total from runs"
    )[0]
    lags = [r[0] for r in query(db_path, "select lag_ms from requests where lag_ms is not null")]
    assert len(lags) == total == 200
    assert pacing["qps_asked"] == qps == 200.0
    assert pacing["achieved"] == pytest.approx(200 / duration, abs=1e-3)  # type: ignore[operator]
    (top,) = query(db_path, "select max(lag_ms) from requests")[0]
    assert pacing["lag_ms"] == {"p50": _rank(lags, 50), "p99": _rank(lags, 99), "max": top}
    text = cli("summary", "--db", db_path).stdout
    achieved = f"{pacing['achieved']:.1f}/s"
    assert f"pacing:          asked 200.0/s, achieved {achieved}" in text
    lag = "  ".join(f"{k} {ms(v)}" for k, v in pacing["lag_ms"].items())
    assert f"send lag:        {lag}" in text


def test_an_unpaced_run_has_no_pacing(cli, server: FaultServer, db_path: Path) -> None:
    _run(cli, db_path, f"{server.url}/", "-n", "5")
    assert run_report(open_readonly(str(db_path)), None)["pacing"] is None
    assert "pacing:" not in cli("summary", "--db", db_path).stdout


SUMMARY_KEYS = {
    "run", "requests", "failed", "aborted", "duration_s", "status_counts", "error_counts",
    "latency_ms", "urls", "per_second", "pacing", "client_limit", "hosts", "findings", "failures",
}  # fmt: skip


def test_summary_json_has_every_section(cli, server: FaultServer, db_path: Path) -> None:
    """One JSON object, the documented keys, the same values as the report."""
    _run(
        cli,
        db_path,
        f"{server.url}/x/1?{MIX}",
        f"{server.url}/x/2?{MIX}",
        "-n",
        "100",
        "--qps",
        "500",
    )
    result = cli("summary", "--db", db_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == SUMMARY_KEYS
    assert set(data["failures"]) == {"per_second", "top_urls", "by_remote", "by_socket", "groups"}
    assert set(data["client_limit"]) == {
        "cpu_s", "procs", "cpu_share", "saturated", "reasons", "advice",
    }  # fmt: skip
    assert (data["requests"], data["failed"]) == (100, 20)
    assert data["status_counts"] == [
        {"status": 200, "requests": 80},
        {"status": 503, "requests": 20},
    ]
    assert [(u["template"], u["requests"], u["failed"]) for u in data["urls"]] == [
        (f"{server.url}/x/#?mix=#:#,#:#", 100, 20)
    ]
    assert sum(sum(s) for s in data["per_second"]["counts"].values()) == 100
    assert data["pacing"]["qps_asked"] == 500.0
    assert sum(g["count"] for g in data["failures"]["groups"]) == 20
    assert data["latency_ms"]["ok"]["p50"] > 0


def test_summary_refuses_a_listing_format(cli, server: FaultServer, db_path: Path) -> None:
    _run(cli, db_path, f"{server.url}/", "-n", "1")
    result = cli("summary", "--db", db_path, "--format", "csv")
    assert result.exit_code == 2
    assert "'csv' is not one of 'table', 'json'" in result.stderr


def test_the_busiest_ten_say_how_many_there_are(cli, server: FaultServer, db_path: Path) -> None:
    """More failing connections than the summary lists: it says the ten of how many."""
    _run(cli, db_path, f"{server.url}/x?close_after=2&status=500", "-n", "60", "-c", "3")
    ((connections,),) = query(
        db_path, "select count(distinct connection_id) from requests where failed = 1"
    )
    assert connections >= 20  # a new connection every two requests
    report = run_report(open_readonly(str(db_path)), None)
    assert report["distinct"] == {"urls": 1, "remotes": 1, "connections": connections}
    assert len(report["by_socket"]) == 10
    lines = cli("summary", "--db", db_path).stdout.splitlines()
    assert f"failures by connection (the 10 busiest of {connections}):" in lines
    assert "top failing URLs:" in lines and "failures by remote address:" in lines
