"""What the test target's connections share: the clock of its first request, requests in
flight, the backend round robin and token buckets (the faults of capture diagnose)."""

from __future__ import annotations

import threading
import time

__all__ = ["Shared"]


class Shared:
    """Server-wide state of one FaultServer, every method safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._first: float | None = None
        self._inflight = 0
        self._backend = 0
        self._buckets: dict[tuple[float, int], tuple[float, float]] = {}  # tokens, at

    def since_first(self) -> float:
        """Returns seconds since the server's first request (0 for the first itself)."""
        now = time.monotonic()
        with self._lock:
            if self._first is None:
                self._first = now
            return now - self._first

    def enter(self) -> int:
        """Counts a request in flight. Returns how many are, this one included."""
        with self._lock:
            self._inflight += 1
            return self._inflight

    def leave(self) -> None:
        """Counts a request out."""
        with self._lock:
            self._inflight -= 1

    def next_backend(self) -> int:
        """Returns the next number of the round robin: 0, 1, 2..."""
        with self._lock:
            self._backend += 1
            return self._backend - 1

    def take(self, rate: float, burst: int) -> float:
        """Takes a token from the (rate, burst) bucket, which starts full and refills at
        rate a second. Returns 0 when one was taken, else seconds until the next one."""
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get((rate, burst), (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[(rate, burst)] = (tokens - 1.0, now)
                return 0.0
            self._buckets[(rate, burst)] = (tokens, now)
            return (1.0 - tokens) / rate
