"""Live counters and latency histograms for one run, fed by the writer thread.

Percentiles come from HdrHistogram (bounded memory, exact to 3 significant digits)
rather than from sorting samples, which would grow without bound over a long run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

__all__ = ["PERCENTILES", "CpuClock", "Stats", "StatsSnapshot"]

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
_MAX_US = 3_600_000_000  # one hour, in microseconds
_SIG_DIGITS = 3
_PENDING_MAX = 20_000  # distinct values held before they go into the histograms


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, _MAX_US, _SIG_DIGITS)


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """A consistent copy of the counters, for the live display and the summary."""

    sent: int = 0
    ok: int = 0
    failed: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    error_counts: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50.. and max
    lag_ms: dict[str, float] = field(default_factory=dict)
    wait_ms: dict[str, float] = field(default_factory=dict)
    last_offset_s: float = 0.0
    cpu_s: float = 0.0  # CPU seconds of the processes that have finished their share


class Stats:
    """Accumulates outcomes; add() is called by one thread, snapshot() by any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.status_counts: Counter[int] = Counter()
        self.error_counts: Counter[str] = Counter()
        self.latency = _histogram()
        self.lag = _histogram()
        self.wait = _histogram()
        # Values not yet in the histograms, counted per microsecond: hdrh's record_value
        # is Python (~3 us a call, three a request, on the writer thread under the workers'
        # GIL); Counter.update counts a batch in C, and a run repeats few distinct values.
        # Flushed (the same counts, so the same percentiles) before the histograms are read.
        self._pending: tuple[Counter[int], Counter[int], Counter[int]] = (
            Counter(), Counter(), Counter()
        )  # fmt: skip
        self.last_offset_s = 0.0
        self.cpu_s = 0.0

    def add_cpu(self, seconds: float) -> None:
        """Adds the CPU seconds (user + system) a process used during its share."""
        with self._lock:
            self.cpu_s += seconds

    def add_many(self, records: Sequence[Any]) -> None:
        """Counts finished records (capture.store.record.Record) under one lock acquisition."""
        latency = [_us(rec.latency_s) for rec in records]
        wait = [_us(rec.wait_s) for rec in records]
        lag = [_us(rec.lag_s) for rec in records if rec.lag_s is not None]
        statuses = [rec.status for rec in records if rec.status is not None]
        kinds = [rec.error_kind for rec in records if rec.error_kind is not None]
        failed = sum(1 for rec in records if rec.failed)
        last = max((rec.start_s + rec.latency_s for rec in records), default=0.0)
        with self._lock:
            self.failed += failed
            self.status_counts.update(statuses)
            self.error_counts.update(kinds)
            pending = self._pending
            pending[0].update(latency)
            pending[1].update(lag)
            pending[2].update(wait)
            if len(pending[0]) + len(pending[1]) + len(pending[2]) > _PENDING_MAX:
                self._flush()
            self.sent += len(records)
            self.last_offset_s = max(self.last_offset_s, last)

    def _flush(self) -> None:
        """Records the pending values in the histograms (the lock is held)."""
        for hist, pending in zip((self.latency, self.lag, self.wait), self._pending, strict=True):
            record = hist.record_value
            for value, count in pending.items():
                record(value, count)
            pending.clear()

    def export(self) -> dict[str, Any]:
        """Returns the counters and encoded histograms, to send to another process."""
        with self._lock:
            self._flush()
            return {
                "sent": self.sent,
                "failed": self.failed,
                "status_counts": dict(self.status_counts),
                "error_counts": dict(self.error_counts),
                "last_offset_s": self.last_offset_s,
                "cpu_s": self.cpu_s,
                "latency": self.latency.encode(),
                "lag": self.lag.encode(),
                "wait": self.wait.encode(),
            }

    def merge(self, payload: dict[str, Any]) -> None:
        """Adds another process's export() to these counters."""
        with self._lock:
            self._flush()
            self.sent += payload["sent"]
            self.failed += payload["failed"]
            self.status_counts.update(payload["status_counts"])
            self.error_counts.update(payload["error_counts"])
            self.last_offset_s = max(self.last_offset_s, payload["last_offset_s"])
            self.cpu_s += payload.get("cpu_s", 0.0)
            for name in ("latency", "lag", "wait"):
                getattr(self, name).add(HdrHistogram.decode(payload[name]))

    def snapshot(self) -> StatsSnapshot:
        """Returns a copy of the counters and percentiles."""
        with self._lock:
            self._flush()
            return StatsSnapshot(
                sent=self.sent,
                ok=self.sent - self.failed,
                failed=self.failed,
                status_counts=dict(self.status_counts),
                error_counts=dict(self.error_counts),
                latency_ms=_percentiles(self.latency),
                lag_ms=_percentiles(self.lag),
                wait_ms=_percentiles(self.wait),
                last_offset_s=self.last_offset_s,
                cpu_s=self.cpu_s,
            )


def _us(seconds: float) -> int:
    return min(_MAX_US, max(1, int(seconds * 1_000_000)))


def _percentiles(hist: HdrHistogram) -> dict[str, float]:
    if hist.get_total_count() == 0:
        return {}
    out = {f"p{p:g}": hist.get_value_at_percentile(p) / 1000.0 for p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1000.0
    return out


class CpuClock:
    """The CPU time one process uses from the start of its share: begin() is the begin
    callback run_share calls once set-up is done, used() reads it at the end."""

    def __init__(self, begin: Callable[[], float] = time.time) -> None:
        self._begin = begin
        self._start: float | None = None

    def begin(self) -> float:
        """Calls the wrapped begin() and starts counting. Returns its start time."""
        started = self._begin()
        self._start = time.process_time()  # every thread of the process, user + system
        return started

    def used(self) -> float:
        """Returns the CPU seconds used since begin(); 0.0 if it never began."""
        return 0.0 if self._start is None else time.process_time() - self._start
