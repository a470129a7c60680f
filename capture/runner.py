"""Drive a run: workers, pacing, stop conditions, signals, and the final accounting.

sent = ok + failed (+ aborted, only after a second interrupt or an expired grace period).
"""

from __future__ import annotations

import itertools
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from time import perf_counter
from types import FrameType
from typing import Any

from sqlalchemy import Engine

from . import store
from .config import RunConfig
from .exchange import Sender
from .hooks import Hooks, Outcome
from .pool import SessionPool
from .record import FailureDetail, Record, mark_hook_error
from .redact import Redactor
from .stats import Stats, StatsSnapshot
from .writer import Writer

__all__ = ["Progress", "RunStatus", "RunSummary", "run"]

_TICK_S = 0.25
_WRITER_FLUSH_S = 30.0  # how long a clean stop waits for the writer to drain
_ABORT_FLUSH_S = 3.0  # how long a second interrupt waits
_GIVE_UP_S = store.BUSY_TIMEOUT_MS / 1000 + 5.0  # then: a commit waiting on a lock ends

log = logging.getLogger("capture")


class RunStatus(StrEnum):
    """The `runs.status` values."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    FAILED = "failed"


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
    dropped: int
    aborted: int
    sockets_used: int
    connections: int
    qps_asked: float | None
    stats: StatsSnapshot
    db: str | None = None  # where it was stored, as given (path or URL)
    storage_error: str | None = None
    requests_lost: int = 0  # records that got no row at all after a storage error
    failures_lost: int = 0  # of those, failed: neither counted in failed_total nor dropped
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Returns requests per second over the run's duration."""
        return self.sent / self.duration_s if self.duration_s > 0 else 0.0


class _Plan:
    """Hands out sequence numbers and intended send times until a stop condition holds."""

    def __init__(self, config: RunConfig, start: float) -> None:
        self._seq = itertools.count(1)  # next() on a count is atomic in CPython
        self._limit = config.requests
        self._start = start
        self._end = None if config.duration_s is None else start + config.duration_s
        self._interval = None if config.qps is None else 1.0 / config.qps
        self.stop = threading.Event()
        self.reason = "completed"

    def next(self) -> tuple[int, float | None] | None:
        """Returns (seq, intended start or None), or None when the run must end."""
        seq = next(self._seq)
        if self.stop.is_set() or (self._limit is not None and seq > self._limit):
            return None
        if self._interval is not None:
            intended = self._start + (seq - 1) * self._interval
            if self._end is not None and intended >= self._end:
                return None
            return seq, intended
        if self._end is not None and perf_counter() >= self._end:
            return None
        return seq, None

    def halt(self, reason: str) -> None:
        """Stops handing out work; the first reason given wins."""
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()


class _Signals:
    """First SIGINT/SIGTERM: stop gracefully. Second: abandon in-flight requests."""

    def __init__(self, plan: _Plan) -> None:
        self._plan = plan
        self.abort = threading.Event()
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._plan.stop.is_set() and self._plan.reason == "interrupted":
            self.abort.set()
        self._plan.halt("interrupted")


def run(
    config: RunConfig,
    engine: Engine,
    *,
    hooks: Hooks | None = None,
    on_tick: Callable[[Progress], None] | None = None,
    db: str | None = None,
) -> RunSummary:
    """Runs the load described by config, storing into engine. Returns the summary."""
    redactor = Redactor(keep_secrets=config.keep_secrets, key=config.redaction_key)
    run_id = store.create_run(
        engine,
        name=config.name,
        command_line=config.command_line,
        config_json=config.to_json(redactor.value),
        qps=config.qps,
    )
    pool = SessionPool(
        config.connections,
        trust_env=config.trust_env,
        insecure=config.insecure,
        keep_cookies=config.keep_cookies,
    )
    stats = Stats()
    wall_start, start = time.time(), perf_counter()
    writer = Writer(
        engine,
        run_id,
        wall_start=wall_start,
        targets=config.targets,
        redactor=redactor,
        stats=stats,
    )
    plan = _Plan(config, start)
    hooks = hooks if hooks is not None and hooks.any else None
    sender = Sender(config, pool, run_id, start, hooks=hooks, stop=plan.halt)
    busy = [False] * config.worker_count
    failures = itertools.count(1)
    all_done = threading.Event()
    remaining = [config.worker_count]
    lock = threading.Lock()

    def worker(idx: int) -> None:
        try:
            _work(idx, config, plan, pool, sender, writer, busy, failures, start, hooks)
        finally:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    all_done.set()

    threads = [
        threading.Thread(target=worker, args=(i,), name=f"capture-worker-{i}", daemon=True)
        for i in range(config.worker_count)
    ]
    writer.start()
    with _Signals(plan) as signals:
        for t in threads:
            t.start()
        aborted = _wait(config, plan, signals, writer, all_done, busy, pool, stats, start, on_tick)
    duration = perf_counter() - start
    flushed = writer.close(_ABORT_FLUSH_S if aborted else _WRITER_FLUSH_S)
    if not flushed and not writer.give_up(_GIVE_UP_S):
        writer.error = writer.error or "the writer did not finish in time"
    if writer.error:
        status = RunStatus.FAILED
    elif plan.reason == "interrupted":
        status = RunStatus.INTERRUPTED
    else:
        status = RunStatus.COMPLETED
    try:
        totals = store.finish_run(
            engine,
            run_id,
            status=status.value,
            duration_s=duration,
            dropped=writer.dropped_failures,
            aborted=aborted,
        )
    finally:
        pool.close()
    storage_error = None
    if writer.error:
        storage_error = _storage_message(writer, run_id)
        log.error("capture: error: %s", storage_error)
    wal_left = store.checkpoint(engine)
    if wal_left:
        log.warning(
            "capture: note: %s; keep that file with the database: the next run or "
            "`capture db upgrade` folds it back",
            wal_left,
        )
    snapshot = stats.snapshot()
    return RunSummary(
        run_id=run_id,
        name=config.name,
        status=status,
        stop_reason=plan.reason,
        duration_s=duration,
        sent=snapshot.sent + aborted,
        ok=snapshot.ok,
        failed=snapshot.failed,
        stored=totals["failures_stored"],
        dropped=writer.dropped_failures,
        aborted=aborted,
        sockets_used=totals["sockets_used"],
        connections=config.connections,
        qps_asked=config.qps,
        stats=snapshot,
        db=db,
        storage_error=storage_error,
        requests_lost=writer.lost_requests,
        failures_lost=writer.lost_failures,
    )


