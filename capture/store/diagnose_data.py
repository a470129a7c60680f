"""The evidence `capture diagnose` reads about one run, gathered in one read
transaction with plain, portable SQL (SQLite and PostgreSQL): one pass over the run's
requests (run_pass.py: windows, positions, servers, targets, backends and the idle gaps
between requests on a connection), its failed rows, and its limited ones' Retry-After.

One pass, not a GROUP BY per question and a window function for the gaps: each read the
million rows of a big run again (and the window sorted them), 22 of diagnose's 26 CPU
seconds on 1 M requests (issue 15)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from itertools import compress
from typing import Any

from capture.diagnose import detect
from capture.diagnose.model import Bin, Dimension, Failure, RunEvidence
from capture.diagnose.split import url_template
from capture.store.reader import ReadConnection
from capture.store.report_parts import outcome_text
from capture.store.run_pass import RunColumns, run_columns

__all__ = ["BIN_CHOICES", "MAX_BINS", "bin_width", "findings", "gather"]

BIN_CHOICES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
MAX_BINS = 300
RETRY_AFTER_ROWS = 20_000  # limited responses whose Retry-After is read, at most

# The idle gap before each request on its connection: from the end of the one before.
# Read only when a connection's rows do not come in position order (_gaps).
_GAPS = """
SELECT connection_request_no,
       offset_ms - lag(offset_ms + latency_ms) OVER (
           PARTITION BY host, connection_id ORDER BY connection_request_no),
       CASE WHEN failed = 1 THEN id ELSE 0 END
FROM requests WHERE run_id = ? AND connection_id IS NOT NULL
"""
_LIMITED_HEADERS = """
SELECT f.response_headers FROM failures AS f JOIN requests AS r ON r.id = f.request_id
WHERE f.run_id = ? AND r.status IN (429, 503) AND f.response_headers IS NOT NULL
ORDER BY f.request_id LIMIT ?
"""


def bin_width(duration_s: float) -> float:
    """Returns the window the run is read in: the smallest of BIN_CHOICES that cuts it
    into at most MAX_BINS windows."""
    for width in BIN_CHOICES:
        if duration_s / width <= MAX_BINS:
            return width
    return BIN_CHOICES[-1]


def findings(
    conn: ReadConnection,
    run_id: int,
    duration_s: float,
    client: Any,
    columns: RunColumns | None = None,
) -> list[dict[str, Any]]:
    """Returns the run's findings as JSON data (capture diagnose, docs/diagnose.md);
    columns, when given, are the run's rows already read (the summary's)."""
    ev = gather(conn, run_id, duration_s, dict(client), columns)
    return [f.as_dict(run_id) for f in detect(ev)]


def gather(
    conn: ReadConnection,
    run_id: int,
    duration_s: float,
    client: dict[str, Any] | None,
    columns: RunColumns | None = None,
) -> RunEvidence:
    """Returns the evidence about one run; client is the summary's client_limit."""
    width = bin_width(duration_s)
    columns = run_columns(conn, run_id) if columns is None else columns
    bins, ok_bytes, ok_transfer = _bins(columns, width)
    gaps = _gaps(columns)
    return RunEvidence(
        run_id=run_id,
        requests=len(columns.offset),
        failed=sum(columns.failed),
        duration_s=duration_s,
        bin_s=width,
        bins=bins,
        dimensions=_dimensions(columns),
        failures=tuple(_failures(columns.failed_rows(conn))),
        gaps=_sql_gaps(conn, run_id) if gaps is None else gaps,
        ok_bytes=ok_bytes,
        ok_transfer_ms=ok_transfer,
        retry_after=_retry_after(conn, run_id),
        client=client,
    )


def _tuples(conn: ReadConnection, sql: str, *params: Any) -> list[Any]:
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: no per-row objects
    return cursor.execute(sql, params).fetchall()


