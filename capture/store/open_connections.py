"""Open connections over a run, per step (docs/report.md: series.connections): a TCP
connection counts as open from the start of its first request to the end of its last.

The requests table knows no connect or close time, so this is the time a connection
was certainly open; capture's pool holds a connection between requests too, so the
true figure can only be higher between two requests, never above the pool's size."""

from __future__ import annotations

from typing import Any

from capture.store.source import ReadConnection

__all__ = ["open_connections"]


def open_connections(
    conn: ReadConnection, run_id: int, step_s: int, points: int, last_span_s: float
) -> dict[str, Any]:
    """Per step: `open_avg`, the connections open on average over the step (time-weighted;
    the last step over the last_span_s it lasted);
    `open_max`, the most open at one moment in it; `opened`, the connections whose first
    request started in it. One pass over the run's connections, grouped by the database."""
    step_ms = 1000.0 * step_s
    events: list[tuple[float, int]] = []  # (ms, +1 open / -1 closed), closes sort first
    opened = [0] * points
    cursor = conn.cursor()
    cursor.row_factory = None
    for first, last in cursor.execute(
        "SELECT min(offset_ms), max(offset_ms + latency_ms) FROM requests"
        " WHERE run_id = ? AND connection_id IS NOT NULL GROUP BY connection_id",
        (run_id,),
    ):
        start = max(0.0, float(first))
        events.append((start, 1))
        events.append((max(start, float(last)), -1))
        opened[min(points - 1, int(start // step_ms))] += 1
    events.sort()
    weighted = [0.0] * points  # connection-ms open within each step
    peak = [0] * points
    now, count = 0.0, 0
    for at, change in events:
        _spread(weighted, peak, now, at, count, step_ms)
        now, count = at, count + change
        index = min(points - 1, int(at // step_ms))
        peak[index] = max(peak[index], count)
    spans = [step_ms] * points
    if points:
        spans[-1] = max(1.0, min(step_ms, 1000.0 * last_span_s))
    return {
        "open_avg": [round(w / span, 3) for w, span in zip(weighted, spans, strict=True)],
        "open_max": peak,
        "opened": opened,
    }


def _spread(weighted: list[float], peak: list[int], start: float, end: float, count: int,
            step_ms: float) -> None:  # fmt: skip
    """Adds count connections open from start to end (ms) to the steps they cover."""
    if count == 0 or end <= start or not weighted:
        return
    last = len(weighted) - 1
    first_step, last_step = min(last, int(start // step_ms)), min(last, int(end // step_ms))
    for index in range(first_step, last_step + 1):
        low, high = max(start, index * step_ms), min(end, (index + 1) * step_ms)
        if high > low:  # time past the last step is in none
            weighted[index] += count * (high - low)
            peak[index] = max(peak[index], count)
