"""Whether the client, not the service, limited a run: one rule for the live display,
the end-of-run summary and `capture summary` (README.md, "Is the client the limit?"). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CPU_BUSY_SHARE", "LAG_LIMIT_MS", "Saturation", "client_limits", "pool_bound"]

# Python threads share one GIL, so one process cannot keep much more than one core
# busy, and a process whose threads queue for the GIL still spends some of its time in
# socket waits: from 80 % of a core on it is the process, not the service, that sets
# the pace (seen against nginx: 84 %, every session busy, p99 88 ms where nginx's own
# request_time never passed 1 ms).
CPU_BUSY_SHARE = 0.80
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

    def advice(self, procs: int, hosts: int = 1) -> str:
        """Returns what to do about it, in one line; procs counts the processes of all
        hosts, and the advice is per host (--procs is each host's)."""
        each = max(1, procs // max(1, hosts))
        where = " on each host" if hosts > 1 else ""
        return (
            f"the client limited this run ({'; '.join(self.reasons)}): the latencies "
            f"include capture's own delay; spread the load with --procs {max(2, each * 2)}"
            f"{where}, or use fewer workers (-w)"
        )


def client_limits(
    *,
    cpu_s: float | None,
    duration_s: float | None,
    procs: int,
    lag_p99_ms: float | None = None,
    pool_busy: bool = False,
    wait_p50_ms: float | None = None,
    latency_p50_ms: float | None = None,
) -> Saturation:
    """Applies the rule to a run's figures. Returns the share of a core and the reasons.

    Saturated when the processes' mean CPU use is at least CPU_BUSY_SHARE of one core,
    when a paced run's send lag p99 passes LAG_LIMIT_MS (lag_p99_ms is None unpaced)
    while the pool was not busy (pool_busy: see pool_bound), or when the median
    pool wait is at least the median latency (workers mostly wait for a session: the
    pool, not the service, sets the pace)."""
    reasons: list[str] = []
    share = None
    if cpu_s is not None and duration_s and duration_s > 0:
        share = cpu_s / (duration_s * max(1, procs))
        if share >= CPU_BUSY_SHARE:
            each = " each" if procs > 1 else ""
            reasons.append(
                f"its process{'es' if procs > 1 else ''} kept {share:.0%} of a core{each} busy"
            )
    # A send late because every session was busy is the pool's limit, the service's
    # latency times the connections (output/run_summary.keep_up_warning says so): only
    # a lag with sessions to spare is the client's own (CPU, the GIL).
    if lag_p99_ms is not None and lag_p99_ms > LAG_LIMIT_MS and not pool_busy:
        reasons.append(f"send lag p99 {lag_p99_ms:.1f} ms > {LAG_LIMIT_MS:g} ms, sessions free")
    if wait_p50_ms is not None and latency_p50_ms and wait_p50_ms >= latency_p50_ms:
        reasons.append(
            f"median pool wait {wait_p50_ms:.1f} ms >= median latency {latency_p50_ms:.1f} ms"
        )
    return Saturation(cpu_share=share, reasons=tuple(reasons))


def pool_bound(
    *,
    qps: float | None,
    latency_p50_ms: float | None,
    sessions: int,
    wait_p99_ms: float | None = None,
    lag_p99_ms: float | None = None,
) -> bool:
    """Returns True when the pool, not the client, explains a paced run's lag.

    By Little's law the asked rate needs qps x latency sessions busy at once: from half
    the pool on, a slower stretch of the service fills it. A lag that is mostly waiting
    for a free session is the pool's too."""
    if qps and latency_p50_ms is not None and qps * latency_p50_ms / 1000.0 >= sessions / 2:
        return True
    return bool(wait_p99_ms and lag_p99_ms and wait_p99_ms >= lag_p99_ms / 2)