def _storage_message(writer: Writer, run_id: int) -> str:
    """Says what a storage error cost, in one line (the disk-full rule in README.md)."""
    not_stored = writer.dropped_failures + writer.lost_failures
    return (
        f"run {run_id} failed: {writer.error}; sending stopped; "
        f"{not_stored} failures not stored ({writer.dropped_failures} of them kept a "
        f"requests row), {writer.lost_requests} requests got no row at all, "
        f"{writer.stripped_bodies} failures stored without bodies"
    )


def _wait(
    config: RunConfig,
    plan: _Plan,
    signals: _Signals,
    writer: Writer,
    all_done: threading.Event,
    busy: list[bool],
    pool: SessionPool,
    stats: Stats,
    start: float,
    on_tick: Callable[[Progress], None] | None,
) -> int:
    """Waits for the workers; returns how many in-flight requests were abandoned."""
    grace_until: float | None = None
    next_tick = 0.0
    while not all_done.wait(0.05):
        now = perf_counter()
        if writer.error:
            plan.halt("storage error")
        if plan.stop.is_set() and grace_until is None:
            grace_until = now + config.grace_s
        if signals.abort.is_set() or (grace_until is not None and now > grace_until):
            return sum(busy)
        if on_tick is not None and now >= next_tick:
            next_tick = now + _TICK_S
            on_tick(_progress(config, plan, pool, busy, stats, now - start))
    if on_tick is not None:
        on_tick(_progress(config, plan, pool, busy, stats, perf_counter() - start))
    return 0


def _progress(
    config: RunConfig,
    plan: _Plan,
    pool: SessionPool,
    busy: list[bool],
    stats: Stats,
    elapsed: float,
) -> Progress:
    return Progress(
        elapsed_s=elapsed,
        planned_s=config.duration_s,
        planned_requests=config.requests,
        stats=stats.snapshot(),
        busy_sessions=min(sum(busy), config.connections),
        connections=config.connections,
        stopping=plan.reason if plan.stop.is_set() else None,
    )


def _work(
    idx: int,
    config: RunConfig,
    plan: _Plan,
    pool: SessionPool,
    sender: Sender,
    writer: Writer,
    busy: list[bool],
    failures: itertools.count[int],
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
            _call_on_failure(on_failure, rec, sender, plan)
        writer.put(rec)
        busy[idx] = False
        if rec.failed and stop_after is not None and next(failures) >= stop_after:
            plan.halt("failure limit")


def _call_on_failure(
    on_failure: Callable[[Outcome], None], rec: Record, sender: Sender, plan: _Plan
) -> None:
    """Runs the on_failure hook; one that raises turns the record into a hook_error."""
    try:
        on_failure(sender.outcome(rec, plan.halt))
    except Exception as exc:
        mark_hook_error(rec, exc, "on_failure")


def _internal_error(rec: Record, exc: BaseException) -> None:
    rec.failed = True
    rec.error_kind = "unknown"
    detail = FailureDetail()
    detail.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}"
    detail.error_message = "".join(traceback.format_exception(exc))[-4000:]
    rec.detail = detail