def _bins(
    columns: RunColumns, width: float
) -> tuple[tuple[Bin, ...], tuple[int, ...], tuple[float, ...]]:
    """Returns the run's windows, and the ok responses' body sizes and transfer times,
    sorted. A window's latencies add up in row order (id order), as a loop would."""
    window_ms = round(width * 1000.0, 6)  # onset.bin_of's, inline: per row it cost 3 s
    at = [int(offset // window_ms) for offset in columns.offset]
    if at and min(at) < 0:
        at = [max(0, i) for i in at]
    count = 1 + max(at, default=-1)
    n, f, total_ms = [0] * count, [0] * count, [0.0] * count
    for i, k in Counter(at).items():
        n[i] = k
    for i, k in Counter(compress(at, columns.failed)).items():
        f[i] = k
    for i, latency in zip(at, columns.latency, strict=True):
        total_ms[i] += latency
    ok = [not x for x in columns.failed]
    ok_ms: list[list[float]] = [[] for _ in range(count)]
    ok_latency = list(compress(columns.latency, ok))
    for i, latency in zip(compress(at, ok), ok_latency, strict=True):
        ok_ms[i].append(latency)
    ok_bytes = sorted(
        b for s, b in zip(compress(columns.status, ok), compress(columns.bytes_in, ok),
                          strict=True) if s is not None and b is not None
    )  # fmt: skip
    ok_transfer = sorted(
        latency - ttfb
        for latency, ttfb in zip(ok_latency, compress(columns.ttfb, ok), strict=True)
        if ttfb is not None
    )
    bins = tuple(
        Bin(
            start_s=round(i * width, 6),
            requests=n[i],
            failed=f[i],
            ok_latency_ms=sorted(ok_ms[i])[(len(ok_ms[i]) - 1) // 2] if ok_ms[i] else None,
            mean_latency_ms=total_ms[i] / n[i] if n[i] else None,
        )
        for i in range(count)
    )
    return bins, tuple(ok_bytes), tuple(ok_transfer)


def _gaps(columns: RunColumns) -> tuple[tuple[float, int], ...] | None:
    """Returns each reused request's idle gap on its connection (_GAPS' rows) from the
    rows in id order: a connection carries one request after another, so its rows come
    in position order. None when a connection's do not (a position repeated, missing or
    out of order): _GAPS then sorts them, as before."""
    last: dict[tuple[int, int], tuple[int, float]] = {}
    gaps: list[tuple[float, int]] = []
    for host, connection, position, offset, latency, failed, rid in zip(
        columns.host, columns.connection, columns.position, columns.offset,
        columns.latency, columns.failed, columns.id, strict=True,
    ):  # fmt: skip
        if connection is None:
            continue
        if position is None:
            return None
        key = (host, connection)
        before = last.get(key)
        last[key] = (position, offset + latency)
        if before is None:
            continue
        if position <= before[0]:
            return None
        if position > 1:
            gaps.append((float(offset - before[1]), int(rid) if failed == 1 else 0))
    return tuple(gaps)


def _sql_gaps(conn: ReadConnection, run_id: int) -> tuple[tuple[float, int], ...]:
    return tuple(
        (float(gap), int(rid))
        for position, gap, rid in _tuples(conn, _GAPS, run_id)
        if position is not None and position > 1 and gap is not None
    )


def _grouped(values: Sequence[Any], failed: Sequence[int]) -> tuple[tuple[Any, int, int], ...]:
    """(value, requests, failed) of each value, in GROUP BY's order: NULL first."""
    requests = Counter(values)
    failures = Counter(compress(values, failed))
    ordered = sorted(requests, key=lambda v: (v is not None, v))
    return tuple((v, requests[v], failures[v]) for v in ordered)


def _dimensions(columns: RunColumns) -> dict[str, Dimension]:
    """Returns requests and failures by position, server address, target and backend."""
    out = {
        name: Dimension(name, _grouped(values, columns.failed))
        for name, values in (
            ("position", columns.position),
            ("remote", columns.remote),
            ("backend", columns.backend),
        )
    }
    by_target: Counter[str] = Counter()
    failed_by_target: Counter[str] = Counter()
    for (method, url), n, f in _grouped(
        tuple(zip(columns.method, columns.url, strict=True)), columns.failed
    ):
        key = url_template(method, url)
        by_target[key] += n
        failed_by_target[key] += f
    out["target"] = Dimension(
        "target", tuple((k, n, failed_by_target[k]) for k, n in sorted(by_target.items()))
    )
    return out


def _failures(rows: list[tuple[Any, ...]]) -> list[Failure]:
    """The run's failed requests, from run_pass's failed rows."""
    outcomes: dict[tuple[int | None, str | None], str] = {}  # a few pairs, 200,000 rows
    out = []
    for (rid, offset, status, kind, method, url, remote, connection, position, bytes_in,
         latency, ttfb, signature, backend, _, _) in rows:  # fmt: skip
        outcome = outcomes.get((status, kind))
        if outcome is None:
            outcome = outcomes[(status, kind)] = outcome_text(status, kind)
        out.append(
            Failure(
                id=int(rid),
                offset_ms=float(offset),
                status=status,
                error_kind=kind,
                method=method,
                url=url,
                remote_addr=remote,
                connection_id=connection,
                position=position,
                bytes_in=bytes_in,
                latency_ms=float(latency),
                ttfb_ms=None if ttfb is None else float(ttfb),
                signature=signature,
                outcome=outcome,
                backend=backend,
            )
        )
    return out


def _retry_after(conn: ReadConnection, run_id: int) -> dict[str, int]:
    """Returns the Retry-After values of the run's 429 and 503 responses, counted."""
    counts: Counter[str] = Counter()
    for (text,) in _tuples(conn, _LIMITED_HEADERS, run_id, RETRY_AFTER_ROWS):
        for name, value in json.loads(text):
            if name.lower() == "retry-after":
                counts[value.strip()] += 1
    return dict(counts)
