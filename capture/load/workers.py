"""One process's share of a run: its pool, its workers, its writer, its pacing.

runner.run drives one share (or, with --procs, procs.run_parallel drives several);
sent = ok + failed (+ aborted, only after a second interrupt or an expired grace period).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from types import FrameType
from typing import Any

from sqlalchemy import Engine

from capture.config import RunConfig
from capture.load.hooks import Hooks, Outcome
from capture.load.plan import Plan
from capture.load.pool import SessionPool
from capture.load.send import Sender
from capture.redact import Redactor
from capture.results import Progress, writer_behind
from capture.store.database import BUSY_TIMEOUT_MS
from capture.store.queue import RecordQueue
from capture.store.record import FailureDetail, Record, mark_hook_error
from capture.store.stats import Stats
from capture.store.tally import StorageTally
from capture.store.writer import Writer
from capture.verdict.kinds import ErrorKind

__all__ = ["Coordinator", "ShareResult", "Signals", "run_share"]

_TICK_S = 0.25
_PACED_SWITCH_S = 0.001  # GIL switch interval with --qps; no cost measured (bench/RESULTS.md)
_WRITER_FLUSH_S = 30.0  # how long a clean stop waits for the writer to drain
_ABORT_FLUSH_S = 3.0  # how long a second interrupt waits
_GIVE_UP_S = BUSY_TIMEOUT_MS / 1000 + 5.0  # then: a commit waiting on a lock ends

log = logging.getLogger("capture")


class Signals:
    """Counts SIGINT, SIGTERM and SIGHUP: the first stops the run gracefully, the second
    abandons in-flight requests. Installed only from the main thread."""

    # SIGHUP: the terminal was closed, which is a request to stop like any other
    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only count: the main thread acts on it within a poll. Acting here could deadlock
        # on a lock (a threading.Event's, a shared one) the interrupted thread holds.
        self.count += 1


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

    def add(self, other: ShareResult) -> None:
        """Adds another share's counts (its stats are merged by the caller)."""
        self.aborted += other.aborted
        self.storage += other.storage
        self.error = self.error or other.error
        self.wall_end = max(self.wall_end, other.wall_end)
        if self.reason in ("completed",) and other.reason != "completed":
            self.reason = other.reason


class Coordinator:
    """How the processes of one run stop together; the default is a run of one process."""

    def failure(self) -> int:
        """Counts one failure across the run; returns the count so far."""
        raise NotImplementedError

    def halt(self, reason: str) -> None:
        """Tells every process to stop."""

    def abort(self) -> None:
        """Tells every process to abandon its in-flight requests."""

    def watch(self, plan: Plan, abort: threading.Event) -> None:
        """Starts relaying other processes' halts to plan and their aborts to abort."""

    def unwatch(self) -> None:
        """Stops the relay started by watch()."""

    def report(self, stats: Stats, busy: int) -> None:
        """Sends this process's progress to the parent (children only)."""


class _Alone(Coordinator):
    def __init__(self) -> None:
        self._failures = itertools.count(1)

    def failure(self) -> int:
        return next(self._failures)


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
    coordinator = coordinator or _Alone()
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
        wall_start=wall_start,
        targets=config.targets,
        redactor=redactor,
        stats=stats,
        queue_bytes=config.max_queue_bytes,
    )
    plan = Plan(config, start, share)

    def halt(reason: str) -> None:
        plan.halt(reason)
        coordinator.halt(reason)

    sender = Sender(config, pool, run_id, start, hooks=hooks, stop=halt)
    busy = [False] * config.worker_count
    all_done = threading.Event()
    remaining = [config.worker_count]
    lock = threading.Lock()

    def worker(idx: int) -> None:
        try:
            _work(idx, config, plan, pool, sender, writer, busy, coordinator, halt, start, hooks)
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
    if config.qps is not None:
        # A worker whose send time has come waits for the GIL up to the switch interval
        # (5 ms by default): at 80 % of the maximum rate that was the p99 send lag.
        sys.setswitchinterval(_PACED_SWITCH_S)
    writer.start()
    abort = threading.Event()
    coordinator.watch(plan, abort)
    ticks = _Ticks(config, plan, pool, busy, stats, start, on_tick, coordinator, extra_stats)
    ticks.queue = writer.queue
    # Our handlers stay until the writer has flushed: a signal then must not kill the flush.
    with contextlib.nullcontext(signals) if signals is not None else Signals() as counted:
        try:
            for t in threads:
                t.start()
            waiting = _Waiting(counted, abort, halt, coordinator)
            aborted = _wait(config, plan, waiting, writer, all_done, busy, ticks)
            wall_end = time.time()
        finally:
            flushed = writer.close(_ABORT_FLUSH_S if plan.stop.is_set() else _WRITER_FLUSH_S)
            if not flushed and not writer.give_up(_GIVE_UP_S):
                writer.error = writer.error or "the writer did not finish in time"
            coordinator.unwatch()
            pool.close()
            sys.setswitchinterval(switch)
            if affinity is not None:
                os.sched_setaffinity(0, affinity)
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


