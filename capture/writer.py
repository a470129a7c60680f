"""The one thread that owns the write connection: batches records into transactions.

Workers only put Records on a bounded queue (backpressure instead of unbounded memory).
A batch commits after BATCH_ROWS records or BATCH_INTERVAL_S, whichever comes first, so
a crash loses at most the last interval. Shutdown is a sentinel, a flush and a join.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import OperationalError

from .config import Target
from .exchange import Record
from .redact import Redactor
from .schema import failures, requests
from .signature import signature
from .stats import Stats
from .store import now_iso

__all__ = ["Writer"]

BATCH_ROWS = 500
BATCH_INTERVAL_S = 0.2
QUEUE_RECORDS = 10_000
_STOP = object()
_MAX_BUSY_WAIT_S = 60.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


class Writer:
    """Drains records from a bounded queue into SQLite, one transaction per batch."""

    def __init__(
        self,
        engine: Engine,
        run_id: int,
        *,
        wall_start: float,
        targets: Sequence[Target],
        redactor: Redactor,
        stats: Stats,
        queue_records: int = QUEUE_RECORDS,
    ) -> None:
        self._engine = engine
        self._run_id = run_id
        self._wall_start = wall_start
        self._targets = targets
        self._redactor = redactor
        self._stats = stats
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=queue_records)
        self.stored_requests = 0
        self.stored_failures = 0
        self.dropped_failures = 0  # failures counted but not stored (storage errors)
        self.lost_requests = 0  # light rows that could not be stored either
        self.error: str | None = None
        self.abandon = threading.Event()  # set on a second interrupt: stop retrying
        self._thread = threading.Thread(target=self._loop, name="capture-writer", daemon=True)

    def start(self) -> None:
        """Starts the writer thread."""
        self._thread.start()

    def put(self, record: Record) -> None:
        """Hands a finished record over; blocks while the queue is full."""
        self.queue.put(record)

    def close(self, timeout: float | None = None) -> bool:
        """Flushes what is queued and stops. Returns False if the thread did not finish."""
        self.queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        batch: list[Record] = []
        flush_at = 0.0
        get = self.queue.get
        while True:
            try:
                item = get(timeout=max(0.0, flush_at - time.monotonic())) if batch else get()
            except queue.Empty:
                self._flush(batch)
                batch = []
                continue
            if item is _STOP:
                self._flush(batch)
                return
            if not batch:
                flush_at = time.monotonic() + BATCH_INTERVAL_S
            batch.append(item)
            self._count(item)
            if len(batch) >= BATCH_ROWS:
                self._flush(batch)
                batch = []

    def _count(self, rec: Record) -> None:
        self._stats.add(
            status=rec.status,
            error_kind=rec.error_kind,
            failed=rec.failed,
            latency_s=rec.latency_s,
            lag_s=rec.lag_s,
            wait_s=rec.wait_s,
            local_addr=rec.local_addr,
            end_offset_s=rec.start_s + rec.latency_s,
        )

    def _flush(self, batch: list[Record]) -> None:
        if not batch:
            return
        request_rows = [self._request_row(rec) for rec in batch]
        failure_rows = [(rec.seq, self._failure_row(rec)) for rec in batch if rec.detail]
        degraded = False
        busy_since: float | None = None
        delay = 0.02
        while True:
            try:
                self._commit(request_rows, failure_rows)
                self.stored_requests += len(request_rows)
                self.stored_failures += len(failure_rows)
                return
            except OperationalError as exc:
                message = str(exc.orig)
                if "locked" in message or "busy" in message:
                    # Another process holds the write lock (a DB browser, a second run):
                    # wait and retry rather than drop the batch.
                    busy_since = busy_since or time.monotonic()
                    waited = time.monotonic() - busy_since
                    if not self.abandon.is_set() and waited < _MAX_BUSY_WAIT_S:
                        time.sleep(delay)
                        delay = min(delay * 2, 1.0)
                        continue
                if not degraded and failure_rows:
                    # Disk full and the like: the transaction was rolled back whole.
                    # Try once more without bodies so the light rows and headers survive.
                    degraded = True
                    for _, row in failure_rows:
                        row["body"] = None
                        row["request_body"] = None
                    continue
                self.error = f"could not store {len(batch)} records: {message}"
                self.lost_requests += len(request_rows)
                self.dropped_failures += len(failure_rows)
                return

    def _commit(
        self,
        request_rows: list[dict[str, Any]],
        failure_rows: list[tuple[int, dict[str, Any]]],
    ) -> None:
        with self._engine.begin() as conn:
            # Ids are given here, under the write lock, so failures can point at their
            # request row without a round trip per row, even with several writers.
            base = conn.execute(select(func.coalesce(func.max(requests.c.id), 0))).scalar_one()
            ids = {}
            for offset, row in enumerate(request_rows, 1):
                row["id"] = ids[row["seq"]] = base + offset
            for seq, row in failure_rows:
                row["request_id"] = ids[seq]
            conn.execute(insert(requests), request_rows)
            if failure_rows:
                conn.execute(insert(failures), [row for _, row in failure_rows])

    def _request_row(self, rec: Record) -> dict[str, Any]:
        target = self._targets[rec.target]
        return {
            "run_id": self._run_id,
            "seq": rec.seq,
            "worker": rec.worker,
            "session": rec.session,
            "method": target.method,
            "url": target.url,
            "started_at": now_iso(self._wall_start + rec.start_s),
            "offset_ms": _ms(rec.start_s),
            "lag_ms": _ms(rec.lag_s),
            "wait_ms": _ms(rec.wait_s),
            "connect_ms": _ms(rec.connect_s),
            "ttfb_ms": _ms(rec.ttfb_s),
            "latency_ms": _ms(rec.latency_s),
            "status": rec.status,
            "error_kind": rec.error_kind,
            "failed": int(rec.failed),
            "bytes_in": rec.bytes_in,
            "local_addr": rec.local_addr,
            "remote_addr": rec.remote_addr,
            "connection_no": rec.connection_no,
            "connection_request_no": rec.connection_request_no,
            "correlation_id": rec.correlation_id,
        }

    def _failure_row(self, rec: Record) -> dict[str, Any]:
        d = rec.detail
        assert d is not None
        redact = self._redactor.pairs
        return {
            "run_id": self._run_id,
            "reason": d.reason,
            "http_version": d.http_version,
            "request_headers": json.dumps(redact(d.request_headers)),
            "request_body": d.request_body,
            "response_headers": (
                None if d.response_headers is None else json.dumps(redact(d.response_headers))
            ),
            "body": d.body,
            "body_size": d.body_size,
            "body_truncated": int(d.body_truncated),
            "content_type": d.content_type,
            "content_encoding": d.content_encoding,
            "error_class": d.error_class,
            "error_message": d.error_message,
            "body_signature": signature(d.body, d.error_message),
        }
