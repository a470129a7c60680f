"""The time series of a report (docs/report.md: series), grouped by the database per step:
counts by status class and error kind, failures, latency and send-lag percentiles from
HdrHistogram buckets, and the connections in use. A few full scans of the run's rows
and a few thousand rows back, whatever the run's size."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from math import inf
from typing import Any

from capture.store.hdr import bucket_sql, buckets_of, percentiles_of
from capture.store.report_pg import truncated
from capture.store.run_pass import RunColumns
from capture.store.source import ReadConnection

__all__ = ["MAX_POINTS", "run_series", "step_for"]

MAX_POINTS = 3600  # a longer run gets steps of several seconds
TOP_KINDS = 8  # error kinds drawn each; the rest summed into "other"
CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
# Per-step percentiles to 2 significant digits (within 0.8 %): a chart's line needs no
# more, and a busy second's requests fall in a few hundred buckets instead of one each.
DIGITS = 2
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
    conn: ReadConnection,
    run_id: int,
    *,
    duration_s: float,
    paced: bool,
    columns: RunColumns | None = None,
) -> dict[str, Any]:
    """Returns the series of one run, each list one entry per step from the run's start
    (duration_s picks the step; the points run to the last request's step). columns: the
    run's rows as the summary read them, grouped here instead of by the database."""

    def grouped(step: int) -> dict[str, Any]:
        if columns is None:
            return _grouped(conn, run_id, step)
        return _counts(_column_groups(columns, step))

    step = step_for(duration_s * 1000)
    counts = grouped(step)
    if counts["points"] > 2 * MAX_POINTS:  # the rows run far past the stored duration
        step = step_for(counts["end_ms"])
        counts = grouped(step)
    at = _step_sql(step)
    points = counts.pop("points")
    end_ms = counts.pop("end_ms")
    last_span = max(0.0, min(float(step), (end_ms - (points - 1) * step * 1000) / 1000))
    out: dict[str, Any] = {
        "step_s": step,
        "points": points,
        "t": [i * step for i in range(points)],
        "last_span_s": round(last_span, 3),
    }
    out.update(counts)
    out["errors"] = _errors(conn, run_id, at, points)
    out["lag_ms"] = _lag(conn, run_id, at, points) if paced else None
    return out


def _grouped(conn: ReadConnection, run_id: int, step: int) -> dict[str, Any]:
    """_counts of the run's (step, class, failed, latency bucket) groups, one step at a time."""
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples, streamed: a step's groups are counted as read
    cursor.execute(
        f"SELECT {_step_sql(step)} AS step, {_CLASS} AS class, failed,"
        f" {bucket_sql('latency_ms', DIGITS)} AS bucket, count(*), max(latency_ms),"
        " max(offset_ms + latency_ms)"
        " FROM requests WHERE run_id = ?"
        " GROUP BY step, class, failed, bucket ORDER BY step",
        (run_id,),
    )
    return _counts(cursor)


def _column_groups(columns: RunColumns, step: int) -> list[tuple[Any, ...]]:
    """_grouped's rows, grouped from the run's rows as read: the database's GROUP BY
    evaluated bucket_sql's CASE (a score of terms) for each of a million rows, 4 of the
    report's CPU seconds (issue 15). The same step, class and bucket, each as its SQL."""
    width_ms = 1000 * step
    classes = {s: "error" if s is None else f"{truncated(s, 100)}xx" for s in set(columns.status)}
    keys = list(
        zip(
            [0 if offset <= 0 else int(offset / width_ms) for offset in columns.offset],
            map(classes.__getitem__, columns.status),
            columns.failed,
            buckets_of(columns.latency, DIGITS),
            strict=True,
        )
    )
    counts = Counter(keys)
    slowest: dict[tuple[Any, ...], float] = {}
    ended: dict[tuple[Any, ...], float] = {}
    for key, offset, latency in zip(keys, columns.offset, columns.latency, strict=True):
        if latency > slowest.get(key, -inf):
            slowest[key] = latency
        end = offset + latency
        if end > ended.get(key, -inf):
            ended[key] = end
    # by step, as _counts reads them; the rows come in time order, so nearly sorted
    ordered = sorted(counts.items(), key=lambda kv: kv[0][0])
    return [(*key, n, slowest[key], ended[key]) for key, n in ordered]


def _counts(rows: Iterable[Any]) -> dict[str, Any]:
    """Requests by class, failures, and per step the latency percentiles and maximum of
    the ok requests and of the failed ones (apart: a rate limiter's instant 503s would
    pull the ok requests' line down), from the (step, class, failed, bucket) groups;
    with the number of steps and when the last request ended (ms into the run)."""
    requests: dict[str, dict[int, int]] = {c: {} for c in CLASSES}
    failures: Counter[int] = Counter()
    sides = (_Side(), _Side())  # ok, failed
    end_ms, current = 0.0, -1
    for step, cls, failed, bucket, n, slowest, ended in rows:
        if step != current:
            for side in sides:
                side.close(current)
            current = step
        per = requests.setdefault(cls, {})  # a final 1xx: its own class
        per[step] = per.get(step, 0) + n
        if failed:
            failures[step] += n
        sides[1 if failed else 0].add(int(bucket), n, float(slowest))
        end_ms = max(end_ms, float(ended))
    for side in sides:
        side.close(current)
    points = current + 1
    return {
        "points": points,
        "end_ms": end_ms,
        "requests": {c: [per.get(i, 0) for i in range(points)] for c, per in requests.items()},
        "failures": [failures[i] for i in range(points)],
        "latency_ms": sides[0].series(points),
        "failed_latency_ms": sides[1].series(points),
    }


class _Side:
    """The latency buckets of one step's ok (or failed) requests, and each step's result."""

    def __init__(self) -> None:
        self.found: Counter[int] = Counter()
        self.values: dict[str, dict[int, float]] = {f"p{p:g}": {} for p in _LATENCY_PERCENTS}
        self.top: dict[int, float] = {}
        self.slowest = 0.0  # the step's exact maximum so far

    def add(self, bucket: int, n: int, slowest: float) -> None:
        self.found[bucket] += n
        self.slowest = max(self.slowest, slowest)

    def close(self, step: int) -> None:
        """Ends a step: its percentiles and its exact maximum."""
        if not self.found:
            return
        ordered = sorted(self.found.items())
        found = percentiles_of(ordered, sum(self.found.values()), _LATENCY_PERCENTS, DIGITS)
        for p, value in zip(_LATENCY_PERCENTS, found, strict=True):
            self.values[f"p{p:g}"][step] = value
        self.top[step] = self.slowest
        self.found, self.slowest = Counter(), 0.0

    def series(self, points: int) -> dict[str, list[float | None]]:
        out = {p: [v.get(i) for i in range(points)] for p, v in self.values.items()}
        return {**out, "max": [self.top.get(i) for i in range(points)]}


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
        f"SELECT {at} AS step, {bucket_sql('lag_ms', DIGITS)} AS bucket, count(*), max(lag_ms)"
        " FROM requests WHERE run_id = ? AND lag_ms IS NOT NULL"
        " GROUP BY step, bucket ORDER BY step, bucket",
        (run_id,),
    ):
        per_step[step].append((int(bucket), int(n)))
        tops[step] = max(tops.get(step, float(top)), float(top))
    out: dict[str, list[float | None]] = {f"p{p:g}": [None] * points for p in _LAG_PERCENTS}
    for step, buckets in per_step.items():
        values = percentiles_of(buckets, sum(n for _, n in buckets), _LAG_PERCENTS, DIGITS)
        for p, value in zip(_LAG_PERCENTS, values, strict=True):
            out[f"p{p:g}"][step] = value
    out["max"] = [tops.get(i) for i in range(points)]
    return out
