"""`capture report` end to end: real runs against the built-in target, the page the CLI
writes opened in headless Chromium, and what it drew checked against the database."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from capture.store.urls import url_template
from capture.target.server import FaultServer
from tests.browser.chrome import load
from tests.browser.page import chart as page_chart
from tests.browser.page import charts, number, table_rows
from tests.conftest import query

SCRIPT_BODY = "<script>window.__pwned=1</script>"
ATTR_BODY = '"><img src=x onerror="window.__pwned=2">'


def _run(cli: Any, db: Path, *args: str) -> None:
    result = cli("run", *args, "-c", "4", "-d", "20s", "--db", db, "--quiet")
    assert result.exit_code == 0, result.stderr


def _report(cli: Any, db: Path, out: Path, *runs: str) -> dict[str, Any]:
    """Writes the page for runs and returns its JSON (the same command, --format json)."""
    result = cli("report", *runs, "--db", db, "-o", out)
    assert result.exit_code == 0, result.stderr
    result = cli("report", *runs, "--db", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_mixed_run_draws_what_the_database_holds(
    browser: Any, server: FaultServer, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    urls = [
        f"{server.url}/api/items?mix=500:10,503:5",
        f"{server.url}/api/orders?close_after=7",
        f"{server.url}/api/users/7?status=404",
    ]
    _run(cli, db_path, *urls, "-n", "400")
    page = tmp_path / "report.html"
    data = _report(cli, db_path, page)
    assert load(browser, page) == []

    drawn = charts(browser)
    points = data["runs"][0]["series"]["points"]
    series = {name: c for name, c in drawn.items() if name.startswith("series.")}
    assert {"series.requests", "series.failures", "series.latency", "series.connections"} <= set(
        series
    )
    assert {name: c["points"] for name, c in series.items()} == dict.fromkeys(series, points)
    assert all(c["inked"] > 0 for c in drawn.values()), drawn

    by_url: Counter[tuple[str, str]] = Counter()
    for method, url, n in query(
        db_path, "SELECT method, url, count(*) FROM requests GROUP BY 1, 2"
    ):
        by_url[(str(method), url_template(str(url)))] += int(str(n))
    rows = table_rows(browser, "#urls table")
    assert {(r[0], r[1]): number(r[2]) for r in rows} == dict(by_url)

    groups = query(
        db_path,
        "SELECT count(*) FROM requests r JOIN failures f ON f.request_id = r.id"
        " WHERE r.failed = 1 GROUP BY r.status, r.error_kind, r.url, f.body_signature",
    )
    shown = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#failures .g-count'),"
        " function (e) { return e.textContent; })"
    )
    assert sorted(number(n) for n in shown) == sorted(int(str(n)) for (n,) in groups)


def test_bodies_and_headers_from_the_server_stay_text(
    browser: Any, server: FaultServer, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    body = SCRIPT_BODY + ATTR_BODY
    ctype = 'text/html; x="><img src=x onerror="window.__pwned=3">'
    url = f"{server.url}/evil?status=500&body={quote(body)}&ctype={quote(ctype)}"
    _run(cli, db_path, url, "-n", "3")
    page = tmp_path / "report.html"
    _report(cli, db_path, page)
    assert load(browser, page) == []
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.execute_script("return document.querySelectorAll('img, iframe').length") == 0
    pres = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#failures pre.body'),"
        " function (p) { return p.textContent; })"
    )
    assert pres and all(p == body for p in pres), pres
    text = browser.execute_script("return document.getElementById('failures').textContent")
    assert ctype in text


def test_two_runs_overlay_and_the_deltas_show_both(
    browser: Any, server: FaultServer, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    _run(cli, db_path, f"{server.url}/api/items?mix=500:20", "-n", "300", "--name", "before")
    _run(cli, db_path, f"{server.url}/api/items?mix=500:2", "-n", "200", "--name", "after")
    page = tmp_path / "fix.html"
    _report(cli, db_path, page, "before", "after")
    assert load(browser, page) == []
    (a,), (b,) = query(db_path, "SELECT id FROM runs ORDER BY id")
    for name, chart in charts(browser).items():
        if name.startswith("series."):
            assert any(s.startswith(f"run {a} 'before' ") for s in chart["labels"]), name
            assert any(s.startswith(f"run {b} 'after' ") for s in chart["labels"]), name
    counts = dict(query(db_path, "SELECT run_id, count(*) FROM requests GROUP BY run_id"))
    assert counts == {a: 300, b: 200}
    rows = {r[0]: r for r in table_rows(browser, "#deltas table")}
    assert number(rows["requests"][1]) == 300 and number(rows["requests"][2]) == 200


def test_requests_that_made_no_connection_are_said_apart(
    browser: Any, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    _run(cli, db_path, "http://127.0.0.1:1/x", "-n", "20")  # a closed port on loopback
    page = tmp_path / "refused.html"
    data = _report(cli, db_path, page)
    assert load(browser, page) == []
    assert query(db_path, "SELECT error_kind, count(*) FROM requests GROUP BY 1") == [
        ("connect_refused", 20)
    ]
    lines = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#connections .no-connection'),"
        " function (e) { return e.textContent; })"
    )
    assert lines == [
        "20 requests made no connection (connect_refused \N{MULTIPLICATION SIGN}20): the fresh"
        " and reused rows above count only the requests that had a connection."
    ]
    assert data["runs"][0]["failure_groups"][0]["signature_from"] == "error"
    sigs = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#failures .g-sig'),"
        " function (e) { return e.textContent; })"
    )
    assert [s.split(": ", 1)[0] for s in sigs] == ["error"]
    # Twenty refusals in a few ms: one short step, drawn as its whole rate, not a quarter's.
    series = data["runs"][0]["series"]
    assert series["points"] == 1 and series["last_span_s"] < 0.25
    drawn = {c["label"]: c["values"] for c in page_chart(browser, "series.failures")["series"]}
    (rate,) = drawn["failures/s"]
    assert abs(rate - 20 / max(series["last_span_s"], 0.001)) < 1e-6


def test_the_keep_alive_race_stands_apart_from_the_statuses(
    browser: Any, server: FaultServer, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    urls = [f"{server.url}/api/a?mix=502:10", f"{server.url}/api/c?fault=close_reused"]
    _run(cli, db_path, *urls, "-n", "400")
    page = tmp_path / "race.html"
    _report(cli, db_path, page)
    assert load(browser, page) == []
    rows = query(
        db_path,
        "SELECT coalesce(error_kind, status), connection_request_no, count(*) FROM requests"
        " WHERE failed = 1 GROUP BY 1, 2",
    )
    expected: dict[str, dict[int, int]] = {}
    for outcome, position, n in rows:
        expected.setdefault(str(outcome), {})[int(str(position))] = int(str(n))
    assert "remote_closed" in expected and "502" in expected
    assert 1 not in expected["remote_closed"]  # a fresh connection never races
    drawn = page_chart(browser, "connections.positions")
    got = {
        s["label"]: {int(x): v for x, v in zip(drawn["x"], s["values"], strict=True) if v}
        for s in drawn["series"]
        if s["label"] != "failed %"
    }
    assert got == expected


def test_rates_latency_and_open_connections_are_drawn_as_the_data_says(
    browser: Any, server: FaultServer, db_path: Path, tmp_path: Path, cli: Any
) -> None:
    """Counts per step drawn per second (the last step over its own span), the ok
    requests' latency apart from the instant 503s, and open connections (not distinct
    ones per step: close_after churns many through a pool of 4)."""
    urls = [f"{server.url}/slow?delay=0.02&close_after=2", f"{server.url}/rl?status=503"]
    _run(cli, db_path, *urls, "-n", "450", "--qps", "300")
    page = tmp_path / "report.html"
    data = _report(cli, db_path, page)
    assert load(browser, page) == []
    series = data["runs"][0]["series"]
    points, span = series["points"], series["last_span_s"]
    assert points >= 2
    drawn = {s["label"]: s["values"] for s in page_chart(browser, "series.requests")["series"]}
    for i, (count, rate) in enumerate(zip(series["requests"]["2xx"], drawn["2xx"], strict=True)):
        if i < points - 1:
            assert rate == count
        elif span < 0.25:
            assert rate is None  # a rate over a sliver of a second would mislead
        else:
            assert abs(rate - count / span) < 1e-9
    ok = {s["label"]: s["values"] for s in page_chart(browser, "series.latency")["series"]}
    assert ok["p50"] == series["latency_ms"]["p50"]
    assert min(v for v in ok["p50"] if v is not None) >= 20.0  # the /slow ones, not the 503s
    failed = {
        s["label"]: s["values"] for s in page_chart(browser, "series.failed_latency")["series"]
    }
    assert failed["failed p50"] == series["failed_latency_ms"]["p50"]
    conns = {s["label"]: s["values"] for s in page_chart(browser, "series.connections")["series"]}
    assert conns["open (average)"] == series["connections"]["open_avg"]
    assert conns["open (peak)"] == series["connections"]["open_max"]
    assert max(conns["open (peak)"]) <= 4
    ((distinct,),) = query(db_path, "SELECT count(DISTINCT connection_id) FROM requests")
    assert int(str(distinct)) > 4 * points
