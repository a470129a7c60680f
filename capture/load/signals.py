"""Signals during a run: counted by the handler, acted on by the main thread as it waits."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from capture.load.coordinator import Coordinator

__all__ = ["Signals", "Waiting"]


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
class Waiting:
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
