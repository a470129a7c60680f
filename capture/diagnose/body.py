"""Detector 6: failed responses whose body size or transfer time stands apart from the
ok responses' (a big export that times out, a slow stream)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from capture.diagnose.model import Failure, Finding, RunEvidence
from capture.diagnose.stats import MIN_ROWS, percent, rank

__all__ = ["bodies"]

MIN_OK = 20  # ok responses needed for their p99 to mean something
APART = 2.0  # a failure stands apart past twice the ok p99
SHARE = 0.2  # of the run's failures


def _apart(
    ev: RunEvidence,
    ok: Sequence[float],
    value: Callable[[Failure], float | None],
    floor: float,
) -> tuple[list[Failure], float] | None:
    """Returns the failures whose value passes max(APART x ok p99, ok p99 + floor), and
    that limit; None when too few stand apart or too few ok responses to compare."""
    p99 = rank(ok, 99)
    if len(ok) < MIN_OK or p99 is None:
        return None
    limit = max(APART * p99, p99 + floor)
    out = [f for f in ev.failures if (v := value(f)) is not None and v > limit]
    if len(out) < MIN_ROWS or len(out) < SHARE * ev.failed:
        return None
    return out, limit


def _transfer(f: Failure) -> float | None:
    return None if f.ttfb_ms is None else f.latency_ms - f.ttfb_ms


def bodies(ev: RunEvidence) -> list[Finding]:
    """Fires for big bodies (bytes received past the limit, 1 KiB floor) and for slow
    ones (latency after the headers past the limit, 50 ms floor), each when MIN_ROWS
    and SHARE of the failures pass it."""
    out = []
    big = _apart(ev, ev.ok_bytes, lambda f: None if f.status is None else f.bytes_in, 1024)
    if big is not None:
        found, limit = big
        sizes = sorted(float(f.bytes_in or 0) for f in found)
        out.append(
            _finding(
                ev,
                "big_body",
                found,
                f"big bodies: {percent(len(found), ev.failed)} of the failures ({len(found)} "
                f"of {ev.failed}) received over {_bytes(limit)} of body (median "
                f"{_bytes(rank(sizes, 50) or 0)}), while 99 % of ok responses had at most "
                f"{_bytes(rank(ev.ok_bytes, 99) or 0)}",
                {"limit_bytes": limit, "median_bytes": rank(sizes, 50)},
            )
        )
    slow = _apart(ev, ev.ok_transfer_ms, _transfer, 50.0)
    if slow is not None:
        found, limit = slow
        times = sorted(t for f in found if (t := _transfer(f)) is not None)
        out.append(
            _finding(
                ev,
                "slow_body",
                found,
                f"slow bodies: {percent(len(found), ev.failed)} of the failures "
                f"({len(found)} of {ev.failed}) took over {limit:.0f} ms to send the body after "
                f"the headers (median {rank(times, 50) or 0:.0f} ms), while 99 % of ok responses "
                f"took at most {rank(ev.ok_transfer_ms, 99) or 0:.1f} ms",
                {"limit_ms": round(limit, 3), "median_ms": rank(times, 50)},
            )
        )
    return out


def _finding(
    ev: RunEvidence, name: str, found: list[Failure], sentence: str, values: dict[str, object]
) -> Finding:
    kinds: dict[str, int] = {}
    for f in found:
        kinds[f.outcome] = kinds.get(f.outcome, 0) + 1
    ranked = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    rows = [[k, n, percent(n, len(found))] for k, n in ranked]
    return Finding(
        name,
        sentence,
        frozenset(f.id for f in found),
        ev.failed,
        {"columns": ["outcome", "failures", "share"], "rows": rows[:10]},
        (),
        values,
        rows=len(ev.ok_bytes) + len(found),
    )


def _bytes(n: float) -> str:
    """Returns 1,234 B, 12.3 KiB, 4.5 MiB."""
    if n < 1024:
        return f"{n:.0f} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.1f} MiB"
