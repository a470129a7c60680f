"""The data behind `capture summary`: counts, percentiles, timeline and failure groups
of one run, computed in SQL so a million-row run stays fast."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, cast

from capture.errors import NotFoundError, UsageError
from capture.schedule import Schedule
from capture.store import report_pg as pg  # the same tallies, grouped by a PostgreSQL server
from capture.store.diagnose_data import findings
from capture.store.hosts import host_states
from capture.store.queries import resolve_runs, run_status
from capture.store.ranks import nearest_rank
from capture.store.reader import ReadConnection, ReadOnly
from capture.store.report_parts import outcome_text
from capture.store.rows import (
    ClientLimit,
    FailurePass,
    Pacing,
    PerSecond,
    Report,
    RunRecord,
)
from capture.store.run_config import run_shape
from capture.store.run_pass import RunColumns, run_columns
from capture.store.saturation import client_limits, pool_bound
from capture.store.url_rows import Latencies, per_url

__all__ = ["Latencies", "report_in", "run_report"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
TOP = 10
_ONE_RUN = "give a run id or name (capture runs)"


def run_report(db: ReadOnly, run_spec: str | None) -> Report:
    """Returns everything `capture summary` shows for one run."""
    with db.connect() as conn:
        run_ids = resolve_runs(conn, run_spec)
        if run_ids is None:
            # A timeline and offsets are relative to one run's start (was a TypeError).
            raise UsageError(f"summary reads one run, not 'all': {_ONE_RUN}")
        (run_id,) = run_ids
        return report_in(db, conn, run_id)


def report_in(
    db: ReadOnly,
    conn: ReadConnection,
    run_id: int,
    latencies: Latencies | None = None,
    columns: RunColumns | None = None,
) -> Report:
    """run_report() of one run id inside a read transaction already open (capture report);
    latencies, when given, gets each URL row's sorted latencies (its distribution);
    columns: the run's rows already read (run_pass), else read here."""
    run = _run_record(conn, run_id)
    # One scan of the (run_id, failed, status) index gives the totals and the statuses.
    by_status = conn.execute(
        "SELECT failed, status, count(*) FROM requests WHERE run_id = ? GROUP BY failed, status",
        (run_id,),
    ).fetchall()
    statuses: Counter[int | None] = Counter()
    total = failed = 0
    for was_failed, status, n in by_status:
        statuses[status] += n
        total += n
        failed += n if was_failed else 0
    error_counts: list[tuple[str, int]] = [
        (kind, int(n))
        for kind, n in conn.execute(
            "SELECT error_kind, count(*) AS n FROM requests"
            " WHERE run_id = ? AND error_kind IS NOT NULL"
            # Ties by name, in byte order: the same list from SQLite and PostgreSQL.
            " GROUP BY error_kind ORDER BY n DESC, error_kind COLLATE BINARY",
            (run_id,),
        )
    ]
    duration = run["duration_s"] or _span_s(conn, run_id)
    # Every row of the run, read once for the per-URL rows, the seconds and the diagnosis.
    columns = run_columns(conn, run_id) if columns is None else columns
    # one ORDER BY over the run's rows, read by both the pacing and the client rule
    latency_p50 = _rank(conn, run_id, "latency_ms", total, 50)
    # The client rule's median wait and a paced run's p99, ranked from the rows already
    # read: sorting the column in SQL cost a second of a million-row summary (issue 15).
    waits = sorted(columns.wait)
    pacing = _pacing(conn, run, total, duration, latency_p50, waits)
    client = _client_limit(run, duration, pacing, latency_p50, waits)
    return {
        "run": run,
        "requests": total,
        "failed": failed,
        "aborted": run["aborted_total"] or 0,
        "status_counts": sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0] or 0)),
        "error_counts": error_counts,
        "latency_ok": _percentiles(db, conn, run_id, 0, total - failed),
        "latency_failed": _percentiles(db, conn, run_id, 1, failed),
        "duration_s": duration,
        "urls": per_url(
            db, conn, run_id, duration, {} if latencies is None else latencies, columns
        ),
        "per_second": _per_second(db, conn, run_id, columns),
        "pacing": pacing,
        "client_limit": client,
        "hosts": host_states(conn, [run_id]).get(run_id),  # None: a run of one host
        **_failure_pass(db, conn, run_id, columns),
        "findings": findings(conn, run_id, duration, client, columns),
    }


def _run_record(conn: ReadConnection, run_id: int) -> RunRecord:
    """Returns the runs row of a run resolve_runs found, its status checked."""
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:  # resolve_runs saw it in the same read transaction
        raise NotFoundError(f"no run {run_id} in this database (see: capture runs)")
    run = cast(RunRecord, dict(row))
    run["status"] = run_status(run)
    return run


_BY_RANK = (
    "SELECT latency_ms FROM requests WHERE run_id = ? AND failed = ?"
    " ORDER BY latency_ms LIMIT 1 OFFSET ?"
)


