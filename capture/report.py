"""The data behind `capture summary`: counts, percentiles, timeline and failure groups
of one run, computed in SQL so a million-row run stays fast."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Integer, Text, and_, case, cast, desc, func, select
from sqlalchemy.engine import Connection

from .query import resolve_runs, run_status
from .schema import failures, requests, runs

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
        total, failed = conn.execute(
            select(func.count(), func.coalesce(func.sum(requests.c.failed), 0)).where(in_run)
        ).one()
        report: dict[str, Any] = {"run": run, "requests": int(total), "failed": int(failed)}
        report["status_counts"] = _counts(conn, requests.c.status, in_run)
        report["error_counts"] = _counts(
            conn, requests.c.error_kind, and_(in_run, requests.c.error_kind.is_not(None))
        )
        report["latency_ok"] = _percentiles(conn, run_id, 0, int(total) - int(failed))
        report["latency_failed"] = _percentiles(conn, run_id, 1, int(failed))
        report["failures_per_second"] = _per_second(conn, run_id)
        failed_rows = and_(in_run, requests.c.failed == 1)
        report["top_urls"] = _top(conn, requests.c.url, failed_rows)
        report["by_remote"] = _top(conn, requests.c.remote_addr, failed_rows)
        report["by_socket"] = _top(conn, requests.c.local_addr, failed_rows)
        report["groups"] = _groups(conn, run_id)
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


def _per_second(conn: Connection, run_id: int) -> list[tuple[int, int, int]]:
    second = cast(requests.c.offset_ms / 1000, Integer)
    rows = conn.execute(
        select(second.label("s"), func.count(), func.coalesce(func.sum(requests.c.failed), 0))
        .where(requests.c.run_id == run_id)
        .group_by("s")
        .order_by("s")
    ).all()
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def _top(conn: Connection, column: Any, where: Any) -> list[tuple[Any, int]]:
    rows = conn.execute(
        select(column, func.count())
        .where(where)
        .group_by(column)
        .order_by(desc(func.count()), column)
        .limit(TOP)
    ).all()
    return [(r[0], int(r[1])) for r in rows]


def _groups(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """Clusters failures by outcome, URL path and body signature."""
    kind = case((requests.c.error_kind.is_not(None), " " + requests.c.error_kind), else_="")
    outcome = func.coalesce(cast(requests.c.status, Text), "") + kind
    cut = func.instr(requests.c.url, "?")
    path = case((cut > 0, func.substr(requests.c.url, 1, cut - 1)), else_=requests.c.url)
    rows = conn.execute(
        select(
            func.trim(outcome).label("outcome"),
            path.label("path"),
            failures.c.body_signature.label("signature"),
            func.count().label("count"),
            func.min(requests.c.offset_ms).label("first_ms"),
            func.max(requests.c.offset_ms).label("last_ms"),
            func.min(requests.c.id).label("example_id"),
        )
        .select_from(failures.join(requests, requests.c.id == failures.c.request_id))
        .where(failures.c.run_id == run_id)
        .group_by("outcome", "path", "signature")
        .order_by(desc("count"), "outcome")
        .limit(TOP * 2)
    ).all()
    return [dict(r._mapping) for r in rows]
