"""Detectors 4 and 5, read from the run's time windows: failures in bursts, and latency
that climbs before the timeouts or 5xx (saturation)."""

from __future__ import annotations

from capture.diagnose.model import Bin, Failure, Finding, RunEvidence
from capture.diagnose.onset import ONSET_SHARE, bin_of, per_bin
from capture.diagnose.stats import MIN_ROWS, median, percent

__all__ = ["bursts", "latency_before_failure"]

HOT = 5.0  # a window is hot when its failure rate is 5x the run's
IN_BURSTS = 0.8  # bursts: hot windows hold at least 80 % of the failures
MAX_COVER = 0.3  # in at most 30 % of the windows with requests
CLIMB = 3.0  # latency before failure: the last windows' ok median is 3x the baseline
CLIMB_MIN_MS = 5.0  # and at least 5 ms above it
RISE = 2.0  # the climb starts where the ok median passes 2x the baseline, to stay
MIN_BEFORE = 5  # windows with ok latencies before the failures begin


def bursts(ev: RunEvidence) -> list[Finding]:
    """Fires when hot windows (HOT times the run's failure rate, two failures at least),
    merged when at most one window apart, hold IN_BURSTS of the failures in at most
    MAX_COVER of the windows that had requests."""
    if ev.failed < MIN_ROWS or not ev.bins:
        return []
    share = ev.failed / ev.requests
    hot = [b.failed >= 2 and b.failed >= HOT * share * b.requests for b in ev.bins]
    windows: list[list[int]] = []
    for i, is_hot in enumerate(hot):
        if not is_hot:
            continue
        if windows and i - windows[-1][1] <= 2:
            windows[-1][1] = i
        else:
            windows.append([i, i])
    # a burst's edge windows hold its first and last failures, one may be all they have
    for w in windows:
        while w[0] > 0 and _warm(ev.bins[w[0] - 1], share):
            w[0] -= 1
        while w[1] + 1 < len(ev.bins) and _warm(ev.bins[w[1] + 1], share):
            w[1] += 1
    merged: list[list[int]] = []
    for w in windows:
        if merged and w[0] <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], w[1])
        else:
            merged.append(w)
    windows = merged
    used = sum(1 for b in ev.bins if b.requests)
    covered = sum(1 for lo, hi in windows for b in ev.bins[lo : hi + 1] if b.requests)
    inside = sum(b.failed for lo, hi in windows for b in ev.bins[lo : hi + 1])
    if not windows or inside < IN_BURSTS * ev.failed or covered > MAX_COVER * used:
        return []
    spans = [(ev.bins[lo].start_s, ev.bins[hi].start_s + ev.bin_s) for lo, hi in windows]
    explained = [
        f
        for f in ev.failures
        if any(lo <= bin_of(f.offset_ms, ev.bin_s) <= hi for lo, hi in windows)
    ]
    rows: list[list[object]] = []
    counts: list[int] = []
    for (lo, hi), (a, b) in zip(windows, spans, strict=True):
        n = sum(x.requests for x in ev.bins[lo : hi + 1])
        f = sum(x.failed for x in ev.bins[lo : hi + 1])
        rows.append([f"{a:g} s", f"{b:g} s", n, f, percent(f, n)])
        counts.append(f)
    listed = ", ".join(f"{a:g}-{b:g} s" for a, b in spans[:5])
    more = f" and {len(spans) - 5} more" if len(spans) > 5 else ""
    sentence = (
        f"failures came in {len(spans)} burst{'s' if len(spans) > 1 else ''} ({listed}{more}): "
        f"{percent(len(explained), ev.failed)} of the failures ({len(explained)} of "
        f"{ev.failed}) in {percent(covered, used)} of the run's time"
    )
    biggest = spans[counts.index(max(counts))]
    return [
        Finding(
            "bursts",
            sentence,
            frozenset(f.id for f in explained),
            ev.failed,
            {"columns": ["from", "until", "requests", "failed", "failure rate"], "rows": rows},
            ("--since", f"{biggest[0]:g}s", "--until", f"{biggest[1]:g}s"),
            {"windows": [[a, b] for a, b in spans]},
            rows=ev.requests,
        )
    ]


def _warm(b: Bin, share: float) -> bool:
    """Returns True for a window beside a burst that failed at the run's rate or more:
    a burst's first and last failures may share their windows with ok requests."""
    return b.failed >= 1 and b.failed >= share * b.requests


def _saturation_failure(f: Failure) -> bool:
    """Returns True for a timeout or a 5xx, what saturation ends in."""
    return (f.status is not None and f.status >= 500) or (f.error_kind or "").endswith("timeout")


def latency_before_failure(ev: RunEvidence) -> list[Finding]:
    """Fires when the timeouts or 5xx begin (the first window where ONSET_SHARE of the
    requests ended so, two at least) after MIN_BEFORE windows of ok latencies whose last
    three have a median CLIMB times the first ones' (and CLIMB_MIN_MS more). Reports the
    window where the climb began (ok median past RISE x baseline, staying there), with
    its rate and its concurrency (Little's law: rate x mean latency)."""
    chosen = [f for f in ev.failures if _saturation_failure(f)]
    if len(chosen) < MIN_ROWS or not ev.bins:
        return []
    failed = per_bin([f.offset_ms for f in chosen], ev.bin_s, len(ev.bins))
    start = next(
        (
            i
            for i, b in enumerate(ev.bins)
            if failed[i] >= 2 and failed[i] >= ONSET_SHARE * b.requests
        ),
        None,
    )
    if start is None:
        return []
    before = [
        (i, b.ok_latency_ms) for i, b in enumerate(ev.bins[:start]) if b.ok_latency_ms is not None
    ]
    if len(before) < MIN_BEFORE:
        return []
    head = [ms for _, ms in before[: max(2, len(before) // 5)]]
    baseline = median(head)
    late = median([ms for _, ms in before[-3:]])
    assert baseline is not None and late is not None
    if late < CLIMB * baseline or late - baseline < CLIMB_MIN_MS:
        return []
    rise = start
    for i, ms in reversed(before):
        if ms < RISE * baseline:
            break
        rise = i
    b = ev.bins[rise]
    rate = b.requests / ev.bin_s
    concurrency = rate * (b.mean_latency_ms or 0.0) / 1000.0
    explained = [f for f in chosen if bin_of(f.offset_ms, ev.bin_s) >= start]
    sentence = (
        f"latency climbed before the failures: the ok median rose from {baseline:.1f} ms to "
        f"{late:.1f} ms, beginning at {b.start_s:g} s (rate {rate:.0f}/s, about "
        f"{concurrency:.1f} requests in flight), and the timeouts and 5xx began at "
        f"{ev.bins[start].start_s:g} s: the service saturated"
    )
    rows = [
        [f"{x.start_s:g} s", round(x.requests / ev.bin_s, 1), x.ok_latency_ms, failed[i]]
        for i, x in enumerate(ev.bins)
        if max(0, rise - 2) <= i <= start + 1
    ]
    return [
        Finding(
            "latency_before_failure",
            sentence,
            frozenset(f.id for f in explained),
            ev.failed,
            {"columns": ["from", "rate /s", "ok median ms", "timeouts and 5xx"], "rows": rows},
            ("--since", f"{ev.bins[start].start_s:g}s"),
            {
                "baseline_ms": round(baseline, 3),
                "before_failure_ms": round(late, 3),
                "rise_s": b.start_s,
                "rate": round(rate, 3),
                "concurrency": round(concurrency, 3),
                "failures_s": ev.bins[start].start_s,
            },
            rows=sum(x.requests for x in ev.bins[: start + 1]),
        )
    ]
