"""The worker loop: take a job, wait for its time, borrow a session, send, hand the record over."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from time import perf_counter

from capture.config import RunConfig
from capture.load.coordinator import Coordinator
from capture.load.hooks import Hooks, Outcome
from capture.load.plan import Plan
from capture.load.pool import SessionPool
from capture.load.send import Sender
from capture.store.record import FailureDetail, Record, mark_hook_error
from capture.store.writer import Writer
from capture.verdict.kinds import ErrorKind

__all__ = ["work"]


def work(
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
    # A process of --procs sends every procs-th seq: (seq - 1) % n_targets would give it
    # only some targets when procs and the targets share a factor (two processes, two
    # URLs: one URL each), so a process's trouble would read as a URL's. Each process
    # goes round all the targets instead; overall they are still sent in equal shares.
    # The shares of a --hosts run count over every host's processes.
    stride = config.share()[1]
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
        turn, process = divmod(seq - 1, stride)
        rec = Record(seq, idx, session_id, (turn + process) % n_targets)
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
    except BaseException as exc:  # a hook's sys.exit() too: its failure
        mark_hook_error(rec, exc, "on_failure")


def _internal_error(rec: Record, exc: BaseException) -> None:
    rec.failed = True
    rec.error_kind = ErrorKind.UNKNOWN.value
    detail = FailureDetail()
    detail.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}"
    detail.error_message = "".join(traceback.format_exception(exc))[-4000:]
    rec.detail = detail
