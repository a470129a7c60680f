"""The `capture summary` view of a stored run: store.report's dict in, lines out. Pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from capture.escape import visible
from capture.output.cells import short_url
from capture.output.units import NONE, ms, percent, seconds

if TYPE_CHECKING:
    from capture.store.rows import Report

__all__ = ["report_lines", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 60) -> str:
    """Returns values as a one-line bar chart, summed into at most width buckets."""
    if not values:
        return ""
    size = max(1, -(-len(values) // width))
    buckets = [sum(values[i : i + size]) for i in range(0, len(values), size)]
    top = max(buckets)
    if top == 0:
        return " " * len(buckets)
    return "".join(" " if v == 0 else _BARS[min(7, (v * 8 - 1) // top)] for v in buckets)


def _percentiles(values: dict[str, float]) -> str:
    return "  ".join(f"{k} {ms(v)}" for k, v in values.items()) or NONE


def report_lines(rep: Report) -> Iterator[str]:
    """Yields the summary of one run."""
    run, total, failed = rep["run"], rep["requests"], rep["failed"]
    name = f" {visible(run['name'], one_line=True)!r}" if run["name"] else ""
    duration = run["duration_s"]
    yield f"run {run['id']}{name}: {run['status']}, started {run['started_at']}" + (
        f", {seconds(duration)}" if duration else ""
    )
    yield f"  requests {total}, failed {failed} ({percent(failed, total)})"
    yield ""
    yield "status codes:"
    for status, n in rep["status_counts"]:
        yield f"  {'(no response)' if status is None else status:<14} {n:>9}  {percent(n, total)}"
    if rep["error_counts"]:
        yield "error kinds:"
        for kind, n in rep["error_counts"]:
            yield f"  {kind:<20} {n:>9}  {percent(n, total)}"
    yield ""
    yield f"latency ok:      {_percentiles(rep['latency_ok'])}"
    yield f"latency failed:  {_percentiles(rep['latency_failed'])}"
    if failed:
        per_second = rep["failures_per_second"]
        series = [0] * (per_second[-1][0] + 1 if per_second else 0)
        for second, failures in per_second:
            series[second] = failures
        yield ""
        yield f"failures per second over {len(series)} s (peak {max(series, default=0)}):"
        yield f"  {sparkline(series)}"
        counted: tuple[tuple[str, Sequence[tuple[str | None, int]], bool], ...] = (
            ("top failing URLs", rep["top_urls"], True),
            ("failures by remote address", rep["by_remote"], False),
            ("failures by client socket", rep["by_socket"], False),
        )
        for title, values, short in counted:
            yield ""
            yield f"{title}:"
            for value, n in values:
                shown = short_url(value, 60) if short and value else value or "(no connection)"
                yield f"  {n:>9}  {visible(str(shown), one_line=True)}"
        yield ""
        yield "failure groups (outcome, path, body signature):"
        for g in rep["groups"]:
            signature = visible(g["signature"] or "", one_line=True)
            path = visible(short_url(g["path"], 50), one_line=True)
            yield (
                f"  {g['count']:>7}  {g['outcome']:<18} {path}"
                f"  first {seconds(g['first_ms'] / 1000, 2)} last {seconds(g['last_ms'] / 1000, 2)}"
                f"  e.g. capture show {g['example_id']}"
            )
            if signature:
                yield f"           {signature[:100]}"