def _percentiles(
    db: ReadOnly, conn: ReadConnection, run_id: int, failed: int, count: int
) -> dict[str, float]:
    """Exact percentiles by rank, walking the (run_id, failed, latency_ms) index."""
    if count == 0:
        return {}
    ranks = [max(0, min(count - 1, int(count * p / 100.0 + 0.5) - 1)) for p in PERCENTILES]
    if db.postgres:  # one sort instead of an index walk per rank
        values, top = pg.latency_ranks(conn, run_id, failed, count, ranks)
        return {**{f"p{p:g}": v for p, v in zip(PERCENTILES, values, strict=True)}, "max": top}
    out: dict[str, float] = {}
    for p, rank in zip(PERCENTILES, ranks, strict=True):
        out[f"p{p:g}"] = float(conn.execute(_BY_RANK, (run_id, failed, rank)).fetchone()[0])
    (top,) = conn.execute(
        "SELECT max(latency_ms) FROM requests WHERE run_id = ? AND failed = ?", (run_id, failed)
    ).fetchone()
    out["max"] = float(top)
    return out


def _failure_pass(
    db: ReadOnly, conn: ReadConnection, run_id: int, columns: RunColumns
) -> FailurePass:
    """The timeline, the top lists and the groups of a run's failures."""
    if db.postgres:
        tally = pg.failure_tally(conn, run_id)
    else:
        tally = _failure_tally(columns.failed_rows(conn))
    if not tally.groups:
        return {"failures_per_second": [], "top_urls": [], "by_remote": [], "by_socket": [],
                "distinct": {"urls": 0, "remotes": 0, "connections": 0},
                "groups": []}  # fmt: skip
    by_url: Counter[str] = Counter()
    merged: dict[tuple[str, str, str | None], list[Any]] = {}
    for (status, kind, url, sig), (n, rid, first_ms, last_ms) in tally.groups.items():
        by_url[url] += n
        outcome = outcome_text(status, kind)
        key = (outcome, url.split("?", 1)[0], sig)
        group = merged.get(key)
        if group is None:  # [count, first_ms, last_ms, example_id]
            merged[key] = [n, first_ms, last_ms, rid]
        else:
            group[0] += n
            if rid < group[3]:
                group[1], group[3] = first_ms, rid
            group[2] = max(group[2], last_ms)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0][0], kv[0][1]))
    by_conn: Counter[str | None] = Counter()
    for (connection_id, local_addr), n in tally.sockets.items():
        by_conn[_connection_label(connection_id, local_addr)] += n
    distinct = {"urls": len(by_url), "remotes": len(tally.remotes), "connections": len(by_conn)}
    return {
        "failures_per_second": sorted(tally.seconds.items()),
        "top_urls": _most(by_url),
        "by_remote": _most(tally.remotes),
        "by_socket": _most(by_conn),
        "distinct": distinct,
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


def _failure_tally(failed: list[tuple[Any, ...]]) -> pg.FailureTally:
    """One pass over a run's failures in SQLite (run_pass's failed rows, those with a
    failures row), counted in first-seen order: C-level Counter/zip/dict over columns
    beat five GROUP BYs that each read every failed row again (~1 s against ~6 s on
    200,000). First and last by request id (time order)."""
    tally = pg.FailureTally({}, Counter(), Counter(), Counter())
    rows = [r for r in failed if r[-1]]  # stored: the evidence is there
    if not rows:
        return tally
    (rids, offsets, statuses, kinds, _, urls, remotes, conns, _, _, _, _, sigs, _, locals_,
     _) = zip(*rows, strict=True)  # FAILED_COLUMNS  # fmt: skip
    keys = list(zip(statuses, kinds, urls, sigs, strict=True))
    first = dict(zip(reversed(keys), zip(reversed(rids), reversed(offsets), strict=True),
                     strict=True))  # fmt: skip
    last = dict(zip(keys, offsets, strict=True))
    for key, n in Counter(keys).items():
        tally.groups[key] = [n, *first[key], last[key]]
    tally.seconds.update(int(offset / 1000) for offset in offsets)  # CAST(... AS INTEGER)
    tally.remotes.update(remotes)
    tally.sockets.update(zip(conns, locals_, strict=True))
    return tally


def _connection_label(connection_id: int | None, local_addr: str | None) -> str | None:
    """Names a failure's TCP connection: its id and client socket (a port alone can name
    two connections). Without an id (older --procs runs) the client socket; None: none."""
    if connection_id is None:
        return local_addr
    return f"connection {connection_id} ({local_addr})"


def _most(counter: Counter[Any]) -> list[tuple[Any, int]]:  # the TOP most, ties by name
    return sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]