class _Ticks:
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
        queue = self.queue or RecordQueue(0)
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


@dataclass(slots=True)
class _Waiting:
    """What the main thread watches while the workers run: signals and other processes."""

    signals: Signals
    abort: threading.Event  # set when another process of the run aborted
    halt: Callable[[str], None]
    coordinator: Coordinator
    seen: int = 0  # signals acted on

    def aborting(self) -> bool:
        """Acts on new signals (first: stop the run, second: abort it); True to abort."""
        count = self.signals.count
        if count > self.seen:
            self.seen = count
            self.halt("interrupted")
            if count >= 2:
                self.coordinator.abort()
                return True
        return self.abort.is_set()


def _wait(
    config: RunConfig,
    plan: Plan,
    waiting: _Waiting,
    writer: Writer,
    all_done: threading.Event,
    busy: list[bool],
    ticks: _Ticks,
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
    ticks(perf_counter(), last=True)
    return 0


def _work(
    idx: int,
    config: RunConfig,
    plan: Plan,
    pool: SessionPool,
    sender: Sender,
    writer: Writer,
    busy: list[bool],
    coordinator: Coordinator,
    halt: Callable[[str], None],
    start: float,
    hooks: Hooks | None,
) -> None:
    """One worker: take a job, wait for its time, borrow a session, send, hand over."""
    on_failure = hooks.on_failure if hooks is not None else None
    n_targets = len(config.targets)
    stop_after = config.stop_after_failures
    stop = plan.stop
    while True:
        job = plan.next()
        if job is None:
            return
        seq, intended = job
        if intended is not None:
            delay = intended - perf_counter()
            if delay > 0 and stop.wait(delay):
                return
        waiting = perf_counter()
        session_id = pool.take()
        waited = perf_counter() - waiting
        if stop.is_set():
            pool.give(session_id)
            return
        rec = Record(seq, idx, session_id, (seq - 1) % n_targets)
        rec.wait_s = waited
        busy[idx] = True
        try:
            sender.send(rec)
        except BaseException as exc:  # a bug must not kill the worker or lose the request
            _internal_error(rec, exc)
        finally:
            pool.give(session_id)
        if intended is not None:
            rec.lag_s = rec.start_s - (intended - start)  # includes waiting for a session
        if on_failure is not None and rec.failed:
            _call_on_failure(on_failure, rec, sender, halt)
        writer.put(rec)
        busy[idx] = False
        if rec.failed and stop_after is not None and coordinator.failure() >= stop_after:
            halt("failure limit")


def _call_on_failure(
    on_failure: Callable[[Outcome], None], rec: Record, sender: Sender, halt: Callable[[str], None]
) -> None:
    """Runs the on_failure hook; one that raises turns the record into a hook_error."""
    try:
        on_failure(sender.outcome(rec, halt))
    except Exception as exc:
        mark_hook_error(rec, exc, "on_failure")


def _internal_error(rec: Record, exc: BaseException) -> None:
    rec.failed = True
    rec.error_kind = ErrorKind.UNKNOWN.value
    detail = FailureDetail()
    detail.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}"
    detail.error_message = "".join(traceback.format_exception(exc))[-4000:]
    rec.detail = detail
