"""A report's connections part (docs/report.md: connections, series.connections) in one
grouping pass over a run's rows by TCP connection: each connection's counts, span and
failed positions give the busiest connections, the requests and failures by position,
fresh against reused, and the connections open per step.

Requests per position come from each connection's first and last position, which is
exact when its positions run without a gap (every request of it stored); a run with a
gap (a crash between two batches) is counted again by position, exactly."""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any, cast

from capture.store.open_connections import open_connections
from capture.store.report_parts import outcome_text
from capture.store.rows import SocketRow
from capture.store.source import ReadConnection

__all__ = ["connection_pass"]

MAX_POSITIONS = 1000  # points of the position chart; longer connections share points
TOP_KINDS = 8  # outcomes of the position chart
TOP_CONNECTIONS = 50
FAILED_AT = 50  # failure positions listed per connection

# One row per TCP connection (or, without an id, per client socket: older --procs runs).
_COLUMNS = """
min(connection_id), min(process), min(session), min(local_addr COLLATE BINARY),
min(remote_addr COLLATE BINARY), count(*), coalesce(sum(failed), 0),
min(offset_ms), max(offset_ms), max(offset_ms + latency_ms),
min(connection_request_no), max(connection_request_no),
group_concat(CASE WHEN failed = 1 THEN connection_request_no || ':'
             || coalesce(CAST(status AS TEXT), '') || ':' || coalesce(error_kind, '') END)
"""
# In two parts, each grouped in the (run_id, connection_id) index's order, as sockets.py:
# one GROUP BY over both sorted every row of the run first (issue 15).
_PASS = f"""
SELECT {_COLUMNS} FROM requests
WHERE run_id = ? AND connection_id IS NOT NULL GROUP BY connection_id
UNION ALL
SELECT {_COLUMNS} FROM requests INDEXED BY ix_requests_run_id_connection_id
WHERE run_id = ? AND connection_id IS NULL AND local_addr IS NOT NULL GROUP BY local_addr
"""

_BY_POSITION = """
SELECT connection_request_no, count(*) FROM requests
WHERE run_id = ? AND connection_request_no IS NOT NULL GROUP BY connection_request_no
"""

# Through the connection_id index: the planner took (run_id, failed, status) and read
# every row of the run to find none (issue 15).
_UNCONNECTED = """
SELECT status, error_kind, failed, count(*)
FROM requests INDEXED BY ix_requests_run_id_connection_id
WHERE run_id = ? AND connection_id IS NULL AND local_addr IS NULL
GROUP BY status, error_kind, failed
"""


def connection_pass(
    conn: ReadConnection, run_id: int, step_s: int, points: int, last_span_s: float
) -> dict[str, Any]:
    """Returns {"open": series.connections, "connections": the report's connections}."""
    rows: list[tuple[Any, ...]] = []  # the busiest, kept short as the pass goes
    starts, ends = array("d"), array("d")
    spans: list[tuple[int, int]] = []  # (first, last position) of each connection
    failed: Counter[tuple[int, str]] = Counter()  # failures by (position, outcome)
    gaps = total = 0
    cursor = conn.cursor()
    cursor.row_factory = None
    for row in cursor.execute(_PASS, (run_id, run_id)):
        (cid, _, _, _, _, n, _, first_ms, _, end_ms, low, high, failed_at) = row
        total += 1
        if cid is not None:
            starts.append(max(0.0, float(first_ms)))
            ends.append(max(max(0.0, float(first_ms)), float(end_ms)))
        if low is not None:
            spans.append((int(low), int(high)))
            gaps += int(high) - int(low) + 1 != n
        for item in (failed_at or "").split(","):
            if item:
                position, status, kind = item.split(":")
                failed[(int(position), outcome_text(int(status) if status else None,
                                                    kind or None))] += 1  # fmt: skip
        rows.append(row)
        if len(rows) > 4 * TOP_CONNECTIONS:  # memory bounded whatever the connections
            rows = _busiest(rows)
    counts = _exact_positions(conn, run_id) if gaps else _from_spans(spans)
    return {
        "open": open_connections(starts, ends, step_s, points, last_span_s),
        "connections": {
            "no_connection": _no_connection(conn, run_id),
            **_positions(counts, failed),
            "rows": [_socket_row(run_id, r) for r in _busiest(rows)],
            "total": total,
        },
    }


