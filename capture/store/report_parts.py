"""Parts of a report (docs/report.md) grouped by the database: latency distributions
overall and per URL template, and each template's failure outcomes."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from capture.store.hdr import bucket_sql, distribution
from capture.store.ranks import exact_distribution
from capture.store.source import ReadConnection
from capture.store.url_rows import Latencies
from capture.store.urls import url_template

__all__ = ["distributions", "outcome_text", "url_failures"]


UrlKey = tuple[str, str]  # method and URL template


def outcome_text(status: int | None, kind: str | None) -> str:
    """A failure's outcome as the summary's groups name it: '502', 'reset', '200 slow'
    (a failure always has a status or an error kind)."""
    return " ".join(str(x) for x in (status, kind) if x is not None)


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


def url_failures(failed: list[tuple[Any, ...]]) -> dict[UrlKey, list[list[Any]]]:
    """Each URL template's failure outcomes, [outcome, n], most first: all of them;
    failed: run_pass's failed rows (FAILED_COLUMNS), counted as the GROUP BY method,
    url, status, error_kind that read them again did, in its order (NULL first)."""
    found = Counter((r[4], r[5], r[2], r[3]) for r in failed)
    counts: dict[UrlKey, Counter[str]] = defaultdict(Counter)
    templates: dict[str, str] = {}
    for (method, url, status, kind), n in sorted(
        found.items(), key=lambda kv: tuple((v is not None, v) for v in kv[0])
    ):
        template = templates.get(url)
        if template is None:
            template = templates[url] = url_template(url)
        counts[(method, template)][outcome_text(status, kind)] += n
    return {
        key: [[o, n] for o, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
        for key, c in counts.items()
    }
