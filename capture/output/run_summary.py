"""The end of `capture run`: a RunSummary in, aligned text lines or one JSON document out.
Pure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from capture.output.hints import program
from capture.output.units import ms, percent, rate, seconds
from capture.results import RunSummary
from capture.store.reader import hide_password
from capture.store.saturation import CPU_BUSY_SHARE, Saturation, client_limits, pool_bound

__all__ = ["client_limit", "keep_up_warning", "summary_json", "summary_lines"]


def _percentile_text(values: dict[str, float]) -> str:
    return "  ".join(f"{k} {ms(v)}" for k, v in values.items())


def _counts(counts: dict[Any, int], total: int) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return "  ".join(f"{k}: {n} ({percent(n, total)})" for k, n in items) if total else ""


def _connections(s: RunSummary) -> str:
    """Says how many TCP connections the sessions opened, or that it is not known."""
    if s.sockets_used is None:  # the database went away before it could count them
        return f"not known (the database could not count them) for {s.connections} sessions"
    return f"{s.sockets_used} TCP connections opened by {s.connections} sessions"


def summary_lines(s: RunSummary, *, db: str) -> Iterator[str]:
    """Yields the end-of-run summary as aligned text lines."""
    snap = s.stats
    title = f"run {s.run_id}" + (f" {s.name!r}" if s.name else "")
    why = "" if s.stop_reason == s.status.value else f" ({s.stop_reason})"  # not twice
    yield f"capture {title}: {s.status.value} after {seconds(s.duration_s, 2)}{why}"
    # sent counts the rows, as `capture runs` does; the abandoned have none (aborted_total).
    done = "recorded" if s.aborted else "sent"
    line = f"  requests  {s.sent} {done}, {s.ok} ok, {s.failed} failed"
    line += f" ({percent(s.failed, s.sent)}), {s.stored} failures stored"
    if s.storage.dropped_failures:
        line += f", {s.storage.dropped_failures} NOT stored"
    if s.aborted:
        line += f"; {s.aborted} abandoned in flight (sent, outcome unknown, no row)"
    yield line
    achieved = f"  rate      {rate(s.rate)} achieved"
    if s.qps_asked:
        achieved += f", {rate(s.qps_asked)} asked{_by(s)} ({percent(s.rate, s.qps_asked)})"
        if s.extra.get("qps_run"):  # a --hosts run: the asked rate is this host's share
            hosts, slot = s.extra.get("hosts"), s.extra.get("slot")
            achieved += f", slot {slot}'s share of {rate(s.extra['qps_run'])} on {hosts} hosts"
    yield achieved
    if snap.latency_ms:
        yield f"  latency   {_percentile_text(snap.latency_ms)}"
    if s.qps_asked and snap.lag_ms:
        yield f"  send lag  {_percentile_text(snap.lag_ms)}"
        behind = keep_up_warning(s)
        if behind:
            yield f"  WARNING   {behind}"
    if snap.wait_ms and snap.wait_ms.get("p99", 0.0) >= 1.0:
        yield f"  pool wait {_percentile_text(snap.wait_ms)}"
    if snap.status_counts:
        yield f"  status    {_counts(snap.status_counts, s.sent)}"
    if snap.error_counts:
        yield f"  errors    {_counts(snap.error_counts, s.sent)}"
    yield f"  connections {_connections(s)}"
    limit = client_limit(s)
    if limit.cpu_share is not None:
        procs = int(s.extra.get("procs", 1))
        each = f" per process, {procs} processes" if procs > 1 else ""
        yield f"  client    CPU {seconds(snap.cpu_s, 2)}, {limit.cpu_share:.0%} of a core{each}"
    if limit.saturated:
        yield f"  WARNING   {limit.advice(int(s.extra.get('procs', 1)))}"
    if s.storage_error:
        yield f"  storage   {s.storage_error}"
    if s.failed:
        yield f"  failures  {program()} failures --db {hide_password(db)} --run {s.run_id}"


def _by(s: RunSummary) -> str:
    """Says, for a ramp or stages, that the asked rate is their mean; else nothing."""
    return f" on average by {s.extra['schedule']}" if s.extra.get("schedule") else ""


LAG_WARN_MS = 50.0  # a send this late is no longer the rate the user asked for


def keep_up_warning(s: RunSummary) -> str | None:
    """Says plainly when the pool could not keep up with --qps or --stages, and why,
    else None."""
    if not s.qps_asked or s.aborted or s.stop_reason != "completed":
        return None
    # The send lag says whether each request went out at its time (waiting for a free
    # connection included). The achieved rate does not: it counts the run up to the last
    # response, so a short run whose every send was on time reads below the asked rate.
    p99 = s.stats.lag_ms.get("p99", 0.0)
    if p99 <= LAG_WARN_MS:
        return None
    return (
        f"the pool did not keep up: asked {rate(s.qps_asked)}{_by(s)}, achieved {rate(s.rate)} "
        f"({percent(s.rate, s.qps_asked)}), send lag p99 {ms(p99)}; {_late_because(s)}"
    )


def _late_because(s: RunSummary) -> str:
    """Returns the likeliest cause of late sends, from capture's own figures, and what
    to do about it: the writer, the pool, or the process's CPU (its one GIL)."""
    snap = s.stats
    waited = float(s.extra.get("queue_wait_s") or 0.0)
    if waited > 0:
        return (
            f"the writer was behind: workers waited {waited:.1f} s for room in its queue; "
            "store less (--max-body), a faster disk, or PostgreSQL (--db postgresql://)"
        )
    if pool_bound(
        qps=s.qps_asked,
        latency_p50_ms=snap.latency_ms.get("p50"),
        sessions=s.connections,
        wait_p99_ms=snap.wait_ms.get("p99"),
        lag_p99_ms=snap.lag_ms.get("p99"),
    ):
        return "every session was busy: add connections (-c), workers (-w) or processes (--procs)"
    share = client_limit(s).cpu_share
    if share is not None and share >= CPU_BUSY_SHARE:
        return (
            f"capture's own CPU: {share:.0%} of a core (a process's threads share one GIL); "
            "add processes (--procs)"
        )
    used = "" if share is None else f" at {share:.0%} of a core"
    return (
        f"sessions were free and capture's process{used} had CPU to spare: other load on "
        "this machine is the likely cause; add connections (-c), workers (-w) or "
        "processes (--procs)"
    )


