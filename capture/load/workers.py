"""One process's share of a run: its pool, its workers, its writer, its pacing.

runner.run drives one share (or, with --procs, procs.run_parallel drives several);
sent = ok + failed (+ aborted, only after a second interrupt or an expired grace period).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from sqlalchemy import Engine

from capture.config import RunConfig
from capture.load.coordinator import Alone, Coordinator
from capture.load.hooks import Hooks
from capture.load.loop import work
from capture.load.plan import Plan
from capture.load.pool import SessionPool
from capture.load.send import Sender
from capture.load.signals import Signals, Waiting
from capture.load.ticks import Ticks
from capture.redact import Redactor
from capture.results import Progress, writer_behind
from capture.store import database as store
from capture.store.database import BUSY_TIMEOUT_MS
from capture.store.record import Identity
from capture.store.stats import Stats
from capture.store.tally import StorageTally
from capture.store.writer import Writer

__all__ = ["Coordinator", "ShareResult", "Signals", "run_share"]

_PACED_SWITCH_S = 0.001  # GIL switch interval with --qps; no cost measured (bench/RESULTS.md)
_WRITER_FLUSH_S = 30.0  # how long a clean stop waits for the writer to drain
_ABORT_FLUSH_S = 3.0  # how long a second interrupt waits
_GIVE_UP_S = BUSY_TIMEOUT_MS / 1000 + 5.0  # then: a commit waiting on a lock ends

log = logging.getLogger("capture")


@dataclass(slots=True)
class ShareResult:
    """What one process's share of a run produced (the whole run with --procs 1)."""

    stats: Stats
    reason: str
    aborted: int
    wall_start: float = 0.0  # when sending started (after --procs children were ready)
    wall_end: float = 0.0  # when the last request of the share finished
    storage: StorageTally = field(default_factory=StorageTally)  # the writer's, whole
    error: str | None = None
    queue_wait_s: float = 0.0  # worker-seconds spent waiting for room in the writer's queue

    def add(self, other: ShareResult) -> None:
        """Adds another share's counts (its stats are merged by the caller)."""
        self.aborted += other.aborted
        self.queue_wait_s += other.queue_wait_s
        self.storage += other.storage
        self.error = self.error or other.error
        self.wall_end = max(self.wall_end, other.wall_end)
        if self.reason in ("completed",) and other.reason != "completed":
            self.reason = other.reason


