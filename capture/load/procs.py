"""--procs P: P processes share one run in one database.

Each process has its own pool of --connections sessions, its workers and its writer
(SQLite serializes the writers; ids are taken under the write lock). Process k sends
seqs k+1, k+1+P, ..., so together they send exactly what one process would, with the
same intended times under --qps. The parent runs share 0, relays stops (Ctrl-C, the
failure limit, a hook's stop()) through shared primitives, merges the children's
counters and histograms, and finishes the run row.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import resource_tracker
from typing import Any

from sqlalchemy import Engine, text

from capture.config import RunConfig
from capture.errors import UsageError
from capture.load.coordinator import Barrier
from capture.load.hooks import Hooks, load_hooks
from capture.load.shared import (
    POLL_S,
    Shared,
    State,
    lost_children,
    lost_reason,
    process_lost,
)
from capture.load.testclock import use_test_clock
from capture.load.workers import ShareResult, Signals, run_share
from capture.redact import Redactor
from capture.results import Progress
from capture.store import database as store
from capture.store.stats import CpuClock, Stats

__all__ = ["run_parallel"]

_READY_TIMEOUT_S = 60.0  # spawning imports capture afresh: seconds on a busy machine
_START_POLL_S = 0.002  # a child's wait for the common start: its first sends' lag
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Asks Linux for SIGTERM when the parent dies; ends at once if it already has."""
    if sys.platform == "linux":
        # PR_SET_PDEATHSIG fires when the *thread* that started us ends: run_parallel's
        # caller, which waits in run_parallel until we have reported. SIGTERM stops our
        # share gracefully: what was received is stored.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before prctl: nothing was sent, nothing to store
        os._exit(0)


def _child(
    config: RunConfig,
    db: str,
    run_id: int,
    share: tuple[int, int],
    shared: tuple[State, Any, int, Redactor],
) -> None:
    """A child process: set up, wait for the common start, run its share, report."""
    with Signals() as signals:
        # Blocked since the spawn (_spawn): a stop signal sent while we were importing
        # capture is pending, and is counted now instead of killing us.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, Signals.SIGNALS)
        _run_child(config, db, run_id, share, shared, signals)


def _run_child(
    config: RunConfig,
    db: str,
    run_id: int,
    share: tuple[int, int],
    shared: tuple[State, Any, int, Redactor],
    signals: Signals,
) -> None:
    """_child with its signal handlers installed."""
    state, events, parent_pid, redactor = shared
    _die_with_parent(parent_pid)
    if config.hosts is not None:
        use_test_clock()  # the parent's clock, shifted alike (a test-only hook)
    index = share[0] - config.share()[0]  # this process's number on its host
    coordinator = Shared(state, events, index, parent_pid)
    payload: dict[str, Any]
    try:
        engine = store.open_for_write(db)
        hooks = None if config.hooks_spec is None else load_hooks(config.hooks_spec)

        def stopped() -> None:  # a signal while starting stops the run before any send
            if signals.count and not state.flag.value:
                coordinator.halt("interrupted")

        def begin() -> float:  # set up: tell the parent, wait for the common start
            stopped()  # before "ready": the parent must see the halt before it starts us
            events.put(("ready", index, None))
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while not state.start_at.value:
                stopped()
                if coordinator.parent_gone() or time.monotonic() > deadline:
                    raise RuntimeError("the parent never gave the start")
                time.sleep(_START_POLL_S)
            return float(state.start_at.value)

        cpu = CpuClock(begin)
        result = run_share(
            config,
            engine,
            run_id,
            cpu.begin,
            redactor=redactor,
            hooks=hooks,
            share=share,
            coordinator=coordinator,
            signals=signals,
        )
        result.stats.add_cpu(cpu.used())  # exported with the stats: the parent sums them
        engine.dispose()
        payload = {
            "stats": result.stats.export(),
            "reason": result.reason,
            "aborted": result.aborted,
            "error": result.error,
            "storage": result.storage,  # a StorageTally: pickled whole through the queue
            # The run's duration spans every process: its sending, not the parent's alone.
            "wall_start": result.wall_start,
            "wall_end": result.wall_end,
            "queue_wait_s": result.queue_wait_s,
        }
    except BaseException as exc:  # report, never die silently: the parent waits for us
        payload = {"fatal": f"process {index}: {type(exc).__name__}: {exc}"}
    _report(events, ("done", index, payload), coordinator.parent_gone)


