"""The plan of one run's share: which request to send next, when, and when to stop."""

from __future__ import annotations

import itertools
import threading
from time import perf_counter

from capture.config import RunConfig

__all__ = ["Plan"]


class Plan:
    """Hands out sequence numbers and intended send times until a stop condition holds."""

    def __init__(self, config: RunConfig, start: float, share: tuple[int, int] = (0, 1)) -> None:
        # Process k of P sends seqs k+1, k+1+P, ...: together they send 1, 2, 3, ... with
        # the same intended times as one process would. next() on a count is atomic.
        index, count = share
        self._seq = itertools.count(index + 1, count)
        self._limit = config.requests
        self._start = start
        self._end = None if config.duration_s is None else start + config.duration_s
        self._interval = None if config.qps is None else 1.0 / config.qps
        self._schedule = config.schedule
        self.stop = threading.Event()
        self.reason = "completed"

    def next(self) -> tuple[int, float | None] | None:
        """Returns (seq, intended start or None), or None when the run must end."""
        seq = next(self._seq)
        if self.stop.is_set() or (self._limit is not None and seq > self._limit):
            return None
        if self._schedule is not None:
            # A function of seq alone, so every share of --procs and --hosts agrees; the
            # end is the schedule's own (Schedule.planned), not start + duration.
            at = self._schedule.time_of(seq - 1)
            if at >= self._schedule.duration_s:
                return None
            return seq, self._start + at
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
