"""--procs P: P processes share one run in one database.

Each process has its own pool of --connections sessions, its workers and its writer
(SQLite serializes the writers; ids are taken under the write lock). Process k sends
seqs k+1, k+1+P, ..., so together they send exactly what one process would, with the
same intended times under --qps. The parent runs share 0, relays stops (Ctrl-C, the
failure limit, a hook's stop()) through shared primitives, merges the children's
counters and histograms, and finishes the run row.
"""

from __future__ import annotations

import multiprocessing
import queue
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from . import store
from .config import RunConfig
from .errors import UsageError
from .hooks import Hooks, load_hooks
from .progress import Progress
from .share import Coordinator, ShareResult, _Plan, run_share
from .stats import Stats

__all__ = ["run_parallel"]

_READY_TIMEOUT_S = 60.0  # spawning imports capture afresh: seconds on a busy machine
_REPORT_EVERY_S = 0.5
_COUNTERS = ("stored_requests", "stored_failures", "dropped_failures", "lost_requests",
             "lost_failures", "stripped_bodies")  # fmt: skip


class _Shared(Coordinator):
    """A Coordinator over multiprocessing primitives, one instance in each process."""

    def __init__(self, stop: Any, failures: Any, reason: Any, events: Any, index: int) -> None:
        self._stop, self._failures, self._reason = stop, failures, reason
        self._events, self._index = events, index
        self._next_report = 0.0

    def failure(self) -> int:
        with self._failures.get_lock():
            self._failures.value += 1
            return int(self._failures.value)

    def halt(self, reason: str) -> None:
        with self._reason.get_lock():
            if not self._reason.value:
                self._reason.value = reason.encode()[:99]
        self._stop.set()

    def watch(self, plan: _Plan) -> None:
        def relay() -> None:
            while not plan.stop.is_set():
                if self._stop.wait(0.05):
                    plan.halt(self._reason.value.decode() or "stopped")
                    return

        threading.Thread(target=relay, name="capture-stop-relay", daemon=True).start()

    def report(self, stats: Stats, busy: int) -> None:
        now = time.monotonic()
        if self._index == 0 or now < self._next_report:
            return
        self._next_report = now + _REPORT_EVERY_S
        self._events.put(("progress", self._index, {**stats.export(), "busy": busy}))


def _child(
    config: RunConfig,
    db: str,
    run_id: int,
    share: tuple[int, int],
    shared: tuple[Any, Any, Any, Any, Any, Any],
) -> None:
    """A child process: set up, wait for the common start, run its share, report."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until run_share installs its handlers
    stop, failures, reason, events, go, start_at = shared
    index = share[0]
    payload: dict[str, Any]
    try:
        engine = store.open_for_write(db)
        hooks = None if config.hooks_spec is None else load_hooks(config.hooks_spec)

        def begin() -> float:  # set up: tell the parent, wait for the common start
            events.put(("ready", index, None))
            if not go.wait(_READY_TIMEOUT_S):
                raise RuntimeError("the parent never gave the start")
            return float(start_at.value)

        coordinator = _Shared(stop, failures, reason, events, index)
        result = run_share(
            config,
            engine,
            run_id,
            begin,
            hooks=hooks,
            share=share,
            coordinator=coordinator,
        )
        engine.dispose()
        payload = {
            "stats": result.stats.export(),
            "reason": result.reason,
            "aborted": result.aborted,
            "error": result.error,
        }
        payload.update({name: getattr(result, name) for name in _COUNTERS})
    except BaseException as exc:  # report, never die silently: the parent waits for us
        payload = {"fatal": f"process {index}: {type(exc).__name__}: {exc}"}
    events.put(("done", index, payload))


class _NotStarted(Exception):
    """A child process failed before the common start."""


def run_parallel(
    config: RunConfig,
    engine: Engine,
    db: str,
    run_id: int,
    *,
    hooks: Hooks | None,
    on_tick: Callable[[Progress], None] | None,
) -> ShareResult:
    """Runs config over config.procs processes; returns the merged result."""
    if hooks is not None and hooks.any and config.hooks_spec is None:
        raise UsageError("with --procs, give hooks as --hooks FILE or module (hooks_spec)")
    count = config.procs
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
    stop, failures, reason = ctx.Event(), ctx.Value("q", 0), ctx.Array("c", 100)
    events: Any = ctx.Queue()
    go, start_at = ctx.Event(), ctx.Value("d", 0.0)
    shared = (stop, failures, reason, events, go, start_at)
    children = [
        ctx.Process(target=_child, args=(config, db, run_id, (i, count), shared), daemon=True)
        for i in range(1, count)
    ]
    for child in children:
        child.start()
    finished: dict[int, dict[str, Any]] = {}
    progress: dict[int, dict[str, Any]] = {}

    def begin() -> float:
        """The parent is set up: wait until every child is, then start them all."""
        ready = 0
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while ready < len(children) and time.monotonic() < deadline:
            try:
                kind, index, payload = events.get(timeout=0.2)
            except queue.Empty:
                if any(c.exitcode is not None for c in children):
                    break  # one died before it could even report
                continue
            if kind == "ready":
                ready += 1
            elif kind == "done":
                finished[index] = payload  # failed before it was ready
                ready += 1
        if ready < len(children) or any("fatal" in p for p in finished.values()):
            causes = [p["fatal"] for p in finished.values() if "fatal" in p]
            raise _NotStarted(causes[0] if causes else "a process did not start")
        start_at.value = time.time()  # everyone starts now: spawning took a while
        go.set()
        return float(start_at.value)

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

    try:
        result = run_share(
            config,
            engine,
            run_id,
            begin,
            hooks=hooks,
            on_tick=on_tick,
            share=(0, count),
            coordinator=_Shared(stop, failures, reason, events, 0),
            extra_stats=drain,
        )
    except _NotStarted as exc:
        stop.set()  # never start a run that is missing a share: nothing was sent yet
        go.set()
        for child in children:
            child.join(timeout=5.0)
        return ShareResult(stats=Stats(), reason="failed to start", aborted=0, error=str(exc))
    wait_until = time.monotonic() + config.grace_s + 60.0
    while len(finished) < len(children) and time.monotonic() < wait_until:
        drain()
        if len(finished) < len(children):
            if not any(c.is_alive() for c in children if c.pid):
                drain()
                break
            time.sleep(0.05)
    for child in children:
        child.join(timeout=5.0)
    return _merge(result, finished, len(children))


def _merge(result: ShareResult, finished: dict[int, dict[str, Any]], children: int) -> ShareResult:
    """Adds the children's reports to the parent's result."""
    for index in range(1, children + 1):
        payload = finished.get(index)
        if payload is None or "fatal" in payload:
            cause = "ended without a report" if payload is None else payload["fatal"]
            result.error = result.error or f"process {index} {cause}"
            continue
        result.stats.merge(payload["stats"])
        other = ShareResult(
            stats=Stats(),
            reason=payload["reason"],
            aborted=payload["aborted"],
            error=payload["error"],
            **{n: payload[n] for n in _COUNTERS},
        )
        result.add(other)
    return result