def _report(events: Any, message: tuple[str, int, Any], parent_gone: Callable[[], bool]) -> None:
    """Sends the last message to the parent; gives up if the parent dies meanwhile."""
    if parent_gone():
        events.cancel_join_thread()  # our rows are stored: the run shows as crashed
        return
    events.put(message)
    events.close()
    # The queue's feeder thread writes to a pipe; with the parent gone nobody reads it
    # and the write (and the join at exit) would block for ever.
    flusher = threading.Thread(target=events.join_thread, name="capture-report", daemon=True)
    flusher.start()
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while flusher.is_alive() and time.monotonic() < deadline:
        flusher.join(POLL_S)
        if parent_gone():
            break
    events.cancel_join_thread()


class _NotStarted(Exception):
    """A child process failed before the common start."""


def run_parallel(
    config: RunConfig,
    engine: Engine,
    db: str,
    run_id: int,
    *,
    redactor: Redactor,
    hooks: Hooks | None,
    on_tick: Callable[[Progress], None] | None,
    barrier: Barrier | None = None,
) -> ShareResult:
    """Runs config over config.procs processes; returns the merged result.

    Every child gets the run's redactor (pickled, its key with it), not one of its own.
    barrier (a --hosts run) is called once every process is ready, and returns the start:
    the other hosts' processes start then too."""
    if hooks is not None and hooks.any and config.hooks_spec is None:
        raise UsageError("with --procs, give hooks as --hooks FILE or module (hooks_spec)")
    with Signals() as signals:  # from the start: a signal to the parent alone stops all
        return _run_parallel(config, engine, db, run_id, redactor, hooks, on_tick, signals, barrier)


def _run_parallel(
    config: RunConfig,
    engine: Engine,
    db: str,
    run_id: int,
    redactor: Redactor,
    hooks: Hooks | None,
    on_tick: Callable[[Progress], None] | None,
    signals: Signals,
    barrier: Barrier | None,
) -> ShareResult:
    """run_parallel with the parent's signal handlers installed."""
    count = config.procs
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
    state = State.create(ctx)
    events: Any = ctx.Queue()
    shared = (state, events, os.getpid(), redactor)
    children = [
        ctx.Process(target=_child, args=(config, db, run_id, config.share(i), shared), daemon=True)
        for i in range(1, count)
    ]
    _spawn(children)
    coordinator = Shared(state, events, 0, 0)
    coordinator.children = children
    finished: dict[int, dict[str, Any]] = {}
    progress: dict[int, dict[str, Any]] = {}

    def begin() -> float:
        """The parent is set up: wait until every child is, then start them all."""
        ready: set[int] = set()
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while len(ready) < len(children) and time.monotonic() < deadline:
            if signals.count:
                coordinator.halt("interrupted")
            if state.flag.value or lost_children(children):
                break  # stopped, or a process lost, while starting: start now, send nothing
            try:
                kind, index, payload = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if kind == "done":  # it failed before it was ready
                finished[index] = payload
            if kind in ("ready", "done"):
                ready.add(index)
        if signals.count:  # also one that came as the last child got ready
            coordinator.halt("interrupted")
        causes = [p["fatal"] for p in finished.values() if "fatal" in p]
        if causes:
            raise _NotStarted(causes[0])
        if lost := lost_children(children):
            coordinator.halt(lost_reason(lost[0]))  # every watch relays it before a send
        elif len(ready) < len(children) and not state.flag.value:
            raise _NotStarted("a process did not start")
        if barrier is None or state.flag.value:
            state.start_at.value = time.time()  # everyone starts now: spawning took a while
            return float(state.start_at.value)
        try:
            state.start_at.value = barrier(coordinator, lambda: bool(signals.count))
        except BaseException:
            coordinator.halt("failed to start")  # the children start, stopped: none sent
            state.start_at.value = time.time()
            for child in children:
                child.join(timeout=5.0)
            raise
        return float(state.start_at.value)

    def drain() -> list[dict[str, Any]]:
        while True:
            try:
                kind, index, payload = events.get_nowait()
            except queue.Empty:
                return list(progress.values())
            if kind == "progress":
                progress[index] = payload
            elif kind == "done":
                finished[index] = payload

    cpu = CpuClock(begin)
    try:
        result = run_share(
            config,
            engine,
            run_id,
            cpu.begin,
            redactor=redactor,
            hooks=hooks,
            on_tick=on_tick,
            share=config.share(0),
            coordinator=coordinator,
            extra_stats=drain,
            signals=signals,
        )
    except _NotStarted as exc:
        coordinator.halt("failed to start")  # never start a run missing a share: none sent
        state.start_at.value = time.time()
        for child in children:
            child.join(timeout=5.0)
        return ShareResult(stats=Stats(), reason="failed to start", aborted=0, error=str(exc))
    result.stats.add_cpu(cpu.used())  # our share's; the children's come in their reports
    _await_children(config, children, finished, drain, signals, coordinator)
    return _merge(
        result,
        finished,
        children,
        lambda i: _lost_text(engine, run_id, config.share(i), children[i - 1], i),
    )


