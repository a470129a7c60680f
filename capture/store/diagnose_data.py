"""The evidence `capture diagnose` reads about one run, gathered in one read
transaction with plain, portable SQL (SQLite and PostgreSQL): a few grouped passes over
the run's requests, its failed rows, and the gaps between requests on a connection."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from capture.diagnose import detect
from capture.diagnose.model import Bin, Dimension, Failure, RunEvidence
from capture.diagnose.onset import bin_of
from capture.diagnose.split import url_template
from capture.store.reader import ReadConnection
from capture.store.report_parts import outcome_text

__all__ = ["BIN_CHOICES", "MAX_BINS", "bin_width", "findings", "gather"]

BIN_CHOICES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)
MAX_BINS = 300
RETRY_AFTER_ROWS = 20_000  # limited responses whose Retry-After is read, at most

_FAILED = """
SELECT r.id, r.offset_ms, r.status, r.error_kind, r.method, r.url, r.remote_addr,
       r.connection_id, r.connection_request_no, r.bytes_in, r.latency_ms, r.ttfb_ms,
       f.body_signature, r.backend
FROM requests AS r LEFT JOIN failures AS f ON f.request_id = r.id
WHERE r.run_id = ? AND r.failed = 1 ORDER BY r.id
"""
# The idle gap before each request on its connection: from the end of the one before.
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
    conn: ReadConnection, run_id: int, duration_s: float, client: Any
) -> list[dict[str, Any]]:
    """Returns the run's findings as JSON data (capture diagnose, docs/diagnose.md)."""
    ev = gather(conn, run_id, duration_s, dict(client))
    return [f.as_dict(run_id) for f in detect(ev)]


def gather(
    conn: ReadConnection, run_id: int, duration_s: float, client: dict[str, Any] | None
) -> RunEvidence:
    """Returns the evidence about one run; client is the summary's client_limit."""
    width = bin_width(duration_s)
    bins, ok_bytes, ok_transfer, requests, failed = _bins(conn, run_id, width)
    return RunEvidence(
        run_id=run_id,
        requests=requests,
        failed=failed,
        duration_s=duration_s,
        bin_s=width,
        bins=bins,
        dimensions=_dimensions(conn, run_id),
        failures=tuple(_failures(conn, run_id)),
        gaps=tuple(
            (float(gap), int(rid))
            for position, gap, rid in _tuples(conn, _GAPS, run_id)
            if position is not None and position > 1 and gap is not None
        ),
        ok_bytes=tuple(sorted(ok_bytes)),
        ok_transfer_ms=tuple(sorted(ok_transfer)),
        retry_after=_retry_after(conn, run_id),
        client=client,
    )


def _tuples(conn: ReadConnection, sql: str, *params: Any) -> list[Any]:
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: no per-row objects
    return cursor.execute(sql, params).fetchall()


def _bins(
    conn: ReadConnection, run_id: int, width: float
) -> tuple[tuple[Bin, ...], list[int], list[float], int, int]:
    """Returns the run's windows, the ok responses' body sizes and transfer times, and
    the counts of requests and failures, in one pass over the run's rows."""
    rows = _tuples(
        conn,
        "SELECT offset_ms, latency_ms, ttfb_ms, failed, bytes_in, status FROM requests"
        " WHERE run_id = ?",
        run_id,
    )
    count = 1 + max((bin_of(r[0], width) for r in rows), default=-1)
    n = [0] * count
    f = [0] * count
    total_ms = [0.0] * count
    ok_ms: list[list[float]] = [[] for _ in range(count)]
    ok_bytes: list[int] = []
    ok_transfer: list[float] = []
    for offset, latency, ttfb, was_failed, bytes_in, status in rows:
        i = bin_of(offset, width)
        n[i] += 1
        total_ms[i] += latency
        if was_failed:
            f[i] += 1
            continue
        ok_ms[i].append(latency)
        if status is not None and bytes_in is not None:
            ok_bytes.append(bytes_in)
        if ttfb is not None:
            ok_transfer.append(latency - ttfb)
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
    return bins, ok_bytes, ok_transfer, sum(n), sum(f)


def _dimensions(conn: ReadConnection, run_id: int) -> dict[str, Dimension]:
    """Returns requests and failures by position, server address, target and backend."""
    out = {}
    for name, column in (
        ("position", "connection_request_no"),
        ("remote", "remote_addr"),
        ("backend", "backend"),
    ):
        rows = _tuples(
            conn,
            f"SELECT {column}, count(*), sum(failed) FROM requests WHERE run_id = ?"
            f" GROUP BY {column}",
            run_id,
        )
        out[name] = Dimension(name, tuple((v, int(n), int(f)) for v, n, f in rows))
    by_target: Counter[str] = Counter()
    failed_by_target: Counter[str] = Counter()
    for method, url, n, f in _tuples(
        conn,
        "SELECT method, url, count(*), sum(failed) FROM requests WHERE run_id = ?"
        " GROUP BY method, url",
        run_id,
    ):
        key = url_template(method, url)
        by_target[key] += int(n)
        failed_by_target[key] += int(f)
    out["target"] = Dimension(
        "target", tuple((k, n, failed_by_target[k]) for k, n in sorted(by_target.items()))
    )
    return out


def _failures(conn: ReadConnection, run_id: int) -> list[Failure]:
    return [
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
            outcome=outcome_text(status, kind),
            backend=backend,
        )
        for (rid, offset, status, kind, method, url, remote, connection, position, bytes_in,
             latency, ttfb, signature, backend) in _tuples(conn, _FAILED, run_id)
    ]  # fmt: skip


def _retry_after(conn: ReadConnection, run_id: int) -> dict[str, int]:
    """Returns the Retry-After values of the run's 429 and 503 responses, counted."""
    counts: Counter[str] = Counter()
    for (text,) in _tuples(conn, _LIMITED_HEADERS, run_id, RETRY_AFTER_ROWS):
        for name, value in json.loads(text):
            if name.lower() == "retry-after":
                counts[value.strip()] += 1
    return dict(counts)
