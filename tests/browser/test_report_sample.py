"""The page drawn from tests/browser/sample.json (the JSON of two small real runs,
trimmed, with hostile text put in by hand) in a real headless Chromium: no console
errors, every chart drawn, values from the server inert, tables sortable by number."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capture.output.report_html import report_html
from tests.browser.chrome import load
from tests.browser.page import chart, charts, hover, number, table_rows

SAMPLE = Path(__file__).with_name("sample.json")


def _page(
    tmp_path: Path, runs: int, change: Callable[[dict[str, Any]], None] | None = None
) -> tuple[Path, dict[str, Any]]:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    if change:
        change(data)
    data["runs"] = data["runs"][:runs]
    data["comparisons"] = data["comparisons"] if runs > 1 else []
    path = tmp_path / "report.html"
    path.write_text(report_html(data), encoding="utf-8")
    return path, data


def test_one_run_draws_every_chart_with_its_points(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 1)
    assert load(browser, path) == []
    drawn = charts(browser)
    series = {k: v for k, v in drawn.items() if k.startswith("series.")}
    run = data["runs"][0]["series"]
    names = ["requests", "failures", "latency", "connections"]
    names += ["errors"] * bool(run["errors"]) + ["lag"] * (run["lag_ms"] is not None)
    assert sorted(series) == sorted(f"series.{n}" for n in names)
    points = run["points"]
    assert {k: v["points"] for k, v in series.items()} == dict.fromkeys(series, points)
    for name in ("dist.percentiles", "dist.urls", "dist.histogram", "connections.positions"):
        assert name in drawn
    assert all(chart["inked"] > 0 for chart in drawn.values()), drawn


def test_values_from_the_server_are_text(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 2)
    assert load(browser, path) == []
    assert browser.execute_script("return window.__pwned") is None
    assert browser.execute_script("return document.images.length") == 0
    pres = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('pre.body'),"
        " function (p) { return p.textContent; })"
    )
    body = data["runs"][0]["failure_groups"][0]["examples"][0]["body"]["preview"]
    assert body in pres
    assert "run 2 'after <i>fix</i>'" in browser.title
    assert browser.execute_script("return document.querySelectorAll('i, b').length") == 0
    assert "window.__pwned=3" in browser.execute_script(
        "return document.getElementById('failures').textContent"
    )


@pytest.mark.parametrize("column", [4, 5])  # requests, failures
def test_a_click_sorts_connections_by_number(browser: Any, tmp_path: Path, column: int) -> None:
    path, _ = _page(tmp_path, 1)
    assert load(browser, path) == []
    selector = "#connections table.sortable"
    browser.execute_script(
        "document.querySelector(arguments[0]).tHead.rows[0].cells[arguments[1]].click()",
        selector,
        column,
    )
    values = [number(row[column]) for row in table_rows(browser, selector)]
    assert values == sorted(values, reverse=True)  # numbers first sort largest first
    browser.execute_script(
        "document.querySelector(arguments[0]).tHead.rows[0].cells[arguments[1]].click()",
        selector,
        column,
    )
    values = [number(row[column]) for row in table_rows(browser, selector)]
    assert values == sorted(values)


def test_two_runs_overlay_and_show_the_deltas(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 2)
    assert load(browser, path) == []
    for name, drawn in charts(browser).items():
        if name.startswith("series.") and name != "series.lag":  # run 2 is unpaced
            assert any(label.startswith("run 1 'before' ") for label in drawn["labels"]), name
            assert any(label.startswith("run 2 'after <i>fix</i>' ") for label in drawn["labels"])
    rows = {row[0]: row for row in table_rows(browser, "#deltas table")}
    before, after, _ = data["comparisons"][0]["totals"]["requests"]
    assert number(rows["requests"][1]) == before and number(rows["requests"][2]) == after


def _cell_classes(driver: Any, selector: str) -> list[list[str]]:
    """Each body row of a table as [row class, cell class, …]."""
    rows: list[list[str]] = driver.execute_script(
        "return Array.prototype.map.call(document.querySelector(arguments[0]).tBodies[0].rows,"
        " function (r) { return [r.className].concat(Array.prototype.map.call(r.cells,"
        " function (c) { return c.className; })); })",
        selector,
    )
    return rows


def _row_classes(driver: Any) -> dict[str, str]:
    """The first delta table's {metric: row class}."""
    names = [row[0] for row in table_rows(driver, "#deltas table")]
    classes = [row[0] for row in _cell_classes(driver, "#deltas table")]
    return dict(zip(names, classes, strict=True))


def test_positions_stack_failures_by_outcome(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 1)
    assert load(browser, path) == []
    pos = data["runs"][0]["connections"]["positions"]
    drawn = chart(browser, "connections.positions")
    by_kind = pos["by_kind"]
    most_first = sorted(by_kind, key=lambda k: (-sum(by_kind[k]), k))
    assert [s["label"] for s in drawn["series"]] == [*most_first, "failed %"]
    values = {s["label"]: s["values"] for s in drawn["series"]}
    assert {k: values[k] for k in by_kind} == by_kind
    strokes = [s["stroke"] for s in drawn["series"]]
    assert len(set(strokes)) == len(strokes)  # each outcome its own colour
    share = [
        100 * f / n if n >= 20 else None
        for f, n in zip(pos["failures"], pos["requests"], strict=True)
    ]
    assert values["failed %"] == pytest.approx(share)
    assert None in share  # the sample has far positions with few requests
    ticks = [t for t in drawn["ticks"] if t]
    assert ticks == [f"#{int(t[1:])}" for t in ticks] and len(set(ticks)) == len(ticks)
    assert drawn["xmin"] <= pos["from"][0] - 0.5 and drawn["xmax"] >= pos["from"][-1] + 0.5


