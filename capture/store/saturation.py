"""Whether the client, not the service, limited a run: one rule for the live display,
the end-of-run summary and `capture summary` (README.md, "Is the client the limit?"). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CPU_BUSY_SHARE", "LAG_LIMIT_MS", "Saturation", "client_limits"]

# Python threads share one GIL, so one process cannot keep much more than one core
# busy: at 90 % of a core it is the process, not the service, that sets the pace.
CPU_BUSY_SHARE = 0.90
# A paced send this late is no longer the rate asked for (output/run_summary.LAG_WARN_MS).
LAG_LIMIT_MS = 50.0


@dataclass(frozen=True, slots=True)
class Saturation:
    """The figures the rule reads, and what it found."""

    cpu_share: float | None  # CPU seconds / (duration x processes): one core = 1.0
    reasons: tuple[str, ...]  # empty: the client kept up

    @property
    def saturated(self) -> bool:
        """Returns True when any sign says the client limited the run."""
        return bool(self.reasons)

    def advice(self, procs: int) -> str:
        """Returns what to do about it, in one line."""
        return (
            f"the client limited this run ({'; '.join(self.reasons)}): the latencies "
            f"include capture's own delay; spread the load with --procs {max(2, procs * 2)}, "
            "or use fewer workers (-w)"
        )


def client_limits(
    *,
    cpu_s: float | None,
    duration_s: float | None,
    procs: int,
    lag_p99_ms: float | None = None,
    wait_p50_ms: float | None = None,
    latency_p50_ms: float | None = None,
) -> Saturation:
    """Applies the rule to a run's figures. Returns the share of a core and the reasons.

    Saturated when the processes' mean CPU use is at least CPU_BUSY_SHARE of one core,
    when a paced run's send lag p99 passes LAG_LIMIT_MS (lag_p99_ms is None unpaced),
    or when the median pool wait is at least the median latency (workers mostly wait
    for a session: the pool, not the service, sets the pace)."""
    reasons: list[str] = []
    share = None
    if cpu_s is not None and duration_s and duration_s > 0:
        share = cpu_s / (duration_s * max(1, procs))
        if share >= CPU_BUSY_SHARE:
            each = " each" if procs > 1 else ""
            reasons.append(
                f"its process{'es' if procs > 1 else ''} kept {share:.0%} of a core{each} busy"
            )
    if lag_p99_ms is not None and lag_p99_ms > LAG_LIMIT_MS:
        reasons.append(f"send lag p99 {lag_p99_ms:.1f} ms > {LAG_LIMIT_MS:g} ms")
    if wait_p50_ms is not None and latency_p50_ms and wait_p50_ms >= latency_p50_ms:
        reasons.append(
            f"median pool wait {wait_p50_ms:.1f} ms >= median latency {latency_p50_ms:.1f} ms"
        )
    return Saturation(cpu_share=share, reasons=tuple(reasons))
