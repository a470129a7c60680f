"""Read queries behind the inspection commands. Filters reach SQL only as bound
parameters; callers pass a read-only engine (store.open_readonly)."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    case,
    desc,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import TextClause

from .errors import NotFoundError
from .filters import FailureQuery
from .schema import failures, requests, runs

__all__ = ["exchange", "failure_rows", "resolve_runs", "run_rows", "socket_rows"]

_LIST_COLUMNS = (
    requests.c.id,
    requests.c.run_id,
    requests.c.seq,
    requests.c.started_at,
    requests.c.offset_ms,
    requests.c.method,
    requests.c.url,
    requests.c.status,
    requests.c.error_kind,
    requests.c.latency_ms,
    requests.c.ttfb_ms,
    failures.c.body_size,
    failures.c.body_truncated,
    failures.c.content_type,
    requests.c.local_addr,
    requests.c.remote_addr,
    requests.c.session,
    requests.c.connection_no,
    requests.c.connection_request_no,
    requests.c.correlation_id,
)


def resolve_runs(conn: Connection, spec: str | None) -> list[int] | None:
    """Turns --run ID|NAME|all (default: the latest) into run ids; None means all runs."""
    if spec is not None and spec.strip().lower() == "all":
        return None
    if spec is None or spec.strip().lower() == "latest":
        latest = conn.execute(select(func.max(runs.c.id))).scalar_one()
        if latest is None:
            raise NotFoundError("the database holds no runs yet")
        return [int(latest)]
    spec = spec.strip()
    if spec.isdigit():
        found = conn.execute(select(runs.c.id).where(runs.c.id == int(spec))).scalar()
    else:
        found = conn.execute(select(func.max(runs.c.id)).where(runs.c.name == spec)).scalar_one()
    if found is None:
        raise NotFoundError(f"no run {spec!r} in this database (see: capture runs)")
    return [int(found)]


def _run_filter(run_ids: list[int] | None) -> ColumnElement[bool]:
    return failures.c.run_id.in_(run_ids) if run_ids is not None else literal_column("1") == 1


def _conditions(q: FailureQuery) -> list[ColumnElement[bool] | TextClause]:
    cond: list[ColumnElement[bool] | TextClause] = []
    if q.status is not None:
        cond.append(or_(*(requests.c.status.between(lo, hi) for lo, hi in q.status.ranges)))
    if q.errors:
        cond.append(requests.c.error_kind.in_(q.errors))
    if q.url_glob:
        pattern = q.url_glob if any(c in q.url_glob for c in "*?[") else f"*{q.url_glob}*"
        cond.append(requests.c.url.op("GLOB")(pattern))
    if q.method:
        cond.append(requests.c.method == q.method)
    for when, after in ((q.since, True), (q.until, False)):
        if when is None:
            continue
        column = requests.c.offset_ms if when.offset_ms is not None else requests.c.started_at
        value = when.offset_ms if when.offset_ms is not None else when.time_iso
        cond.append(column >= value if after else column < value)
    if q.slower_than_ms is not None:
        cond.append(requests.c.latency_ms > q.slower_than_ms)
    if q.body_contains is not None:
        cond.append(func.instr(failures.c.body, q.body_contains) > 0)
    if q.header is not None:
        name, value = q.header
        cond.append(
            text(
                "EXISTS (SELECT 1 FROM json_each(failures.response_headers) AS h"
                " WHERE lower(json_extract(h.value, '$[0]')) = lower(:header_name)"
                " AND json_extract(h.value, '$[1]') = :header_value)"
            ).bindparams(header_name=name, header_value=value)
        )
    if q.socket:
        if q.socket.isdigit():  # a bare port: the client side
            cond.append(requests.c.local_addr.like(f"%:{q.socket}"))
        else:
            cond.append(or_(requests.c.local_addr == q.socket, requests.c.remote_addr == q.socket))
    if q.session is not None:
        cond.append(requests.c.session == q.session)
    return cond


def failure_rows(
    engine: Engine, q: FailureQuery, run_spec: str | None, *, full: bool = False
) -> list[dict[str, Any]]:
    """Returns the failures matching q, newest first unless q.oldest."""
    with engine.connect() as conn:
        run_ids = resolve_runs(conn, run_spec)
        columns = [*_LIST_COLUMNS]
        if full:
            columns = [*requests.c]
            columns += [c for c in failures.c if c.name not in ("request_id", "run_id")]
        # Walk the failures of the run in id order and stop at the page: without the
        # hint SQLite may pick a requests index, read every request row and sort them.
        stmt = (
            select(*columns)
            .select_from(failures.join(requests, requests.c.id == failures.c.request_id))
            .where(_run_filter(run_ids), *_conditions(q))
            .order_by(failures.c.request_id if q.oldest else desc(failures.c.request_id))
            .offset(q.offset)
        )
        if run_ids is not None:
            stmt = stmt.with_hint(failures, "INDEXED BY ix_failures_run_id", "sqlite")
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        return [dict(row._mapping) for row in conn.execute(stmt)]


def exchange(engine: Engine, request_id: int, *, around: int = 2) -> dict[str, Any]:
    """Returns one failed exchange in full, with its neighbours on the same connection."""
    with engine.connect() as conn:
        row = conn.execute(
            select(requests, *[c for c in failures.c if c.name not in ("request_id", "run_id")])
            .select_from(requests.outerjoin(failures, failures.c.request_id == requests.c.id))
            .where(requests.c.id == request_id)
        ).first()
        if row is None:
            raise NotFoundError(f"no request with id {request_id} in this database")
        found = dict(row._mapping)
        found["neighbours"] = _neighbours(conn, found, around)
    return found


def _neighbours(conn: Connection, row: dict[str, Any], around: int) -> list[dict[str, Any]]:
    if row["connection_no"] is None:
        return []
    same = and_(
        requests.c.run_id == row["run_id"],
        requests.c.session == row["session"],
        requests.c.connection_no == row["connection_no"],
    )
    cols = (
        requests.c.id,
        requests.c.seq,
        requests.c.offset_ms,
        requests.c.status,
        requests.c.error_kind,
        requests.c.latency_ms,
        requests.c.connection_request_no,
    )
    before = conn.execute(
        select(*cols)
        .where(same, requests.c.seq < row["seq"])
        .order_by(desc(requests.c.seq))
        .limit(around)
    ).all()
    after = conn.execute(
        select(*cols)
        .where(same, requests.c.seq > row["seq"])
        .order_by(requests.c.seq)
        .limit(around)
    ).all()
    return [dict(r._mapping) for r in [*reversed(before), *after]]


def pid_alive(pid: int) -> bool:
    """Tells whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True


