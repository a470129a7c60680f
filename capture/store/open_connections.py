"""Open connections over a run, per step (docs/report.md: series.connections): a TCP
connection counts as open from the start of its first request to the end of its last.

The requests table knows no connect or close time, so this is the time a connection
was certainly open; capture's pool holds a connection between requests too, so the
true figure can only be higher between two requests, never above the pool's size."""

from __future__ import annotations

from array import array
from typing import Any

__all__ = ["open_connections"]


def open_connections(
    starts: array[float], ends: array[float], step_s: int, points: int, last_span_s: float
) -> dict[str, Any]:
    """Per step, from each connection's start and end (ms into the run): `open_avg`, the
    connections open on average over the step (time-weighted; the last step over the
    last_span_s it lasted); `open_max`, the most open at one moment in it; `opened`, the
    connections whose first request started in it."""
    step_ms = 1000.0 * step_s
    opened = [0] * points
    for start in starts:
        opened[max(0, min(points - 1, int(start // step_ms)))] += 1
    opens, closes = sorted(starts), sorted(ends)
    weighted = [0.0] * points  # connection-ms open within each step
    peak = [0] * points
    now, count, i, j = 0.0, 0, 0, 0
    while i < len(opens) or j < len(closes):
        opening = i < len(opens) and (j == len(closes) or opens[i] < closes[j])
        at = opens[i] if opening else closes[j]  # at one time, closes first
        _spread(weighted, peak, now, at, count, step_ms)
        now = at
        if opening:
            count, i = count + 1, i + 1
        else:
            count, j = count - 1, j + 1
        index = min(points - 1, int(at // step_ms))
        if index >= 0:
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