def _await_children(
    config: RunConfig,
    children: list[Any],
    finished: dict[int, dict[str, Any]],
    drain: Callable[[], object],
    signals: Signals,
    coordinator: Shared,
) -> None:
    """Waits for every child's report, passing on signals: a second one aborts them."""
    wait_until = time.monotonic() + config.grace_s + 60.0
    while len(finished) < len(children) and time.monotonic() < wait_until:
        if signals.count:
            coordinator.halt("interrupted")
        if signals.count >= 2:
            coordinator.abort()
        drain()
        if len(finished) < len(children):
            if not any(c.is_alive() for c in children if c.pid):
                drain()
                break
            time.sleep(POLL_S)
    for child in children:
        child.join(timeout=5.0)


def _merge(
    result: ShareResult,
    finished: dict[int, dict[str, Any]],
    children: list[Any],
    lost_text: Callable[[int], str],
) -> ShareResult:
    """Adds the children's reports to the parent's result; a child without one was lost."""
    for index in range(1, len(children) + 1):
        payload = finished.get(index)
        if payload is None:
            if not process_lost(result.reason):  # even if our share had ended by then
                result.reason = lost_reason(index)
            result.error = result.error or lost_text(index)
            continue
        if "fatal" in payload:
            result.error = result.error or payload["fatal"]
            continue
        result.stats.merge(payload["stats"])
        other = ShareResult(
            stats=Stats(),
            reason=payload["reason"],
            aborted=payload["aborted"],
            error=payload["error"],
            storage=payload["storage"],
            wall_start=payload["wall_start"],
            wall_end=payload["wall_end"],
            queue_wait_s=payload["queue_wait_s"],
        )
        result.add(other)
    return result


def _spawn(children: list[Any]) -> None:
    """Starts the children with the stop signals blocked, as the resource tracker is.

    A child imports capture afresh before any of our code runs in it (seconds on a busy
    machine); the mask is inherited, so a SIGTERM meanwhile stays pending until _child
    has its handlers, and stops the run instead of killing the child."""
    resource_tracker.ensure_running()  # starting it later would unblock the signals
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, Signals.SIGNALS)
    try:
        for child in children:
            child.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _lost_text(
    engine: Engine, run_id: int, share: tuple[int, int], child: Any, process: int
) -> str:
    """Says in one line which process was lost, how, and what it had stored."""
    index, count = share
    code = child.exitcode
    if code is not None and code < 0:
        how = f"killed by {_signal_name(-code)}"
    else:
        how = "ended without a report" if not code else f"exited with code {code}"
    with engine.connect() as conn:  # its committed rows: process k sent seqs k+1, k+1+P, ...
        rows, failed = conn.execute(
            text(
                "select count(*), coalesce(sum(failed), 0) from requests"
                " where run_id = :run and (seq - 1) % :count = :index"
            ),
            {"run": run_id, "count": count, "index": index},
        ).one()
    return (
        f"process {process} was lost ({how}); it had stored {rows} requests ({failed} failed)"
        ", and what it had not stored is gone"
    )


def _signal_name(number: int) -> str:
    """Returns a signal's name (SIGKILL), or its number if it has none."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
