"""Everything `capture report` draws for one or more runs, read in one read transaction:
the summary's tallies (report.py), the time series (series.py), the latency
distributions, positions and per-URL outcomes (report_parts.py), the busiest
connections, and a few example exchanges of each failure group. The output layer shapes
it (output/report_doc.py); nothing here formats text."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypedDict

from capture.errors import UsageError
from capture.store.connection_pass import connection_pass
from capture.store.queries import exchange_in, resolve_runs
from capture.store.report import report_in
from capture.store.report_parts import distributions, outcome_text, url_failures
from capture.store.rows import ExchangeRow, FailureGroup, Report, SocketRow
from capture.store.run_pass import run_columns
from capture.store.series import run_series
from capture.store.source import ReadConnection, ReadOnly
from capture.store.url_rows import Latencies

__all__ = ["MAX_RUNS", "RunData", "report_data"]

MAX_RUNS = 6  # overlaid in one page; more would be unreadable
TOP_TARGETS = 20
EXAMPLES = 3  # per failure group: its first, middle and last


class RunData(TypedDict):
    """One run's part of a report, before the output layer shapes it."""

    summary: Report
    config: dict[str, Any]
    series: dict[str, Any]
    distribution: dict[str, Any]
    url_failures: dict[tuple[str, str], list[list[Any]]]
    connections: dict[str, Any]
    connections_total: int
    connection_rows: list[SocketRow]
    examples: list[list[ExchangeRow]]  # one list per summary group, in its order
    groups_total: int


def report_data(db: ReadOnly, run_specs: Sequence[str]) -> list[RunData]:
    """Returns the report data of each run asked for (none: the latest), in that order."""
    if len(run_specs) > MAX_RUNS:
        raise UsageError(f"report overlays at most {MAX_RUNS} runs; {len(run_specs)} given")
    with db.connect() as conn:
        ids: list[int] = []
        specs: Sequence[str | None] = run_specs or [None]
        for spec in specs:
            if spec is not None and spec.strip().lower() == "all":
                raise UsageError("report reads runs by id or name, not 'all' (see: capture runs)")
            found = resolve_runs(conn, spec)
            assert found is not None  # only 'all' gives None
            if found[0] in ids:
                raise UsageError(f"run {found[0]} is given twice")
            ids.extend(found)
        return [_run_data(db, conn, run_id) for run_id in ids]


def _run_data(db: ReadOnly, conn: ReadConnection, run_id: int) -> RunData:
    latencies: Latencies = {}
    columns = run_columns(conn, run_id)  # read once: the summary's and the series'
    summary = report_in(db, conn, run_id, latencies, columns)
    failed = columns.failed_rows(conn)
    ids, groups_total = _example_ids(failed, summary["groups"])
    paced = summary["run"]["qps_asked"] is not None
    series = run_series(
        conn,
        run_id,
        duration_s=summary["duration_s"],
        paced=paced,
        columns=None if db.postgres else columns,  # PostgreSQL groups them on the server
    )
    found = connection_pass(conn, run_id, series["step_s"], series["points"],
                            series["last_span_s"])  # fmt: skip
    series["connections"] = found["open"]
    connections = found["connections"]
    return {
        "summary": summary,
        "config": json.loads(summary["run"]["config_json"] or "{}"),
        "series": series,
        "distribution": distributions(conn, run_id, latencies),
        "url_failures": url_failures(failed),
        "connections": connections,
        "connections_total": connections.pop("total"),
        "connection_rows": connections.pop("rows"),
        "examples": [[exchange_in(conn, i, around=2) for i in group] for group in ids],
        "groups_total": groups_total,
    }


GroupKey = tuple[str, str, str | None]  # outcome, path, body signature: report.py's groups


def _example_ids(
    failed: list[tuple[Any, ...]], groups: list[FailureGroup]
) -> tuple[list[list[int]], int]:
    """The ids of each group's first, middle and last failure (by request id, time order),
    and how many groups the run's failures make in all (the summary keeps the top ones);
    failed: run_pass's failed rows, those with a failures row counted."""
    picks: dict[GroupKey, tuple[int, set[int]]] = {}
    for index, g in enumerate(groups):
        last = g["count"] - 1
        picks[(g["outcome"], g["path"], g["signature"])] = (index, {0, last // 2, last})
    found: list[list[int]] = [[] for _ in groups]
    seen: dict[GroupKey, int] = {}
    for row in failed:
        if not row[-1]:  # FAILED_COLUMNS' stored
            continue
        rid, status, kind, url, sig = row[0], row[2], row[3], row[5], row[12]
        key = (outcome_text(status, kind), url.split("?", 1)[0], sig)
        n = seen.get(key, 0)
        seen[key] = n + 1
        pick = picks.get(key)
        if pick is not None and n in pick[1] and len(found[pick[0]]) < EXAMPLES:
            found[pick[0]].append(int(rid))
    return found, len(seen)
