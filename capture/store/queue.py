"""The queue between the workers and the writer, bounded in bytes and in rows.

A deque the writer polls, not a queue.Queue: a Queue wakes the writer on every put, and
that hand-off of the GIL per request cost more than the insert itself. Workers take a
lock only to count bytes; the writer wakes them only when they wait.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from capture.config import DEFAULT_MAX_QUEUE_BYTES
from capture.store.record import Record

__all__ = ["QUEUE_BYTES", "QUEUE_RECORDS", "RecordQueue"]

QUEUE_BYTES = DEFAULT_MAX_QUEUE_BYTES
QUEUE_RECORDS = 10_000  # also bounds the rows: light records are ~1.8 KB each


class RecordQueue:
    """Records on their way to the database, bounded in bytes and rows; put() waits.

    The bytes of a record count from put() until release(), after its batch is stored,
    so the bound covers what the writer holds too. One record is always let in when
    none is held, however big, so a record larger than the bound cannot wait for ever.
    """

    def __init__(self, max_bytes: int, max_records: int = QUEUE_RECORDS) -> None:
        self.max_bytes = max_bytes
        self.max_records = max_records
        self._items: deque[tuple[Record, int]] = deque()
        self._room = threading.Condition(threading.Lock())
        self.held_bytes = 0  # put and not yet released
        self.held_records = 0
        self.peak_bytes = 0
        self.wait_s = 0.0  # worker-seconds spent waiting for room, summed over workers
        self.waiting = 0  # workers waiting for room right now
        self._open = True

    def __len__(self) -> int:
        return len(self._items)

    def put(self, record: Record, size: int) -> None:
        """Appends record (about size bytes); waits while the queue is full and open."""
        with self._room:
            if self._open and self._full(size):
                began = time.perf_counter()
                self.waiting += 1
                try:
                    while self._open and self._full(size):
                        self._room.wait()
                finally:
                    self.waiting -= 1
                    self.wait_s += time.perf_counter() - began
            self.held_bytes += size
            self.held_records += 1
            self.peak_bytes = max(self.peak_bytes, self.held_bytes)
            self._items.append((record, size))  # inside the lock: take() sees it counted

    def _full(self, size: int) -> bool:
        held = self.held_records
        return held > 0 and (held >= self.max_records or self.held_bytes + size > self.max_bytes)

    def take(self) -> tuple[Record, int] | None:
        """Returns the oldest record and its size, or None; it stays held until release()."""
        try:
            return self._items.popleft()  # atomic: no lock on the writer's side
        except IndexError:
            return None

    def release(self, size: int, records: int) -> None:
        """Frees the room of stored (or given up) records and wakes waiting workers."""
        with self._room:
            self.held_bytes -= size
            self.held_records -= records
            if self.waiting:
                self._room.notify_all()

    def close(self) -> None:
        """Stops waiting: every put() from now on, and every waiting one, goes through.

        A waiting worker's record is in memory already; letting it in costs nothing more,
        and the writer is flushing or gone, so waiting would only hang the worker."""
        with self._room:
            self._open = False
            self._room.notify_all()
