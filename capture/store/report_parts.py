"""Parts of a report (docs/report.md) grouped by the database: latency distributions
overall and per URL template, each template's failure outcomes, and failures by
position on the connection (the keep-alive-race picture)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from capture.store.hdr import bucket_sql, distribution
from capture.store.ranks import exact_distribution
from capture.store.source import ReadConnection
from capture.store.url_rows import Latencies
from capture.store.urls import url_template

__all__ = ["MAX_POSITIONS", "distributions", "positions", "url_failures"]

MAX_POSITIONS = 1000  # points of the position chart; longer connections share points
TOP_KINDS = 8  # of the position chart

UrlKey = tuple[str, str]  # method and URL template


def outcome_text(status: int | None, kind: str | None) -> str:
    """A failure's outcome as the summary's groups name it: '502', 'reset', '200 slow'."""
    return " ".join(str(x) for x in (status, kind) if x is not None) or "unknown"


def distributions(conn: ReadConnection, run_id: int, urls: Latencies) -> dict[str, Any]:
    """The latency distribution of every request and of the ok and the failed ones, from
    an HdrHistogram of their latencies; and of each summary URL row, exact from its
    sorted latencies (urls: url_rows.per_url's, in the summary's order)."""
    by_failed: dict[int, Counter[int]] = {0: Counter(), 1: Counter()}
    for failed, bucket, n in conn.execute(  # the (run_id, failed, latency_ms) index alone
        f"SELECT failed, {bucket_sql('latency_ms')} AS bucket, count(*) FROM requests"
        " WHERE run_id = ? GROUP BY failed, bucket",
        (run_id,),
    ):
        by_failed[1 if failed else 0][int(bucket)] += n
    overall = by_failed[0] + by_failed[1]
    return {
        "overall": distribution(sorted(overall.items())),
        "ok": distribution(sorted(by_failed[0].items())),
        "failed": distribution(sorted(by_failed[1].items())),
        "urls": [
            {"method": m, "template": t, "dist": exact_distribution(values)}
            for (m, t), values in urls.items()
        ],
    }


def url_failures(conn: ReadConnection, run_id: int) -> dict[UrlKey, list[list[Any]]]:
    """Each URL template's failure outcomes, [outcome, n], most first: all of them."""
    counts: dict[UrlKey, Counter[str]] = defaultdict(Counter)
    templates: dict[str, str] = {}
    for method, url, status, kind, n in conn.execute(
        "SELECT method, url, status, error_kind, count(*) FROM requests"
        " WHERE run_id = ? AND failed = 1 GROUP BY method, url, status, error_kind",
        (run_id,),
    ):
        template = templates.get(url)
        if template is None:
            template = templates[url] = url_template(url)
        counts[(method, template)][outcome_text(status, kind)] += n
    return {
        key: [[o, n] for o, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
        for key, c in counts.items()
    }


def positions(conn: ReadConnection, run_id: int) -> dict[str, Any]:
    """Requests and failures by position on the connection, and fresh against reused:
    one grouping pass over the run's rows (a position's outcomes are its groups)."""
    rows = conn.execute(
        "SELECT connection_request_no, status, error_kind, failed, count(*) FROM requests"
        " WHERE run_id = ? GROUP BY connection_request_no, status, error_kind, failed",
        (run_id,),
    ).fetchall()
    unconnected = [r[1:] for r in rows if r[0] is None]
    rows = [r for r in rows if r[0] is not None]
    last = max((int(r[0]) for r in rows), default=0)
    width = max(1, -(-last // MAX_POSITIONS))
    points = -(-last // width) if last else 0
    requests, failures = [0] * points, [0] * points
    sides = {name: Counter[str]() for name in ("first", "reused")}
    kinds: list[tuple[int, int | None, str | None, int]] = []
    for position, status, kind, failed, n in rows:
        index = (int(position) - 1) // width
        requests[index] += n
        side = sides["first" if position == 1 else "reused"]
        side["requests"] += n
        if failed:
            failures[index] += n
            side["failed"] += n
            kinds.append((position, status, kind, n))
        if kind in ("remote_closed", "reset"):
            side[kind] += n
    return {
        "no_connection": _no_connection(unconnected),
        "positions": {
            "bin": width,
            "from": [1 + i * width for i in range(points)],
            "requests": requests,
            "failures": failures,
            "by_kind": _by_kind(kinds, width, points),
        },
        "first_vs_reused": {name: _side(c) for name, c in sides.items()},
    }


def _no_connection(rows: list[Any]) -> dict[str, Any] | None:
    """The requests that made no connection (refused, DNS, a hook's build error...), from
    their (status, error_kind, failed, n) groups: how many, and their outcomes; None when
    every request had one."""
    outcomes: Counter[str] = Counter()
    requests = failed = 0
    for status, kind, was_failed, n in rows:
        requests += n
        if was_failed:
            failed += n
            outcomes[outcome_text(status, kind)] += n
    if requests == 0:
        return None
    ranked = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"requests": requests, "failed": failed, "outcomes": [list(p) for p in ranked]}


def _by_kind(
    kinds: list[tuple[int, int | None, str | None, int]], width: int, points: int
) -> dict[str, list[int]]:
    """Failures per position point by outcome: the most frequent outcomes, rest "other"."""
    totals: Counter[str] = Counter()
    for _, status, kind, n in kinds:
        totals[outcome_text(status, kind)] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    out = {k: [0] * points for k in ranked[:TOP_KINDS]}
    if len(ranked) > TOP_KINDS:
        out["other"] = [0] * points
    for position, status, kind, n in kinds:
        name = outcome_text(status, kind)
        out[name if name in out else "other"][(int(position) - 1) // width] += n
    return out


def _side(counts: Counter[str]) -> dict[str, Any]:
    n = counts["requests"]
    return {
        "requests": n,
        "failed": counts["failed"],
        "failed_pct": round(100.0 * counts["failed"] / n, 3) if n else None,
        "remote_closed": counts["remote_closed"],
        "reset": counts["reset"],
    }
