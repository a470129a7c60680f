"""What a run hands back to its caller: its status, its summary, and the progress ticks.

Data types only, so that the run layer (which fills them) and the output layer (which
prints them) both import this module and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from capture.store.stats import StatsSnapshot
from capture.store.tally import StorageTally

__all__ = ["Progress", "RunStatus", "RunSummary", "writer_behind"]


class RunStatus(StrEnum):
    """The `runs.status` values."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The outcome of a run, from the live counters cross-checked with the database."""

    run_id: int
    name: str | None
    status: RunStatus
    stop_reason: str
    duration_s: float
    sent: int
    ok: int
    failed: int
    stored: int
    aborted: int
    sockets_used: int | None  # None: not known (the database could not count them)
    connections: int
    qps_asked: float | None
    stats: StatsSnapshot
    db: str | None = None  # where it was stored, as given (path or URL)
    storage_error: str | None = None
    storage: StorageTally = field(default_factory=StorageTally)  # the writers', summed
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped(self) -> int:
        """Returns how many failures kept their requests row but no failures row."""
        return self.storage.dropped_failures

    @property
    def requests_lost(self) -> int:
        """Returns how many records got no row at all after a storage error."""
        return self.storage.lost_requests

    @property
    def failures_lost(self) -> int:
        """Returns how many lost records failed: neither in failed_total nor dropped."""
        return self.storage.lost_failures

    @property
    def rate(self) -> float:
        """Returns requests per second over the run's duration."""
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0


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
    # Here, not in output/: the run's own log note and the live display say the same.
    if wait_s <= 0 and not waiting:
        return None
    text = f"writer behind: workers waited {wait_s:.1f} s on a full queue ({_mib(limit_bytes)})"
    return text + (f", {waiting} waiting now" if waiting else "")


def _mib(size: int) -> str:
    return f"{size / 1024**2:.4g} MiB"