def _busiest(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The TOP_CONNECTIONS rows with the most failures, then requests, then by id."""

    def key(r: tuple[Any, ...]) -> tuple[Any, ...]:
        return (-r[6], -r[5], r[0] is None, r[0] or 0, r[3] or "")

    return sorted(rows, key=key)[:TOP_CONNECTIONS]


def _socket_row(run_id: int, r: tuple[Any, ...]) -> SocketRow:
    """A busiest connection as `capture sockets` gives it; failed_at its first positions."""
    positions = sorted(int(item.split(":")[0]) for item in (r[12] or "").split(",") if item)
    return cast(SocketRow, {
        "run_id": run_id, "connection_id": r[0], "process": r[1], "session": r[2],
        "local_addr": r[3], "remote_addr": r[4], "requests": r[5], "failures": r[6],
        "first_ms": r[7], "last_ms": r[8],
        "failed_at": ",".join(map(str, positions[:FAILED_AT])) or None,
    })  # fmt: skip


def _from_spans(spans: list[tuple[int, int]]) -> Counter[int]:
    """Requests per position when each connection holds every position first to last."""
    last = max((high for _, high in spans), default=0)
    diff = [0] * (last + 2)
    for low, high in spans:
        diff[low] += 1
        diff[high + 1] -= 1
    counts: Counter[int] = Counter()
    running = 0
    for position in range(1, last + 1):
        running += diff[position]
        if running:
            counts[position] = running
    return counts


def _exact_positions(conn: ReadConnection, run_id: int) -> Counter[int]:
    return Counter({int(p): int(n) for p, n in conn.execute(_BY_POSITION, (run_id,))})


def _positions(counts: Counter[int], failed: Counter[tuple[int, str]]) -> dict[str, Any]:
    """The position chart (binned to MAX_POSITIONS points) and fresh against reused."""
    last = max(counts, default=0)
    width = max(1, -(-last // MAX_POSITIONS))
    points = -(-last // width) if last else 0
    requests, failures = [0] * points, [0] * points
    for position, n in counts.items():
        requests[(position - 1) // width] += n
    totals: Counter[str] = Counter()
    for (_, outcome), n in failed.items():
        totals[outcome] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    by_kind = {k: [0] * points for k in ranked[:TOP_KINDS]}
    if len(ranked) > TOP_KINDS:
        by_kind["other"] = [0] * points
    sides = {name: Counter[str]() for name in ("first", "reused")}
    sides["first"]["requests"] = counts.get(1, 0)
    sides["reused"]["requests"] = sum(counts.values()) - counts.get(1, 0)
    for (position, outcome), n in failed.items():
        index = (position - 1) // width
        failures[index] += n
        by_kind[outcome if outcome in by_kind else "other"][index] += n
        side = sides["first" if position == 1 else "reused"]
        side["failed"] += n
        if outcome in ("remote_closed", "reset"):
            side[outcome] += n
    return {
        "positions": {
            "bin": width,
            "from": [1 + i * width for i in range(points)],
            "requests": requests,
            "failures": failures,
            "by_kind": by_kind,
        },
        "first_vs_reused": {name: _side(c) for name, c in sides.items()},
    }


def _side(counts: Counter[str]) -> dict[str, Any]:
    n = counts["requests"]
    return {
        "requests": n,
        "failed": counts["failed"],
        "failed_pct": round(100.0 * counts["failed"] / n, 3) if n else None,
        "remote_closed": counts["remote_closed"],
        "reset": counts["reset"],
    }


def _no_connection(conn: ReadConnection, run_id: int) -> dict[str, Any] | None:
    """The requests that made no connection (refused, DNS, a hook's build error...): how
    many, and their outcomes; None when every request had one."""
    outcomes: Counter[str] = Counter()
    requests = failed = 0
    for status, kind, was_failed, n in conn.execute(_UNCONNECTED, (run_id,)):
        requests += n
        if was_failed:
            failed += n
            outcomes[outcome_text(status, kind)] += n
    if requests == 0:
        return None
    ranked = sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"requests": requests, "failed": failed, "outcomes": [list(p) for p in ranked]}
