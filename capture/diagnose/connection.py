"""Detector 1b: failures on reused connections right after an idle gap (an idle-timeout
race: the server closes a connection it thinks idle just as the client reuses it)."""

from __future__ import annotations

from capture.diagnose.model import Finding, RunEvidence
from capture.diagnose.stats import MIN_ROWS, concentrated, median, percent, rank

__all__ = ["idle_gaps"]

GAP_RANK = 5  # the threshold: the 5th percentile of the failed requests' gaps


def idle_gaps(ev: RunEvidence) -> list[Finding]:
    """Fires when reused requests that followed an idle gap of at least g fail far more
    often than reused requests after shorter gaps, g being the 5th percentile of the
    failed ones' gaps (stats.concentrated, over reused requests)."""
    failed_gaps = sorted(gap for gap, rid in ev.gaps if rid)
    if len(failed_gaps) < MIN_ROWS:
        return []
    threshold = rank(failed_gaps, GAP_RANK)
    assert threshold is not None
    n_in = sum(1 for gap, _ in ev.gaps if gap >= threshold)
    hit = [rid for gap, rid in ev.gaps if rid and gap >= threshold]
    if not concentrated(len(hit), n_in, len(failed_gaps), len(ev.gaps)) or threshold <= 0:
        return []
    if len(hit) / ev.failed < 0.2:
        return []
    shorter = sorted(gap for gap, rid in ev.gaps if not rid and gap < threshold)
    longest_ok = shorter[-1] if shorter else None
    n_out, f_out = len(ev.gaps) - n_in, len(failed_gaps) - len(hit)
    sentence = (
        f"reused connections after an idle gap: {percent(len(hit), ev.failed)} of the failures "
        f"({len(hit)} of {ev.failed}) were sent on a connection idle for {_s(threshold)} or "
        f"more, where {percent(len(hit), n_in)} of {n_in} such requests failed against "
        f"{percent(f_out, n_out)} after shorter gaps: the server (or a proxy) closes idle "
        f"connections after about {_s(threshold)} while the client reuses them"
    )
    by_id = {f.id: f for f in ev.failures}
    kinds = sorted({k for rid in hit if (k := by_id[rid].error_kind) is not None})
    return [
        Finding(
            "idle_gap",
            sentence,
            frozenset(hit),
            ev.failed,
            {
                "columns": [
                    "idle gap before the request",
                    "reused requests",
                    "failed",
                    "failure rate",
                    "median gap",
                ],
                "rows": [
                    [
                        f">= {_s(threshold)}",
                        n_in,
                        len(hit),
                        percent(len(hit), n_in),
                        _s(median([g for g, _ in ev.gaps if g >= threshold]) or 0.0),
                    ],
                    [
                        f"< {_s(threshold)}",
                        n_out,
                        f_out,
                        percent(f_out, n_out),
                        _s(median(shorter) or 0.0),
                    ],
                ],
            },
            ("--error", ",".join(kinds)) if kinds else (),
            {"idle_gap_ms": round(threshold, 3), "longest_ok_gap_ms": longest_ok},
            rows=len(ev.gaps),
        )
    ]


def _s(ms: float) -> str:
    """Returns a gap as '850 ms' or '2.5 s'."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.3g} s"
