"""The one thread that owns the write connection: batches records into transactions.

Workers only append Records to a queue bounded in bytes (QUEUE_BYTES, --max-queue) and
in rows; when it is full they wait for the writer (backpressure instead of unbounded
memory). A record counts until its batch is stored, not until the writer takes it. A batch
commits after BATCH_ROWS records, half the byte bound or BATCH_INTERVAL_S, whichever comes
first, so a crash loses at most the last interval. Shutdown is a flag, a flush and a join.

The queue is store/queue.py, the multi-row INSERTs store/insert.py.

Another process's write lock is waited out. A storage error (disk full) rolls the batch
back whole; it is retried without bodies, then as requests rows alone, and whatever still
does not fit is counted, never lost silently (the rule is in README.md). A PostgreSQL
server that goes away is waited for RECONNECT_S (a restart), then the run stops and every
batch not stored is counted lost, without trying again.

Test-only: CAPTURE_TEST_RECONNECT_S=S sets that wait. Not a supported interface.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

from capture.config import Target
from capture.redact import Redactor
from capture.store.columns import FAILURES, REQUESTS
from capture.store.database import now_iso
from capture.store.insert import insert_rows
from capture.store.location import LOST_CONNECTION
from capture.store.queue import QUEUE_BYTES, QUEUE_RECORDS, RecordQueue
from capture.store.record import Identity, Record, queued_bytes
from capture.store.schema import requests
from capture.store.signature import signature
from capture.store.stats import Stats
from capture.store.tally import StorageTally

__all__ = ["Writer"]

BATCH_ROWS = 500
BATCH_INTERVAL_S = 0.2
_POLL_S = 0.005  # how long the writer sleeps when there is nothing to store
_MAX_BUSY_WAIT_S = 60.0  # how long a batch waits for another process's write lock
_LOCKED = "the database stayed locked by another connection"
# A server restart (a minor upgrade, a failover behind one address) takes a few seconds;
# longer, and the run would only fill its queue and stall its workers for nothing.
RECONNECT_S = 5.0
_TEST_RECONNECT_ENV = "CAPTURE_TEST_RECONNECT_S"

log = logging.getLogger("capture")


# Every column but the key, which _commit gives: the rows are built in this order.
_REQUEST_COLUMNS = REQUESTS.names[1:]
_FAILURE_COLUMNS = FAILURES.names[1:]
_REQUESTS_HEAD = f"INSERT INTO requests ({', '.join(REQUESTS.names)}) VALUES "
_FAILURES_HEAD = f"INSERT INTO failures ({', '.join(FAILURES.names)}) VALUES "
_BODY = _FAILURE_COLUMNS.index("body")
_REQUEST_BODY = _FAILURE_COLUMNS.index("request_body")
_BODY_TRUNCATED = _FAILURE_COLUMNS.index("body_truncated")
# The values that can be large (the rest are numbers and short text): insert_rows sizes
# its statements by these.
_BIG_VALUES = tuple(
    _FAILURE_COLUMNS.index(c)
    for c in ("request_headers", "request_body", "response_headers", "body", "error_message")
)


class _Clock:
    """Turns run offsets into ISO-8601 UTC text, formatting each second only once."""

    def __init__(self, wall_start: float) -> None:
        self._wall_start = wall_start
        self._second = -1
        self._prefix = ""

    def iso(self, offset_s: float) -> str:
        moment = self._wall_start + offset_s
        second = int(moment)
        if second != self._second:
            self._second = second
            self._prefix = now_iso(second)[:19]
        return f"{self._prefix}.{int((moment - second) * 1_000_000):06d}Z"


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
        identity: Identity,
        queue_bytes: int = QUEUE_BYTES,
        queue_records: int = QUEUE_RECORDS,
    ) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"  # COPY instead of INSERT
        self._run_id = run_id
        self._identity = identity
        self._clock = _Clock(wall_start)
        self._targets = targets
        self._urls = tuple(redactor.url(t.url) for t in targets)  # secret query values
        self._redactor = redactor
        # Header lists repeat: a target's request headers, a server's error responses
        # within one second (same Date). Redacting (an HMAC per secret) and encoding them
        # once per distinct list took ~10 us off every stored failure.
        self._headers_json = functools.lru_cache(maxsize=1024)(self._encode_headers)
        self._stats = stats
        self.queue = RecordQueue(queue_bytes, queue_records)
        # Flushing at half the bound leaves the other half to the workers while it commits.
        self._flush_bytes = max(1, queue_bytes // 2)
        self._stopping = threading.Event()
        self.tally = StorageTally()  # replaced by the writer thread only; read after close()
        self.error: str | None = None  # the first storage error
        # Called (from this thread) once a batch failed, before its room is given back:
        # the run stops handing out requests first, so none is sent only to be lost.
        self.on_error: Callable[[], None] | None = None
        self._warned_locked = False
        self._reconnect_s = float(os.environ.get(_TEST_RECONNECT_ENV) or RECONNECT_S)
        self._server_gone = False  # PostgreSQL: the server stayed away; try no more
        self.abandon = threading.Event()  # set by give_up(): stop retrying
        self._thread = threading.Thread(target=self._loop, name="capture-writer", daemon=True)

    def start(self) -> None:
        """Starts the writer thread."""
        self._thread.start()

    def put(self, record: Record) -> None:
        """Hands a finished record over; waits while the queue is full."""
        self.queue.put(record, queued_bytes(record))

    def close(self, timeout: float) -> bool:
        """Flushes what is queued and stops. Returns False if the thread did not finish."""
        self._stopping.set()
        self.queue.close()  # a worker still waiting for room (abort, grace over) goes on
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def give_up(self, timeout: float) -> bool:
        """Stops waiting on locks: what cannot be stored at once is counted lost.

        Returns False if the thread still did not finish within timeout.
        """
        self.abandon.set()
        return self.close(timeout)

    def _loop(self) -> None:
        try:
            self._drain()
        finally:
            self.queue.close()  # a writer that died must not leave workers waiting
            if not self._stopping.is_set():
                self.error = self.error or "internal error: the writer thread stopped"

    def _drain(self) -> None:
        queue = self.queue
        take = queue.take
        batch: list[Record] = []
        held = 0  # the batch's bytes, released once it is stored
        flush_at = 0.0
        while True:
            stopping = self._stopping.is_set()  # read first: then every record put
            while len(batch) < BATCH_ROWS and held < self._flush_bytes:  # before it is
                item = take()  # in the queue
                if item is None:
                    break
                if not batch:
                    flush_at = time.monotonic() + BATCH_INTERVAL_S
                batch.append(item[0])
                held += item[1]
            if batch and (
                len(batch) >= BATCH_ROWS
                or held >= self._flush_bytes
                or queue.waiting  # workers wait for room: no point waiting for more rows
                or stopping
                or time.monotonic() >= flush_at
            ):
                self._flush(batch)
                if self.error is not None and self.on_error is not None:
                    self.on_error()
                queue.release(held, len(batch))
                batch, held = [], 0
                continue
            if stopping and not queue:
                return
            if not queue:
                self._stopping.wait(_POLL_S)

    def _flush(self, batch: list[Record]) -> None:
        if not batch:
            return
        self._stats.add_many(batch)
        try:
            self._store(batch)
        except Exception as exc:  # a bug here must not stop the thread: workers would block
            self.error = self.error or f"internal error: {type(exc).__name__}: {exc}"
            lost = sum(1 for rec in batch if rec.detail)
            self.tally += StorageTally(lost_requests=len(batch), lost_failures=lost)

    def _store(self, batch: list[Record]) -> None:
        request_rows = [self._request_row(rec) for rec in batch]
        failure_rows = [(rec.seq, self._failure_row(rec)) for rec in batch if rec.detail]
        doubtful = 0
        if self._server_gone or (self.abandon.is_set() and self.error is not None):
            cause: str | None = self.error  # giving up: do not wait on the lock once more
        elif self._postgres:
            from capture.store.postgres import store_waiting

            cause, doubtful = store_waiting(
                self._engine,
                request_rows,
                failure_rows,
                wait_s=self._reconnect_s,
                abandon=self.abandon,
            )
            self._server_gone = cause is not None and cause.startswith(LOST_CONNECTION)
        else:
            cause = self._commit_retrying(request_rows, failure_rows)
        if cause is None:
            self.tally += StorageTally(len(request_rows), len(failure_rows))
            return
        self.error = self.error or cause
        if cause != _LOCKED and failure_rows and not self._server_gone:
            # Disk full and the like: SQLite rolled the whole transaction back (nothing is
            # half-written). Keep what fits: the failures without bodies, then the light
            # rows alone, so failed_total = failures_stored + failures_dropped still holds.
            stripped = _strip_bodies(failure_rows)
            if stripped and self._commit_retrying(request_rows, failure_rows) is None:
                self.tally += StorageTally(
                    len(request_rows), len(failure_rows), stripped_bodies=stripped
                )
                return
            if self._commit_retrying(request_rows, []) is None:
                self.tally += StorageTally(len(request_rows), dropped_failures=len(failure_rows))
                return
        self.tally += StorageTally(
            lost_requests=len(request_rows),
            lost_failures=len(failure_rows),
            doubtful_requests=doubtful,
        )

    def _commit_retrying(
        self,
        request_rows: list[tuple[Any, ...]],
        failure_rows: list[tuple[int, list[Any]]],
    ) -> str | None:
        """Commits one batch, waiting out another process's write lock. Returns the cause
        of a failure, _LOCKED for a lock that outlasted the wait, or None when stored."""
        busy_since: float | None = None
        delay = 0.02
        while True:
            try:
                self._commit(request_rows, failure_rows)
                return None
            except DBAPIError as exc:
                message = str(exc.orig)
                if "locked" not in message and "busy" not in message:
                    return message
            # Another process holds the write lock (a DB browser, a second run) longer
            # than busy_timeout: wait and retry rather than drop the batch.
            now = time.monotonic()
            if busy_since is None:
                busy_since = now
                if not self._warned_locked:
                    self._warned_locked = True
                    log.warning(
                        "capture: the database is locked by another connection; "
                        "waiting to write (up to %.0f s)",
                        _MAX_BUSY_WAIT_S,
                    )
            if self.abandon.is_set() or now - busy_since >= _MAX_BUSY_WAIT_S:
                return _LOCKED
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _commit(
        self,
        request_rows: list[tuple[Any, ...]],
        failure_rows: list[tuple[int, list[Any]]],
    ) -> None:
        if self._postgres:
            from capture.store.postgres import store_batch

            store_batch(self._engine, request_rows, failure_rows, [])
            return
        with self._engine.begin() as conn:
            # Ids are given here, under the write lock, so failures can point at their
            # request row without a round trip per row, even with several writers.
            base = conn.execute(select(func.coalesce(func.max(requests.c.id), 0))).scalar_one()
            ids = {row[1]: base + offset for offset, row in enumerate(request_rows, 1)}
            # Plain tuples to the driver: SQLAlchemy's per-row parameter processing
            # cost more than the insert itself (bench/RESULTS.md).
            # A full batch fills its statements: padding only when it is not full.
            insert_rows(
                conn,
                _REQUESTS_HEAD,
                [(ids[row[1]], *row) for row in request_rows],
                max_bytes=None,  # light rows: a batch of them is a few hundred KB
                max_rows=BATCH_ROWS,
            )
            insert_rows(
                conn,
                _FAILURES_HEAD,
                [(ids[seq], *row) for seq, row in failure_rows],
                max_rows=BATCH_ROWS,
                sizes=[_failure_bytes(row) for _, row in failure_rows],
            )

    def _request_row(self, rec: Record) -> tuple[Any, ...]:
        """Returns the row in _REQUEST_COLUMNS order (seq second: _commit keys ids on it)."""
        target = self._targets[rec.target]
        identity = self._identity
        return (
            self._run_id,
            rec.seq,
            rec.worker,
            identity.session(rec.session),
            rec.method or target.method,
            self._urls[rec.target] if rec.url is None else self._redactor.url(rec.url),
            self._clock.iso(rec.start_s),
            round(rec.start_s * 1000.0, 3),
            None if rec.lag_s is None else round(rec.lag_s * 1000.0, 3),
            round(rec.wait_s * 1000.0, 3),
            None if rec.connect_s is None else round(rec.connect_s * 1000.0, 3),
            None if rec.ttfb_s is None else round(rec.ttfb_s * 1000.0, 3),
            round(rec.latency_s * 1000.0, 3),
            rec.status,
            rec.error_kind,
            int(rec.failed),
            rec.bytes_in,
            rec.local_addr,
            rec.remote_addr,
            rec.connection_no,
            rec.connection_request_no,
            rec.correlation_id,
            identity.process,
            identity.connection_id(rec.session, rec.connection_no),
            identity.host,
            rec.backend,
        )

    def _encode_headers(self, pairs: tuple[tuple[str, str], ...]) -> str:
        return json.dumps(self._redactor.pairs(list(pairs)))

    def _failure_row(self, rec: Record) -> list[Any]:
        """Returns the row in _FAILURE_COLUMNS order (a list: _strip_bodies edits it)."""
        d = rec.detail
        assert d is not None
        headers_json = self._headers_json
        return [
            self._run_id,
            d.reason,
            d.http_version,
            headers_json(tuple(d.request_headers)),
            d.request_body,
            None if d.response_headers is None else headers_json(tuple(d.response_headers)),
            d.body,
            d.body_size,
            int(d.body_truncated),
            d.content_type,
            d.content_encoding,
            d.error_class,
            d.error_message,
            signature(d.body, d.error_message),
        ]


def _strip_bodies(failure_rows: list[tuple[int, list[Any]]]) -> int:
    """Drops the stored bodies of failure rows (body_size stays). Returns how many had one."""
    stripped = 0
    for _, row in failure_rows:
        if row[_BODY] or row[_REQUEST_BODY]:
            stripped += 1
        if row[_BODY]:
            row[_BODY_TRUNCATED] = 1  # body_size still says how much there was
        row[_BODY] = None
        row[_REQUEST_BODY] = None
    return stripped


def _failure_bytes(row: list[Any]) -> int:
    """Returns about how many bytes SQLite copies to bind a failure row: its big values."""
    return sum(len(row[i] or "") for i in _BIG_VALUES)
