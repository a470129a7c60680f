"""The page drawn from tests/browser/sample.json (the JSON of two small real runs,
trimmed, with hostile text put in by hand) in a real headless Chromium: no console
errors, every chart drawn, values from the server inert, tables sortable by number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capture.output.report_html import report_html
from tests.browser.chrome import load
from tests.browser.page import charts, number, table_rows

SAMPLE = Path(__file__).with_name("sample.json")


def _page(tmp_path: Path, runs: int) -> tuple[Path, dict[str, Any]]:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
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
    for name, chart in charts(browser).items():
        if name.startswith("series.") and name != "series.lag":  # run 2 is unpaced
            assert any(label.startswith("run 1 'before' ") for label in chart["labels"]), name
            assert any(label.startswith("run 2 'after <i>fix</i>' ") for label in chart["labels"])
    rows = {row[0]: row for row in table_rows(browser, "#deltas table")}
    before, after, _ = data["comparisons"][0]["totals"]["requests"]
    assert number(rows["requests"][1]) == before and number(rows["requests"][2]) == after
