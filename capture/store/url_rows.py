"""The per-URL rows of a summary: one per method and URL template, with exact latency
percentiles from every request's latency (report.py's `urls`)."""

from __future__ import annotations

from array import array
from collections import Counter

from capture.store import report_pg as pg
from capture.store.ranks import nearest_rank
from capture.store.reader import ReadConnection, ReadOnly
from capture.store.rows import UrlRow
from capture.store.urls import url_template

__all__ = ["TOP_URLS", "URL_PERCENTILES", "Latencies", "per_url"]

URL_PERCENTILES = (50.0, 95.0, 99.0)
TOP_URLS = 20  # templates shown; the rest are summed into one "other URLs" row
# Each row's latencies, sorted, keyed by method and template (None, None: the rest summed).
Latencies = dict[tuple[str | None, str | None], "array[float]"]


def per_url(
    db: ReadOnly, conn: ReadConnection, run_id: int, duration_s: float, sink: Latencies
) -> list[UrlRow]:
    """One row per method and URL template, busiest first; the rest summed into one."""
    latencies, failures = pg.url_tally(conn, run_id) if db.postgres else _url_tally(conn, run_id)
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


def _url_tally(conn: ReadConnection, run_id: int) -> pg.UrlTally:
    """Each method and URL template's latencies and failures, from every request row."""
    cursor = conn.cursor()
    cursor.row_factory = None
    templates: dict[str, str] = {}  # url -> template: a run has few distinct URLs
    tally = pg.UrlTally({}, Counter())
    for method, url, was_failed, latency in cursor.execute(
        "SELECT method, url, failed, latency_ms FROM requests WHERE run_id = ?", (run_id,)
    ):
        template = templates.get(url)
        if template is None:
            template = templates[url] = url_template(url)
        key = (method, template)
        values = tally.latencies.get(key)
        if values is None:
            values = tally.latencies[key] = array("d")
        values.append(latency)
        if was_failed:
            tally.failed[key] += 1
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
