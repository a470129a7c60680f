"""What the live display is told while a run goes on."""

from __future__ import annotations

from dataclasses import dataclass

from .stats import StatsSnapshot

__all__ = ["Progress"]


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
