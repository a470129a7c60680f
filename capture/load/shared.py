"""The shared memory of one --procs run, and the Coordinator over it in each process."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from capture.load.coordinator import Coordinator
from capture.load.plan import Plan
from capture.store.stats import Stats

__all__ = ["POLL_S", "Shared", "State", "lost_children", "lost_reason", "process_lost"]

_REPORT_EVERY_S = 0.5
POLL_S = 0.05  # how often each process looks at the shared state and its parent
_LOCK_TIMEOUT_S = 1.0  # the shared lock is held for microseconds: longer means its holder died
_RUNNING, _HALTED, _ABORTED = 0, 1, 2
_LOST = "lost process"  # the stop reason of a run one of whose processes was killed


def process_lost(reason: str) -> bool:
    """True when a run's stop reason says one of its processes was lost (killed)."""
    return reason.startswith(_LOST)


def lost_reason(index: int) -> str:
    """Returns the stop reason of a run whose process index was lost."""
    return f"{_LOST} {index}"


def lost_children(children: list[Any]) -> list[int]:
    """Returns the indexes of the children that have died (killed, or crashed)."""
    return [i for i, c in enumerate(children, 1) if c.exitcode not in (None, 0)]


class Shared(Coordinator):
    """A Coordinator over shared memory, one instance in each process.

    The state is plain shared memory polled every POLL_S, written under one lock taken
    with a timeout: a multiprocessing Event or a lock held by a process that was killed
    (a parent killed inside Event.wait leaves its Condition waiting for a wake-up it will
    never acknowledge) would block the survivors for ever.
    """

    def __init__(self, state: State, events: Any, index: int, parent_pid: int) -> None:
        self._state, self._events, self._index = state, events, index
        self._parent_pid = parent_pid  # 0 in the parent
        self._next_report = 0.0
        self._done = threading.Event()
        self.children: list[Any] = []  # the parent's child processes
        self.orphaned = False

    def failure(self) -> int:
        with locked(self._state.lock):
            self._state.failures.value += 1
            return int(self._state.failures.value)

    def failures(self) -> int:
        return int(self._state.failures.value)

    def halt(self, reason: str) -> None:
        self._raise(_HALTED, reason)

    def abort(self) -> None:
        self._raise(_ABORTED, "interrupted")

    def _raise(self, level: int, reason: str) -> None:
        with locked(self._state.lock):
            if not self._state.reason.value:
                self._state.reason.value = reason.encode()[:99]
            self._state.flag.value = max(self._state.flag.value, level)

    def parent_gone(self) -> bool:
        """True in a child whose parent has died (it was reparented, or its pipe closed)."""
        if not self._parent_pid:
            return False
        parent = multiprocessing.parent_process()
        return os.getppid() != self._parent_pid or (parent is not None and not parent.is_alive())

    def watch(self, plan: Plan, abort: threading.Event) -> None:
        self._done.clear()
        self._relay(plan, abort)  # once now: a stop given before the start sends nothing

        def relay() -> None:
            while not self._done.wait(POLL_S) and self._relay(plan, abort):
                pass

        threading.Thread(target=relay, name="capture-stop-relay", daemon=True).start()

    def unwatch(self) -> None:
        self._done.set()

    def _relay(self, plan: Plan, abort: threading.Event) -> bool:
        """Passes the run's state on to plan and abort; returns False when nothing is left."""
        if self.parent_gone():
            self.orphaned = True
            # nobody reads the queue any more: exiting must not wait to flush it
            self._events.cancel_join_thread()
            plan.halt("interrupted")
            return False
        if lost := lost_children(
            self.children
        ):  # killed: its share is lost, the run cannot complete
            self.halt(lost_reason(lost[0]))
        flag = self._state.flag.value
        if flag >= _HALTED:
            plan.halt(self._state.reason.value.decode() or "stopped")
        if flag >= _ABORTED:
            abort.set()
            return False
        return True

    def report(self, stats: Stats, busy: int) -> None:
        now = time.monotonic()
        if self._index == 0 or now < self._next_report or self.orphaned:
            return
        self._next_report = now + _REPORT_EVERY_S
        self._events.put(("progress", self._index, {**stats.export(), "busy": busy}))


@dataclass(frozen=True, slots=True)
class State:
    """The shared memory of one run's processes."""

    lock: Any
    flag: Any  # _RUNNING, _HALTED or _ABORTED
    reason: Any  # the first reason given to halt, as bytes
    failures: Any  # failures counted across the run
    start_at: Any  # the common wall-clock start; 0 until the parent gives it

    @classmethod
    def create(cls, ctx: Any) -> State:
        """Returns new shared state from a multiprocessing context."""
        raw = ctx.RawValue
        return cls(ctx.Lock(), raw("i", 0), ctx.RawArray("c", 100), raw("q", 0), raw("d", 0.0))


@contextlib.contextmanager
def locked(lock: Any) -> Iterator[None]:
    """Holds lock, or after _LOCK_TIMEOUT_S goes on without it: its holder was killed."""
    held = lock.acquire(timeout=_LOCK_TIMEOUT_S)
    try:
        yield
    finally:
        if held:
            lock.release()
