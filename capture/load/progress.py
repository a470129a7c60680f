"""What the live display is told while a run goes on."""

from __future__ import annotations

from dataclasses import dataclass

from capture.store.stats import StatsSnapshot

__all__ = ["Progress", "writer_behind"]


@dataclass(frozen=True, slots=True)
class Progress:
    """What the live display is given on every tick."""

    elapsed_s: float
    planned_s: float | None
    planned_requests: int | None
    stats: StatsSnapshot
    busy_sessions: int
    connections: int
    stopping: str | None
    # The writer's queue (this process's): its bound, what it holds, the most it held,
    # the worker-seconds spent waiting for room so far and how many workers wait now.
    queue_limit_bytes: int = 0
    queue_bytes: int = 0
    queue_peak_bytes: int = 0
    queue_wait_s: float = 0.0
    workers_waiting: int = 0


def writer_behind(wait_s: float, limit_bytes: int, waiting: int = 0) -> str | None:
    """Says that workers waited on a full writer queue, or None when none did."""
    if wait_s <= 0 and not waiting:
        return None
    text = f"writer behind: workers waited {wait_s:.1f} s on a full queue ({_mib(limit_bytes)})"
    return text + (f", {waiting} waiting now" if waiting else "")


def _mib(size: int) -> str:
    return f"{size / 1024**2:.4g} MiB"
