"""The data behind `capture summary`: counts, percentiles, timeline and failure groups
of one run, computed in SQL so a million-row run stays fast."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, and_, desc, func, select
from sqlalchemy.engine import Connection

from .query import resolve_runs, run_status
from .schema import requests, runs

__all__ = ["run_report"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
TOP = 10


def run_report(engine: Engine, run_spec: str | None) -> dict[str, Any]:
    """Returns everything `capture summary` shows for one run."""
    with engine.connect() as conn:
        (run_id,) = resolve_runs(conn, run_spec) or [0]
        run = dict(conn.execute(select(runs).where(runs.c.id == run_id)).one()._mapping)
        run["status"] = run_status(run)
        in_run = requests.c.run_id == run_id
        # One scan of the (run_id, failed, status) index gives the totals and the statuses.
        by_status = conn.execute(
            select(requests.c.failed, requests.c.status, func.count())
            .where(in_run)
            .group_by(requests.c.failed, requests.c.status)
        ).all()
        statuses: Counter[int | None] = Counter()
        total = failed = 0
        for was_failed, status, n in by_status:
            statuses[status] += n
            total += n
            failed += n if was_failed else 0
        report: dict[str, Any] = {"run": run, "requests": total, "failed": failed}
        report["status_counts"] = sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0] or 0))
        report["error_counts"] = _counts(
            conn, requests.c.error_kind, and_(in_run, requests.c.error_kind.is_not(None))
        )
        report["latency_ok"] = _percentiles(conn, run_id, 0, total - failed)
        report["latency_failed"] = _percentiles(conn, run_id, 1, failed)
        report.update(_failure_pass(conn, run_id))
    return report


def _counts(conn: Connection, column: Any, where: Any) -> list[tuple[Any, int]]:
    rows = conn.execute(
        select(column, func.count()).where(where).group_by(column).order_by(desc(func.count()))
    ).all()
    return [(r[0], int(r[1])) for r in rows]


def _percentiles(conn: Connection, run_id: int, failed: int, count: int) -> dict[str, float]:
    """Exact percentiles by rank, walking the (run_id, failed, latency_ms) index."""
    if count == 0:
        return {}
    out: dict[str, float] = {}
    base = (
        select(requests.c.latency_ms)
        .where(requests.c.run_id == run_id, requests.c.failed == failed)
        .order_by(requests.c.latency_ms)
    )
    for p in PERCENTILES:
        rank = max(0, min(count - 1, int(count * p / 100.0 + 0.5) - 1))
        out[f"p{p:g}"] = float(conn.execute(base.offset(rank).limit(1)).scalar_one())
    out["max"] = float(
        conn.execute(
            select(func.max(requests.c.latency_ms)).where(
                requests.c.run_id == run_id, requests.c.failed == failed
            )
        ).scalar_one()
    )
    return out


_FAILURE_PASS_SQL = """
SELECT r.id, r.url, r.remote_addr, r.local_addr, r.offset_ms, r.status, r.error_kind,
       f.body_signature
FROM failures AS f INDEXED BY ix_failures_run_id JOIN requests AS r ON r.id = f.request_id
WHERE f.run_id = ?
"""


def _failure_pass(conn: Connection, run_id: int) -> dict[str, Any]:
    """One pass over the run's failures for the timeline, the top lists and the groups.

    Counting in Python over one indexed scan beats five GROUP BYs that each read every
    failed row again: on 200,000 failures this is the difference between ~1 s and ~6 s.
    """
    # The raw driver cursor: SQLAlchemy's per-row processing would double the time here.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    rows = cursor.execute(_FAILURE_PASS_SQL, (run_id,))
    per_second: Counter[int] = Counter()
    urls: Counter[str] = Counter()
    remotes: Counter[str | None] = Counter()
    sockets: Counter[str | None] = Counter()
    groups: dict[tuple[str, str, str | None], list[Any]] = {}
    for rid, url, remote, local, offset, status, kind, sig in rows:
        per_second[int(offset // 1000)] += 1
        urls[url] += 1
        remotes[remote] += 1
        sockets[local] += 1
        outcome = " ".join(str(x) for x in (status, kind) if x is not None)
        cut = url.find("?")
        key = (outcome, url if cut < 0 else url[:cut], sig)
        group = groups.get(key)
        if group is None:  # [count, first_ms, last_ms, example_id]
            groups[key] = [1, offset, offset, rid]
        else:
            group[0] += 1
            group[1] = min(group[1], offset)
            group[2] = max(group[2], offset)
            group[3] = min(group[3], rid)
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1]))
    return {
        "failures_per_second": sorted(per_second.items()),
        "top_urls": _most(urls),
        "by_remote": _most(remotes),
        "by_socket": _most(sockets),
        "groups": [
            {
                "outcome": o,
                "path": p,
                "signature": sig,
                "count": g[0],
                "first_ms": g[1],
                "last_ms": g[2],
                "example_id": g[3],
            }
            for (o, p, sig), g in ranked[: TOP * 2]
        ],
    }


def _most(counter: Counter[Any]) -> list[tuple[Any, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