def run_status(row: dict[str, Any]) -> str:
    """Returns the run's status, 'crashed' for a 'running' run whose process is gone."""
    status = str(row["status"])
    if status == "running" and row.get("pid") and not pid_alive(int(row["pid"])):
        return "crashed"
    return status


def run_rows(engine: Engine) -> list[dict[str, Any]]:
    """Returns every run, oldest first, with counts taken from the rows themselves."""
    counts = (
        select(
            requests.c.run_id,
            func.count().label("requests"),
            func.coalesce(func.sum(requests.c.failed), 0).label("failures"),
            func.max(requests.c.offset_ms + requests.c.latency_ms).label("span_ms"),
        )
        .group_by(requests.c.run_id)
        .subquery()
    )
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                runs.c.id,
                runs.c.name,
                runs.c.started_at,
                runs.c.finished_at,
                runs.c.status,
                runs.c.pid,
                runs.c.hostname,
                runs.c.duration_s,
                runs.c.qps_asked,
                func.coalesce(counts.c.requests, 0).label("requests"),
                func.coalesce(counts.c.failures, 0).label("failures"),
                counts.c.span_ms,
            )
            .select_from(runs.outerjoin(counts, counts.c.run_id == runs.c.id))
            .order_by(runs.c.id)
        ).all()
    out = []
    for row in rows:
        item = dict(row._mapping)
        item["status"] = run_status(item)
        duration = item["duration_s"] or (item["span_ms"] or 0) / 1000.0
        item["duration_s"] = duration
        item["rate"] = item["requests"] / duration if duration else None
        del item["span_ms"]
        out.append(item)
    return out


def socket_rows(engine: Engine, run_spec: str | None) -> tuple[int, list[dict[str, Any]]]:
    """Returns each client socket of a run: remote, requests, failures, first and last use."""
    with engine.connect() as conn:
        (run_id,) = resolve_runs(conn, run_spec) or [0]
        failed_at = func.group_concat(
            case((requests.c.failed == 1, requests.c.connection_request_no))
        )
        rows = conn.execute(
            select(
                requests.c.local_addr,
                func.min(requests.c.remote_addr).label("remote_addr"),
                func.min(requests.c.session).label("session"),
                func.count().label("requests"),
                func.coalesce(func.sum(requests.c.failed), 0).label("failures"),
                func.min(requests.c.offset_ms).label("first_ms"),
                func.max(requests.c.offset_ms).label("last_ms"),
                failed_at.label("failed_at"),
            )
            .where(requests.c.run_id == run_id)
            .group_by(requests.c.local_addr)
            .order_by(desc("requests"), requests.c.local_addr)
        ).all()
    return run_id, [dict(r._mapping) for r in rows]
