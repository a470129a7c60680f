"""The per-URL rows of a summary: one per method and URL template, with exact latency
percentiles from every request's latency (report.py's `urls`)."""

from __future__ import annotations

from array import array
from collections import Counter
from itertools import compress

from capture.store import report_pg as pg
from capture.store.ranks import nearest_rank
from capture.store.reader import ReadConnection, ReadOnly
from capture.store.rows import UrlRow
from capture.store.run_pass import RunColumns
from capture.store.urls import url_template

__all__ = ["TOP_URLS", "URL_PERCENTILES", "Latencies", "per_url"]

URL_PERCENTILES = (50.0, 95.0, 99.0)
TOP_URLS = 20  # templates shown; the rest are summed into one "other URLs" row
# Each row's latencies, sorted, keyed by method and template (None, None: the rest summed).
Latencies = dict[tuple[str | None, str | None], "array[float]"]


def per_url(
    db: ReadOnly,
    conn: ReadConnection,
    run_id: int,
    duration_s: float,
    sink: Latencies,
    columns: RunColumns,
) -> list[UrlRow]:
    """One row per method and URL template, busiest first; the rest summed into one.
    columns: the run's rows as read for the summary (SQLite's tally is counted there)."""
    latencies, failures = pg.url_tally(conn, run_id) if db.postgres else _url_tally(columns)
    ranked = sorted(latencies, key=lambda k: (-len(latencies[k]), k))
    for m, t in ranked[:TOP_URLS]:
        sink[(m, t)] = array("d", sorted(latencies.pop((m, t))))  # each freed once sorted
    rows = [_url_row(m, t, 1, sink[(m, t)], failures[(m, t)], duration_s) for m, t in
            ranked[:TOP_URLS]]  # fmt: skip
    rest = ranked[TOP_URLS:]
    if rest:
        merged = array("d")
        for key in rest:
            merged.extend(latencies[key])
        sink[(None, None)] = array("d", sorted(merged))
        rows.append(
            _url_row(
                None,
                None,
                len(rest),
                sink[(None, None)],
                sum(failures[k] for k in rest),
                duration_s,
            )
        )
    return rows


def _url_tally(columns: RunColumns) -> pg.UrlTally:
    """Each method and URL template's latencies and failures, from every request row:
    grouped by URL first (a run has few distinct URLs), then by template."""
    by_url: dict[tuple[str, str], array[float]] = {}
    urls = list(zip(columns.method, columns.url, strict=True))
    for key, latency in zip(urls, columns.latency, strict=True):
        values = by_url.get(key)
        if values is None:
            values = by_url[key] = array("d")
        values.append(latency)
    failed_by_url = Counter(compress(urls, columns.failed))
    tally = pg.UrlTally({}, Counter())
    for (method, url), values in by_url.items():
        key = (method, url_template(url))
        found = tally.latencies.get(key)
        if found is None:
            tally.latencies[key] = values
        else:
            found.extend(values)
        if failed_by_url[(method, url)]:
            tally.failed[key] += failed_by_url[(method, url)]
    return tally


def _url_row(
    method: str | None,
    template: str | None,
    templates: int,
    ordered: array[float],
    failed: int,
    duration_s: float,
) -> UrlRow:
    """Counts, failure share, rate and exact latency percentiles of one URL template."""
    count = len(ordered)
    return {
        "method": method,
        "template": template,
        "templates": templates,
        "requests": count,
        "failed": failed,
        "failed_pct": round(100.0 * failed / count, 3),
        "rate": round(count / duration_s, 3) if duration_s > 0 else None,
        "latency_ms": {f"p{p:g}": nearest_rank(ordered, p) for p in URL_PERCENTILES},
    }