def run_share(
    config: RunConfig,
    engine: Engine,
    run_id: int,
    begin: Callable[[], float] = time.time,
    *,
    redactor: Redactor,
    hooks: Hooks | None = None,
    on_tick: Callable[[Progress], None] | None = None,
    share: tuple[int, int] = (0, 1),
    coordinator: Coordinator | None = None,
    extra_stats: Callable[[], list[dict[str, Any]]] | None = None,
    signals: Signals | None = None,
) -> ShareResult:
    """Runs this process's share of a run: its pool, workers and writer.

    begin() is called once everything slow is set up and returns the wall-clock time
    the run starts (with --procs: the moment common to all processes). The schedule of
    --qps counts from there, so set-up never shows as send lag on the first requests.
    Signals are counted by signals (installed by the caller), else by our own handlers.
    redactor is the run's one Redactor (runner.run builds it), so a secret stored by any
    share redacts to the same text as in the run's row.
    """
    coordinator = coordinator or Alone()
    run_key = store.run_key(engine, run_id)  # the parent's, read by every process
    pool = SessionPool(
        config.connections,
        trust_env=config.trust_env,
        insecure=config.insecure,
        keep_cookies=config.keep_cookies,
    )
    stats = Stats()
    hooks = hooks if hooks is not None and hooks.any else None
    # Start-up left ~10^5 long-lived objects (SQLAlchemy, requests); a full collection
    # walking them mid-run held the GIL for tens of ms and showed as send lag.
    gc.collect()
    gc.freeze()
    try:
        wall_start = begin()
    except BaseException:
        pool.close()
        raise
    start = perf_counter() - (time.time() - wall_start)  # the run's start on this clock
    writer = Writer(
        engine,
        run_id,
        # A --hosts run stores its times on the database's clock: the hosts' rows line up
        # even when their own clocks disagree. Lag and latency are measured here, locally.
        wall_start=wall_start + config.clock_offset_s,
        targets=config.targets,
        redactor=redactor,
        stats=stats,
        identity=Identity.of(share, config.connections, procs=config.procs),
        queue_bytes=config.max_queue_bytes,
    )
    plan = Plan(config, start, share)

    def halt(reason: str) -> None:
        plan.halt(reason)
        coordinator.halt(reason)

    writer.on_error = lambda: halt("storage error")  # before a failed batch frees room
    sender = Sender(config, pool, run_id, start, hooks=hooks, stop=halt, run_key=run_key)
    busy = [False] * config.worker_count
    all_done = threading.Event()
    remaining = [config.worker_count]
    lock = threading.Lock()

    def worker(idx: int) -> None:
        try:
            work(idx, config, plan, pool, sender, writer, busy, coordinator, halt, start, hooks)
        finally:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    all_done.set()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"capture-worker-{i}", daemon=True)
        for i in range(config.worker_count)
    ]
    affinity = _pin(share[0]) if config.pin_cpu else None
    switch = sys.getswitchinterval()
    if config.paced:
        # A worker whose send time has come waits for the GIL up to the switch interval
        # (5 ms by default): at 80 % of the maximum rate that was the p99 send lag.
        sys.setswitchinterval(_PACED_SWITCH_S)
    writer.start()
    abort = threading.Event()
    coordinator.watch(plan, abort)
    ticks = Ticks(config, plan, pool, busy, stats, start, on_tick, coordinator, extra_stats)
    ticks.queue = writer.queue
    # Our handlers stay until the writer has flushed: a signal then must not kill the flush.
    with contextlib.nullcontext(signals) if signals is not None else Signals() as counted:
        try:
            for t in threads:
                t.start()
            waiting = Waiting(counted, abort, halt, coordinator)
            aborted = _wait(config, plan, waiting, writer, all_done, busy, ticks)
            wall_end = time.time()
        finally:
            flushed = writer.close(_ABORT_FLUSH_S if plan.stop.is_set() else _WRITER_FLUSH_S)
            if not flushed and not writer.give_up(_GIVE_UP_S):
                writer.error = writer.error or "the writer did not finish in time"
            coordinator.unwatch()
            sender.close()
            pool.close()
            sys.setswitchinterval(switch)
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
    # The last tick comes once the writer has counted every record: before, it showed
    # the counts of whatever the writer had taken so far (0 of a quick run).
    ticks(perf_counter(), last=True)
    queue = writer.queue
    if behind := writer_behind(queue.wait_s, queue.max_bytes):
        log.warning("capture: note: %s; see --max-queue", behind)
    return ShareResult(
        stats=stats,
        reason=plan.reason,
        aborted=aborted,
        wall_start=wall_start,
        wall_end=wall_end,
        storage=writer.tally,
        error=writer.error,
        queue_wait_s=queue.wait_s,
    )


def _pin(index: int) -> set[int] | None:
    """Pins this process to one of its CPUs (the index-th); returns the previous set.

    All of a process's threads share one GIL. Left free, the scheduler spreads them over
    cores and every hand-off of the GIL crosses cores: on the 2-core bench machine one
    process made ~2,450 req/s unpinned and ~4,300 pinned (bench/RESULTS.md). A second
    core serves better as a second process (--procs).
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None
    os.sched_setaffinity(0, {allowed[index % len(allowed)]})
    return set(allowed)


def _wait(
    config: RunConfig,
    plan: Plan,
    waiting: Waiting,
    writer: Writer,
    all_done: threading.Event,
    busy: list[bool],
    ticks: Ticks,
) -> int:
    """Waits for the workers; returns how many in-flight requests were abandoned."""
    grace_until: float | None = None
    while not all_done.wait(0.05):
        now = perf_counter()
        if writer.error:
            waiting.halt("storage error")
        aborting = waiting.aborting()
        if plan.stop.is_set() and grace_until is None:
            grace_until = now + config.grace_s
        if aborting or (grace_until is not None and now > grace_until):
            return sum(busy)
        ticks(now)
    return 0
