"""Detector 2: failures that begin when the achieved rate crosses R (a rate limiter)."""

from __future__ import annotations

from capture.diagnose.model import Failure, Finding, RunEvidence
from capture.diagnose.onset import bin_of, onset, per_bin
from capture.diagnose.stats import MIN_ROWS, median, percent

__all__ = ["LIMITER_STATUSES", "rate_threshold"]

LIMITER_STATUSES = (429, 503)
RISE = 1.1  # the rate after the onset is at least 10 % above the rate before it
SMOOTH = 5  # windows the rate at the onset is averaged over
PLATEAU_SPREAD = 0.25  # ok responses a window within 25 % of their median: a plateau


def rate_threshold(ev: RunEvidence) -> list[Finding]:
    """Fires when failures (429/503 when they are most of them, else all) begin at a
    window (onset.onset) whose rate is above every rate before it, on a rate that rises
    (RISE). Reports the rate at the onset and, when ok responses level off (a plateau
    within PLATEAU_SPREAD) while the rate keeps rising, the rate the limiter lets by."""
    limited = [f for f in ev.failures if f.status in LIMITER_STATUSES]
    chosen = limited if len(limited) * 2 >= ev.failed else list(ev.failures)
    if len(chosen) < MIN_ROWS or not ev.bins:
        return []
    requests = [b.requests for b in ev.bins]
    failed = per_bin([f.offset_ms for f in chosen], ev.bin_s, len(ev.bins))
    start = onset(requests, failed)
    if start is None:
        return []
    rates = [n / ev.bin_s for n in requests]
    used_before = [r for r, n in zip(rates[:start], requests[:start], strict=True) if n]
    after = [i for i in range(start, len(rates)) if requests[i]]
    mean_before = sum(used_before) / len(used_before)
    mean_after = sum(rates[i] for i in after) / len(after)
    # A window holds whole requests, so a steady rise reads 11, 10, 12, 11... a window:
    # the rate at the onset is compared smoothed over SMOOTH windows, not one window's.
    smooth = _smoothed(rates, requests)
    if mean_after < RISE * mean_before or smooth[start] < max(smooth[:start]):
        return []
    crossing = smooth[start]
    ok_rates = sorted((requests[i] - failed[i]) / ev.bin_s for i in after[:-1] or after)
    plateau = median(ok_rates)
    levelled = (
        plateau is not None
        and plateau > 0
        and ok_rates[0] >= (1 - PLATEAU_SPREAD) * plateau
        and ok_rates[-1] <= (1 + PLATEAU_SPREAD) * plateau
        and max(rates[i] for i in after) >= 1.2 * plateau
    )
    explained = [f for f in chosen if bin_of(f.offset_ms, ev.bin_s) >= start]
    what = _what(chosen, limited is chosen)
    sentence = (
        f"{what} began at {ev.bins[start].start_s:g} s, when the rate reached "
        f"{crossing:.0f}/s (before it: at most {max(smooth[:start]):.0f}/s, few failed); "
        f"from then on {percent(len(explained), sum(requests[i] for i in after))} of requests "
        "failed"
    )
    if levelled:
        sentence += (
            f" while ok responses held at {plateau:.0f}/s: a rate limiter at about {plateau:.0f}/s"
        )
    sentence += _retry_after(ev)
    return [
        Finding(
            "rate_threshold",
            sentence,
            frozenset(f.id for f in explained),
            ev.failed,
            _table(ev, requests, failed, start),
            (
                *(("--status", "429,503") if limited is chosen else ()),
                "--since",
                f"{ev.bins[start].start_s:g}s",
            ),
            {
                "onset_s": ev.bins[start].start_s,
                "rate": round(crossing, 3),
                "limit_rate": round(plateau, 3) if levelled and plateau else None,
                "retry_after": dict(ev.retry_after),
            },
            rows=sum(requests),
        )
    ]


def _smoothed(rates: list[float], requests: list[int]) -> list[float]:
    """Returns each window's rate as the mean over the SMOOTH windows around it that had
    requests (fewer at the run's ends)."""
    half = SMOOTH // 2
    out = []
    for i in range(len(rates)):
        span = range(max(0, i - half), min(len(rates), i + half + 1))
        near = [rates[j] for j in span if requests[j]]
        out.append(sum(near) / len(near) if near else 0.0)
    return out


def _what(chosen: list[Failure], limited: bool) -> str:
    if not limited:
        return "failures"
    statuses = sorted({f.status for f in chosen if f.status is not None})
    return " and ".join(f"{s}s" for s in statuses)


def _retry_after(ev: RunEvidence) -> str:
    """Returns '; Retry-After: 1 (812), 2 (3)' from the limited responses, or ''."""
    if not ev.retry_after:
        return ""
    top = sorted(ev.retry_after.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return "; Retry-After: " + ", ".join(f"{v} ({n})" for v, n in top)


def _table(
    ev: RunEvidence, requests: list[int], failed: list[int], start: int
) -> dict[str, object]:
    """Returns the windows around the onset: time, rate, failed, ok rate."""
    rows: list[list[object]] = []
    lo, hi = max(0, start - 3), min(len(requests), start + 4)
    for i in range(lo, hi):
        n, f = requests[i], failed[i]
        rows.append(
            [
                f"{ev.bins[i].start_s:g} s",
                round(n / ev.bin_s, 1),
                f,
                percent(f, n),
                round((n - f) / ev.bin_s, 1),
            ]
        )
    return {"columns": ["from", "rate /s", "failed", "failure rate", "ok /s"], "rows": rows}
