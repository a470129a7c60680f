"""The run's ticks: progress for the live display and, in a child process, for the parent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from capture.config import RunConfig
from capture.load.coordinator import Coordinator
from capture.load.plan import Plan
from capture.load.pool import SessionPool
from capture.results import Progress
from capture.store.queue import RecordQueue
from capture.store.stats import Stats

__all__ = ["Ticks"]

_TICK_S = 0.25


class Ticks:
    """Feeds the live display, and (in a child process) the parent's progress."""

    def __init__(
        self,
        config: RunConfig,
        plan: Plan,
        pool: SessionPool,
        busy: list[bool],
        stats: Stats,
        start: float,
        on_tick: Callable[[Progress], None] | None,
        coordinator: Coordinator,
        extra_stats: Callable[[], list[dict[str, Any]]] | None,
    ) -> None:
        self._config, self._plan, self._pool, self._busy = config, plan, pool, busy
        self._stats, self._start, self._on_tick = stats, start, on_tick
        self._coordinator, self._extra = coordinator, extra_stats
        self._next = 0.0
        self.queue: RecordQueue | None = None  # the writer's, shown when workers wait on it

    def __call__(self, now: float, *, last: bool = False) -> None:
        if now < self._next and not last:
            return
        self._next = now + _TICK_S
        self._coordinator.report(self._stats, sum(self._busy))
        if self._on_tick is None:
            return
        stats = self._stats
        busy = min(sum(self._busy), self._config.connections)
        if self._extra is not None:  # other processes' latest counts, merged into a copy
            stats = Stats()
            stats.merge(self._stats.export())
            for payload in self._extra():
                stats.merge(payload)
                busy += min(int(payload.get("busy", 0)), self._config.connections)
        config = self._config
        # not `or`: an empty queue has len 0, and its bound and peak must still show
        queue = self.queue if self.queue is not None else RecordQueue(0)
        self._on_tick(
            Progress(
                elapsed_s=now - self._start,
                planned_s=config.duration_s,
                planned_requests=config.requests,
                stats=stats.snapshot(),
                busy_sessions=busy,
                connections=config.connections * config.procs,
                stopping=self._plan.reason if self._plan.stop.is_set() else None,
                queue_limit_bytes=queue.max_bytes,
                queue_bytes=queue.held_bytes,
                queue_peak_bytes=queue.peak_bytes,
                queue_wait_s=queue.wait_s,
                workers_waiting=queue.waiting,
            )
        )