def test_position_hover_says_how_many_requests(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 1)
    assert load(browser, path) == []
    pos = data["runs"][0]["connections"]["positions"]
    first = hover(browser, "connections.positions", 0)
    assert f"#1 ({pos['requests'][0]} requests)" in first[0]
    assert first[-1].endswith(f"16.7 % of {pos['requests'][0]}")
    few = next(i for i, n in enumerate(pos["requests"]) if n < 20)
    legend = hover(browser, "connections.positions", few)
    assert legend[-1].endswith(f"not drawn: {pos['requests'][few]} requests")
    note = browser.execute_script("return document.getElementById('connections').textContent")
    assert "not drawn where fewer than 20 requests" in note


def _lookalike_groups(data: dict[str, Any]) -> None:
    """Two groups whose signatures differ only after their first 20 characters."""
    groups = data["runs"][0]["failure_groups"]
    groups[0]["signature"] = "<html><head><title>nginx upstream A down"
    groups[1]["signature"] = "<html><head><title>envoy no healthy upstream"
    groups[2]["signature"], groups[2]["signature_from"] = "Connection aborted. #", "error"
    groups[3]["signature_from"] = None


def test_group_signatures_show_in_full_with_what_they_are_of(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 1, _lookalike_groups)
    assert load(browser, path) == []
    shown = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#failures .g-sig'),"
        " function (e) { return [e.textContent, e.title]; })"
    )
    groups = data["runs"][0]["failure_groups"]
    assert shown == [
        [
            f"{g['signature_from']}: {g['signature']}" if g["signature_from"] else g["signature"],
            f"{g['signature_from'] or ''} signature: {g['signature']}".lstrip(),
        ]
        for g in groups
    ]


def test_deltas_colour_only_metrics_with_a_direction(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 2)  # run 1 at --qps 300, run 2 unpaced
    assert load(browser, path) == []
    classes = _row_classes(browser)
    assert classes == {
        "requests": "",
        "failed": "better",  # 40 -> 25
        "failed %": "worse",  # 3.33 -> 5.0
        "rate": "",  # paced against unpaced: no direction
        "duration s": "",
        "aborted": "",
        "ok latency p50": "worse",
        "ok latency p90": "worse",
        "ok latency p99": "worse",
        "ok latency p99.9": "better",
        "ok latency max": "better",
    }
    box = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#deltas .caveats li'),"
        " function (e) { return e.textContent; })"
    )
    assert box == data["comparisons"][0]["caveats"] and box


def test_both_runs_unpaced_judge_the_rate(browser: Any, tmp_path: Path) -> None:
    def unpaced(data: dict[str, Any]) -> None:
        data["runs"][0]["totals"]["qps_asked"] = None

    path, _ = _page(tmp_path, 2, unpaced)
    assert load(browser, path) == []
    classes = _row_classes(browser)
    assert classes["rate"] == "better"  # 300/s -> 1,252/s


def test_per_url_deltas_show_the_change(browser: Any, tmp_path: Path) -> None:
    path, data = _page(tmp_path, 2)
    assert load(browser, path) == []
    heads = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('#deltas table.sortable th'),"
        " function (e) { return e.textContent; })"
    )
    metrics = ["requests", "failed %", "p50", "p95", "p99"]
    assert heads == ["URL"] + [h for m in metrics for h in (m, f"{m} change")]
    rows = table_rows(browser, "#deltas table.sortable")
    url = data["comparisons"][0]["urls"][0]
    first = next(r for r in rows if r[0] == f"GET {url['template']}")
    assert first[1:5] == ["400 → 500", "+100", "8.00 % → 5.00 %", "\N{MINUS SIGN}3.00 pt"]
    assert first[5:7] == ["3.20 ms → 5.22 ms", "+2.03 ms"]
    cells = _cell_classes(browser, "#deltas table.sortable")[rows.index(first)]
    assert "better" in cells[5] and "worse" in cells[7] and "better" not in cells[3]


def test_overlaid_runs_never_share_a_series_colour(browser: Any, tmp_path: Path) -> None:
    path, _ = _page(tmp_path, 2)
    assert load(browser, path) == []
    for name in charts(browser):
        if name.startswith(("series.", "dist.")):
            strokes = [s["stroke"] for s in chart(browser, name)["series"]]
            assert len(set(strokes)) == len(strokes), (name, strokes)


@pytest.mark.parametrize("name", ["series.failures", "series.requests"])
def test_rate_axes_never_repeat_a_tick(browser: Any, tmp_path: Path, name: str) -> None:
    """Counts per second of at most 2: ticks at halves are fine, "0, 1, 1, 2, 2" is not."""

    def few(data: dict[str, Any]) -> None:  # at most 2 a step: uPlot would tick at halves
        series = data["runs"][0]["series"]
        series["failures"] = [min(2, f) for f in series["failures"]]
        for k, values in series["requests"].items():
            series["requests"][k] = [min(2, v) for v in values]

    path, _ = _page(tmp_path, 1, few)
    assert load(browser, path) == []
    ticks = [t for t in chart(browser, name)["yticks"] if t]
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), ticks
