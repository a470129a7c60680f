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
