"""The one verdict line at the top of a report: how much failed and how, and what makes
the numbers less than they seem (a crashed run, a client at its limit, a rate not
reached). Pure: a shaped run (report_doc) in, a line out."""

from __future__ import annotations

from typing import Any

from capture.output.units import ms

__all__ = ["verdict"]

SHOWN_OUTCOMES = 3
_RATE_SHORTFALL = 0.95  # achieved below this share of --qps (a schedule's mean) is said


def verdict(run: dict[str, Any]) -> str:
    """Returns the run's verdict, parts joined by ' · '."""
    totals = run["totals"]
    n, failed = totals["requests"], totals["failed"]
    parts = [_state(run["run"]["status"])] if run["run"]["status"] != "completed" else []
    if n == 0:
        return " · ".join([*parts, "no request was recorded"])
    if failed == 0:
        parts.append(f"all {n:,} requests succeeded")
    else:
        top = ", ".join(f"{o} x{c:,}" for o, c in run["failure_outcomes"][:SHOWN_OUTCOMES])
        more = len(run["failure_outcomes"]) - SHOWN_OUTCOMES
        top += f" and {more} more" if more > 0 else ""
        parts.append(f"{failed:,} of {n:,} requests failed ({_pct(totals['failed_pct'])}): {top}")
    p99 = (run["latency_ms"]["ok"] or {}).get("p99")
    if p99 is not None:
        parts.append(f"p99 of the ok {ms(p99)}")
    parts.extend(_rate(totals))
    if run["client_limit"]["saturated"]:
        parts.append("the client was at its limit: latency and rate may be the client's")
    dropped = totals["failures_dropped"] or 0
    if dropped:
        parts.append(f"{dropped:,} failures have only their light row (storage error)")
    return " · ".join(parts)


def _state(status: str) -> str:
    return {
        "crashed": "the run crashed: counts are of the rows stored before it stopped",
        "running": "the run is still running: counts so far",
        "interrupted": "interrupted",
        "failed": "the run failed (see capture runs)",
    }.get(status, status)


def _pct(value: float) -> str:
    return f"{value:.1f}%" if value >= 0.1 else f"{value:.3g}%"


def _rate(totals: dict[str, Any]) -> list[str]:
    rate, asked = totals["rate"], totals["qps_asked"]
    if rate is None:
        return []
    if asked is None:
        return [f"{rate:,.1f} requests/s"]
    short = rate < _RATE_SHORTFALL * asked
    said = f"{rate:,.1f}/s of {asked:,.1f}/s asked"
    if totals.get("schedule"):  # a ramp or stages: the asked rate is their mean
        said += f" on average by {totals['schedule']}"
    return [f"only {said}" if short else said]