def _span_s(conn: ReadConnection, run_id: int) -> float:
    """Returns a run's duration from its rows, for a run that has none stored (crashed)."""
    (span,) = conn.execute(
        "SELECT (max(offset_ms + latency_ms) - min(offset_ms)) / 1000.0 FROM requests"
        " WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    return float(span or 0.0)


CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")  # always present, in this order


def _per_second(db: ReadOnly, conn: ReadConnection, run_id: int, columns: RunColumns) -> PerSecond:
    """Requests per second of the run by status class ('error': no response), exact."""
    rows = pg.second_classes(conn, run_id) if db.postgres else _second_classes(columns)
    seconds = 1 + max((r[0] for r in rows), default=-1)
    counts: dict[str, list[int]] = {c: [0] * seconds for c in CLASSES}
    for second, cls, n in rows:  # a final 1xx is stored with its status: its own class
        counts.setdefault(cls, [0] * seconds)[second] = n
    return {"seconds": seconds, "counts": counts}


def _second_classes(columns: RunColumns) -> list[tuple[int, str, int]]:
    """(second, status class, requests) by second then class, as pg.second_classes and
    as SQLite's GROUP BY CAST(offset_ms / 1000 AS INTEGER), CASE WHEN status IS NULL THEN
    'error' ELSE CAST(status / 100 AS INTEGER) || 'xx' END: truncated toward zero. Counted
    from the rows as read, per status, then classed: the GROUP BY read them again."""
    seconds = [int(offset / 1000) for offset in columns.offset]
    counts: Counter[tuple[int, str]] = Counter()
    for (second, status), n in Counter(zip(seconds, columns.status, strict=True)).items():
        counts[(second, "error" if status is None else f"{pg.truncated(status, 100)}xx")] += n
    return [(second, cls, n) for (second, cls), n in sorted(counts.items())]


def _pacing(
    conn: ReadConnection,
    run: RunRecord,
    total: int,
    duration_s: float,
    latency_p50_ms: float | None,
    waits: list[float],
) -> Pacing | None:
    """Asked and achieved rate and the send lag of a --qps run; None for an unpaced one."""
    if run["qps_asked"] is None:
        return None
    sql = "SELECT lag_ms FROM requests WHERE run_id = ? AND lag_ms IS NOT NULL ORDER BY lag_ms"
    lags = [r[0] for r in conn.execute(sql, (run["id"],))]
    lag = {f"p{p:g}": nearest_rank(lags, p) for p in (50.0, 99.0)} if lags else {}
    if lags:
        lag["max"] = float(lags[-1])
    config = json.loads(run["config_json"] or "{}")
    _, sessions = run_shape(config, run["hosts"])
    schedule = Schedule.from_json(config.get("schedule"))
    return {
        "qps_asked": run["qps_asked"],
        "achieved": round(total / duration_s, 3) if duration_s > 0 else None,
        "lag_ms": lag,
        "pool_bound": pool_bound(
            qps=run["qps_asked"],
            latency_p50_ms=latency_p50_ms,
            sessions=sessions,
            wait_p99_ms=_wait_rank(waits, 99),
            lag_p99_ms=lag.get("p99"),
        ),
        "schedule": None if schedule is None else schedule.label,
    }


def _client_limit(
    run: RunRecord,
    duration_s: float,
    pacing: Pacing | None,
    latency_p50_ms: float | None,
    waits: list[float],
) -> ClientLimit:
    """Whether the client limited the run (store.saturation's rule), from the stored rows."""
    procs, _ = run_shape(json.loads(run["config_json"] or "{}"), run["hosts"])
    found = client_limits(
        cpu_s=run["cpu_s"],
        duration_s=duration_s,
        procs=procs,
        lag_p99_ms=pacing["lag_ms"].get("p99") if pacing else None,
        pool_busy=pacing is not None and pacing["pool_bound"],
        wait_p50_ms=_wait_rank(waits, 50),
        latency_p50_ms=latency_p50_ms,
    )
    return {
        "cpu_s": run["cpu_s"],
        "procs": procs,
        "cpu_share": None if found.cpu_share is None else round(found.cpu_share, 4),
        "saturated": found.saturated,
        "reasons": list(found.reasons),
        "advice": found.advice(procs, run["hosts"] or 1) if found.saturated else None,
    }


def _wait_rank(ordered: list[float], percent: int) -> float | None:
    """_rank of the waits already read and sorted (ranks.nearest_rank); None for none."""
    return nearest_rank(ordered, percent) if ordered else None


def _rank(conn: ReadConnection, run_id: int, column: str, count: int, percent: int) -> float | None:
    """Returns the nearest-rank percentile of a requests column over a run's rows."""
    if count == 0:
        return None
    (value,) = conn.execute(
        f"SELECT {column} FROM requests WHERE run_id = ? ORDER BY {column} LIMIT 1 OFFSET ?",
        (run_id, max(1, -(-percent * count // 100)) - 1),  # integers: no float rounding
    ).fetchone()
    return float(value)