def client_limit(s: RunSummary) -> Saturation:
    """Applies store.saturation's rule to a finished run's live figures."""
    snap = s.stats
    return client_limits(
        cpu_s=snap.cpu_s if snap.sent else None,
        duration_s=s.duration_s,
        procs=int(s.extra.get("procs", 1)),
        lag_p99_ms=snap.lag_ms.get("p99") if s.qps_asked else None,
        pool_busy=pool_bound(
            qps=s.qps_asked,
            latency_p50_ms=snap.latency_ms.get("p50"),
            sessions=s.connections,
            wait_p99_ms=snap.wait_ms.get("p99"),
            lag_p99_ms=snap.lag_ms.get("p99"),
        ),
        wait_p50_ms=snap.wait_ms.get("p50"),
        latency_p50_ms=snap.latency_ms.get("p50"),
    )


def summary_json(s: RunSummary, *, db: str) -> str:
    """Returns the summary as one JSON document."""
    snap = s.stats
    return json.dumps(
        {
            "run_id": s.run_id,
            "name": s.name,
            "status": s.status.value,
            "stop_reason": s.stop_reason,
            "db": hide_password(db),  # a postgresql:// URL's password is never printed
            "duration_s": round(s.duration_s, 6),
            "sent": s.sent,
            "ok": s.ok,
            "failed": s.failed,
            "stored": s.stored,
            "dropped": s.storage.dropped_failures,
            "aborted": s.aborted,
            "rate": round(s.rate, 3),
            "qps_asked": s.qps_asked,
            "schedule": s.extra.get("schedule"),
            "latency_ms": snap.latency_ms,
            "lag_ms": snap.lag_ms,
            "wait_ms": snap.wait_ms,
            "status_counts": {str(k): v for k, v in sorted(snap.status_counts.items())},
            "error_counts": dict(sorted(snap.error_counts.items())),
            "sockets_used": s.sockets_used,
            "connections": s.connections,
            "storage_error": s.storage_error,
            "keep_up_warning": keep_up_warning(s),
            # The JSON's names since it was published; the tally's are lost_requests, ...
            "requests_lost": s.storage.lost_requests,
            "failures_lost": s.storage.lost_failures,
            "procs": s.extra.get("procs", 1),
            "cpu_s": round(snap.cpu_s, 6),
            "client_limit": _limit_json(s),
        },
        indent=2,
    )


def _limit_json(s: RunSummary) -> dict[str, Any]:
    limit = client_limit(s)
    return {
        "cpu_share": None if limit.cpu_share is None else round(limit.cpu_share, 4),
        "saturated": limit.saturated,
        "reasons": list(limit.reasons),
        "advice": limit.advice(int(s.extra.get("procs", 1))) if limit.saturated else None,
    }
