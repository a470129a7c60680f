"""How the processes of one run stop together: the interface, and the run of one process."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from capture.load.plan import Plan
from capture.store.stats import Stats

__all__ = ["Alone", "Barrier", "Coordinator", "Hosted"]


class Coordinator:
    """How the processes of one run stop together; the default is a run of one process."""

    def failure(self) -> int:
        """Counts one failure across the run; returns the count so far."""
        raise NotImplementedError

    def failures(self) -> int:
        """Returns the failures counted across this host's processes so far."""
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


# A --hosts run's barrier: given this host's coordinator and a check for a stop signal,
# waits for the other hosts and returns the run's start on this host's clock.
Barrier = Callable[[Coordinator, Callable[[], bool]], float]


class Alone(Coordinator):
    """The coordinator of a run of one process: it counts its own failures."""

    def __init__(self) -> None:
        self._failures = itertools.count(1)
        self._counted = 0

    def failure(self) -> int:
        # next() on a count is atomic; the copy may lag a racing thread's by one, which
        # only delays a --hosts heartbeat's sum by a beat.
        self._counted = next(self._failures)
        return self._counted

    def failures(self) -> int:
        return self._counted


class Hosted(Alone):
    """The coordinator of one process of a --hosts run: another host's count can stop it."""

    def __init__(self) -> None:
        super().__init__()
        self._plan: Plan | None = None

    def watch(self, plan: Plan, abort: threading.Event) -> None:
        self._plan = plan

    def halt(self, reason: str) -> None:
        if self._plan is not None:
            self._plan.halt(reason)
