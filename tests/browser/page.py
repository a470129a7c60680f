"""What a loaded report page drew, read back through the browser for the tests."""

from __future__ import annotations

from typing import Any

# Per chart: its x count, series labels and how many canvas pixels are not blank.
_CHARTS_JS = """
var out = {};
Object.keys(window.captureCharts).forEach(function (name) {
  var u = window.captureCharts[name], c = u.ctx.canvas;
  var px = u.ctx.getImageData(0, 0, c.width, c.height).data, inked = 0;
  for (var i = 3; i < px.length; i += 4) if (px[i]) inked++;
  out[name] = {points: u.data[0].length, labels: u.series.slice(1).map(function (s) {
    return s.label; }), inked: inked, width: c.width};
});
return out;
"""

# Rows of one table as text, by a CSS selector for the table.
_TABLE_JS = """
var t = document.querySelector(arguments[0]);
return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
  return Array.prototype.map.call(r.cells, function (c) { return c.textContent; });
});
"""


def charts(driver: Any) -> dict[str, dict[str, Any]]:
    """Returns {chart name: {points, labels, inked, width}} for window.captureCharts."""
    result: dict[str, dict[str, Any]] = driver.execute_script(_CHARTS_JS)
    return result


def table_rows(driver: Any, selector: str) -> list[list[str]]:
    """Returns the body rows of the table a selector finds, each cell's text."""
    rows: list[list[str]] = driver.execute_script(_TABLE_JS, selector)
    return rows


def number(text: str) -> int:
    """Reads "1,234" back as 1234."""
    return int(text.replace(",", ""))


# One chart's series (label, colour as drawn, its own values: rawData where the chart
# stacks them) and its x axis' tick labels and scale.
_CHART_JS = """
var u = window.captureCharts[arguments[0]], raw = u.rawData || u.data;
return {series: u.series.slice(1).map(function (s, i) {
  var stroke = typeof s.stroke === "function" ? s.stroke(u, i + 1) : s.stroke;
  return {label: s.label, stroke: stroke, values: raw[i + 1]}; }),
  x: raw[0], ticks: u.axes[0]._values, yticks: u.axes[1]._values,
  xmin: u.scales.x.min, xmax: u.scales.x.max};
"""

# The legend's text with the cursor on the point at index arguments[1].
_HOVER_JS = """
var u = window.captureCharts[arguments[0]];
u.setCursor({left: u.valToPos(u.data[0][arguments[1]], "x"), top: 10});
return Array.prototype.map.call(u.root.querySelectorAll(".u-legend .u-series"),
  function (tr) { return tr.textContent; });
"""


def chart(driver: Any, name: str) -> dict[str, Any]:
    """Returns one chart's {series: [{label, stroke, values}], x, ticks, yticks, xmin, xmax}."""
    result: dict[str, Any] = driver.execute_script(_CHART_JS, name)
    return result


def hover(driver: Any, name: str, index: int) -> list[str]:
    """Puts the cursor on a chart's point and returns each legend entry's text."""
    result: list[str] = driver.execute_script(_HOVER_JS, name, index)
    return result
