"""The time series of a report (docs/report.md: series), grouped by the database per step:
counts by status class and error kind, failures, latency and send-lag percentiles from
HdrHistogram buckets, and the connections in use. A few full scans of the run's rows
and a few thousand rows back, whatever the run's size."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from capture.store.hdr import bucket_sql, percentiles_of
from capture.store.source import ReadConnection

__all__ = ["MAX_POINTS", "run_series", "step_for"]

MAX_POINTS = 3600  # a longer run gets steps of several seconds
TOP_KINDS = 8  # error kinds drawn each; the rest summed into "other"
CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
_LATENCY_PERCENTS = (50.0, 90.0, 99.0)
_LAG_PERCENTS = (50.0, 99.0)


def step_for(last_offset_ms: float | None) -> int:
    """Seconds per point: 1, or the fewest whole seconds that keep MAX_POINTS points."""
    seconds = int(max(0.0, last_offset_ms or 0.0) // 1000) + 1
    return max(1, -(-seconds // MAX_POINTS))


def _step_sql(step: int) -> str:
    return f"(CASE WHEN offset_ms <= 0 THEN 0 ELSE CAST(offset_ms / {1000 * step} AS INTEGER) END)"


_CLASS = "CASE WHEN status IS NULL THEN 'error' ELSE CAST(status / 100 AS INTEGER) || 'xx' END"


def run_series(
    conn: ReadConnection, run_id: int, *, duration_s: float, paced: bool
) -> dict[str, Any]:
    """Returns the series of one run, each list one entry per step from the run's start
    (duration_s picks the step; the points run to the last request's step)."""
    step = step_for(duration_s * 1000)
    at = _step_sql(step)
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, streamed: a step's groups are counted as read
    cursor.execute(
        f"SELECT {at} AS step, {_CLASS} AS class, failed, {bucket_sql('latency_ms')} AS bucket,"
        " count(*), max(latency_ms) FROM requests WHERE run_id = ?"
        " GROUP BY step, class, failed, bucket ORDER BY step",  # one step at a time
        (run_id,),
    )
    counts = _counts(cursor)
    points = counts.pop("points")
    out: dict[str, Any] = {"step_s": step, "points": points, "t": [i * step for i in range(points)]}
    out.update(counts)
    out["connections"] = _connections(conn, run_id, at, points)
    out["errors"] = _errors(conn, run_id, at, points)
    out["lag_ms"] = _lag(conn, run_id, at, points) if paced else None
    return out


def _counts(rows: Iterable[Any]) -> dict[str, Any]:
    """Requests by class, failures, and latency percentiles and maximum per step, from
    the (step, class, failed, bucket) groups; and the number of steps."""
    requests: dict[str, dict[int, int]] = {c: {} for c in CLASSES}
    failures: Counter[int] = Counter()
    top: dict[int, float] = {}
    latency: dict[str, dict[int, float]] = {f"p{p:g}": {} for p in _LATENCY_PERCENTS}
    current, found = -1, Counter[int]()  # the step being read and its buckets
    for step, cls, failed, bucket, n, slowest in rows:
        if step != current:
            _percentiles_into(latency, current, found)
            current, found = step, Counter()
        per = requests.setdefault(cls, {})  # a final 1xx: its own class
        per[step] = per.get(step, 0) + n
        if failed:
            failures[step] += n
        top[step] = max(top.get(step, slowest), slowest)
        found[int(bucket)] += n
    _percentiles_into(latency, current, found)
    points = current + 1
    return {
        "points": points,
        "requests": {c: [per.get(i, 0) for i in range(points)] for c, per in requests.items()},
        "failures": [failures[i] for i in range(points)],
        "latency_ms": {
            **{p: [values.get(i) for i in range(points)] for p, values in latency.items()},
            "max": [top.get(i) for i in range(points)],
        },
    }


def _percentiles_into(latency: dict[str, dict[int, float]], step: int, found: Counter[int]) -> None:
    """Puts one step's latency percentiles, from its buckets, into latency."""
    if not found:
        return
    values = percentiles_of(sorted(found.items()), sum(found.values()), _LATENCY_PERCENTS)
    for p, value in zip(_LATENCY_PERCENTS, values, strict=True):
        latency[f"p{p:g}"][step] = value


def _connections(conn: ReadConnection, run_id: int, at: str, points: int) -> dict[str, list[int]]:
    """Per step, the distinct connections that carried a request, and those it opened."""
    in_use, opened = [0] * points, [0] * points
    for step, distinct, fresh in conn.execute(
        f"SELECT {at} AS step, count(DISTINCT connection_id),"
        " sum(CASE WHEN connection_request_no = 1 THEN 1 ELSE 0 END)"
        " FROM requests WHERE run_id = ? GROUP BY step",
        (run_id,),
    ):
        if step < points:
            in_use[step], opened[step] = int(distinct), int(fresh or 0)
    return {"in_use": in_use, "opened": opened}


def _errors(conn: ReadConnection, run_id: int, at: str, points: int) -> dict[str, list[int]]:
    """Requests per error kind per step: the most frequent kinds, the rest as "other"."""
    rows = conn.execute(
        f"SELECT {at} AS step, error_kind, count(*) FROM requests"
        " WHERE run_id = ? AND error_kind IS NOT NULL GROUP BY step, error_kind",
        (run_id,),
    ).fetchall()
    totals: Counter[str] = Counter()
    for _, kind, n in rows:
        totals[kind] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    kept = set(ranked[:TOP_KINDS])
    out: dict[str, list[int]] = {k: [0] * points for k in ranked[:TOP_KINDS]}
    if len(ranked) > TOP_KINDS:
        out["other"] = [0] * points
    for step, kind, n in rows:
        out[kind if kind in kept else "other"][step] += n
    return out


def _lag(conn: ReadConnection, run_id: int, at: str, points: int) -> dict[str, list[float | None]]:
    """Per step, the send lag's percentiles (from its buckets) and maximum."""
    per_step: dict[int, list[tuple[int, int]]] = defaultdict(list)
    tops: dict[int, float] = {}
    for step, bucket, n, top in conn.execute(
        f"SELECT {at} AS step, {bucket_sql('lag_ms')} AS bucket, count(*), max(lag_ms)"
        " FROM requests WHERE run_id = ? AND lag_ms IS NOT NULL"
        " GROUP BY step, bucket ORDER BY step, bucket",
        (run_id,),
    ):
        per_step[step].append((int(bucket), int(n)))
        tops[step] = max(tops.get(step, float(top)), float(top))
    out: dict[str, list[float | None]] = {f"p{p:g}": [None] * points for p in _LAG_PERCENTS}
    for step, buckets in per_step.items():
        values = percentiles_of(buckets, sum(n for _, n in buckets), _LAG_PERCENTS)
        for p, value in zip(_LAG_PERCENTS, values, strict=True):
            out[f"p{p:g}"][step] = value
    out["max"] = [tops.get(i) for i in range(points)]
    return out
