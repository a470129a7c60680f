"""Memory stays bounded in bytes: the writer's queue, its backpressure and its accounting.

A real run against the built-in target whose writer is held up by another connection's
write lock, the byte-bounded queue itself with real threads, and the per-record size
estimate against what real records hold (tracemalloc).
"""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from capture import api
from capture.config import RunConfig, Target
from capture.load.hooks import Context, Hooks
from capture.load.pool import SessionPool
from capture.load.send import Sender
from capture.results import Progress
from capture.store.queue import RecordQueue
from capture.store.record import Record, queued_bytes
from capture.target.server import FaultServer
from tests.conftest import query

MiB = 1024**2
_WAIT_S = 10.0  # bound on every wait for another thread's event


def _until(condition: Callable[[], bool]) -> None:
    """Waits (bounded) until condition() holds: another thread reached a state."""
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "the other thread never got there"
        time.sleep(0.001)


def _rec(seq: int) -> Record:
    return Record(seq, 0, 0, 0)


def _put_in_thread(queue: RecordQueue, rec: Record, size: int) -> threading.Thread:
    thread = threading.Thread(target=queue.put, args=(rec, size), daemon=True)
    thread.start()
    return thread


def test_a_full_queue_blocks_until_the_writer_releases() -> None:
    queue = RecordQueue(1000)
    queue.put(_rec(1), 600)
    blocked = _put_in_thread(queue, _rec(2), 600)
    _until(lambda: queue.waiting == 1)
    assert blocked.is_alive() and len(queue) == 1 and queue.held_bytes == 600

    first = queue.take()  # the writer takes a record: it still holds its bytes
    assert first is not None and first[0].seq == 1
    assert queue.waiting == 1 and blocked.is_alive()

    queue.release(first[1], 1)  # stored: its room is free
    blocked.join(_WAIT_S)
    assert not blocked.is_alive()
    second = queue.take()
    assert second is not None and second[0].seq == 2
    assert queue.held_bytes == 600 and queue.peak_bytes == 600  # never both at once
    assert queue.waiting == 0 and queue.wait_s > 0


def test_the_row_bound_holds_too_and_one_big_record_gets_in() -> None:
    queue = RecordQueue(1000, max_records=2)
    queue.put(_rec(1), 5000)  # bigger than the whole bound, but the queue was empty
    blocked = _put_in_thread(queue, _rec(2), 1)
    _until(lambda: queue.waiting == 1)
    queue.release(5000, 1)
    blocked.join(_WAIT_S)
    queue.put(_rec(3), 1)
    blocked = _put_in_thread(queue, _rec(4), 1)  # 2 records held: the row bound
    _until(lambda: queue.waiting == 1)
    assert queue.held_records == 2 and queue.held_bytes == 2
    queue.release(1, 1)
    blocked.join(_WAIT_S)
    assert not blocked.is_alive() and queue.held_records == 2


def test_closing_wakes_every_waiting_worker_and_keeps_their_records() -> None:
    queue = RecordQueue(1000)
    queue.put(_rec(1), 900)
    waiting = [_put_in_thread(queue, _rec(seq), 500) for seq in (2, 3, 4)]
    _until(lambda: queue.waiting == 3)
    queue.close()  # a stop: the writer flushes what it has, nobody may hang
    for thread in waiting:
        thread.join(_WAIT_S)
        assert not thread.is_alive()
    seqs = []
    while (item := queue.take()) is not None:
        seqs.append(item[0].seq)
    assert sorted(seqs) == [1, 2, 3, 4]  # nothing dropped
    queue.put(_rec(5), 5000)  # closed: no more waiting
    assert queue.held_records == 5


Ticks = list[Progress]


def _one_tick_behind_lock(db_path: Path) -> tuple[Hooks, Callable[[Progress], None], Ticks]:
    """A hook that takes the database's write lock before the first request is sent,
    and an on_tick that gives it back once workers are seen waiting on a full queue."""
    holder: list[sqlite3.Connection] = []
    ticks: list[Progress] = []
    lock = threading.Lock()
    taken = threading.Event()

    def build_request(ctx: Context) -> None:
        with lock:
            if not taken.is_set():
                taken.set()
                conn = sqlite3.connect(db_path, timeout=30, check_same_thread=False)
                conn.isolation_level = None
                conn.execute("BEGIN IMMEDIATE")  # the writer can store nothing from here
                holder.append(conn)

    def on_tick(p: Progress) -> None:
        ticks.append(p)
        with lock:
            if holder and p.workers_waiting:
                conn = holder.pop()
                conn.execute("ROLLBACK")
                conn.close()

    return Hooks(build_request=build_request), on_tick, ticks


def test_a_slow_writer_holds_workers_back_within_the_byte_bound(
    server: FaultServer, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n, bound = 300, MiB
    config = RunConfig(
        targets=(Target.build("GET", f"{server.url}/?status=500&size=20000", (), None),),
        requests=n,
        connections=4,
        max_body_bytes=16 * 1024,
        max_queue_bytes=bound,
    )
    hooks, on_tick, ticks = _one_tick_behind_lock(db_path)
    with caplog.at_level(logging.WARNING, logger="capture"):
        summary = api.run(config, db=str(db_path), hooks=hooks, on_tick=on_tick)

    assert (summary.sent, summary.failed, summary.ok, summary.aborted) == (n, n, 0, 0)
    assert len(server.entries()) == n
    assert query(db_path, "select count(*), sum(failed) from requests") == [(n, n)]
    assert query(db_path, "select count(*), max(length(body)) from failures") == [(n, 16384)]
    assert summary.storage_error is None and summary.status.value == "completed"

    # 300 records of ~19 KB never fitted in 1 MiB: the workers waited, the queue filled
    # up to the bound (less than one record short) and never past it.
    last = ticks[-1]
    one = 16 * 1024 + 6 * 1024  # a record: its body, headers and overhead, at most
    assert any(p.workers_waiting for p in ticks)
    assert bound - one < last.queue_peak_bytes <= bound
    assert last.queue_limit_bytes == bound and last.queue_wait_s > 0
    # The summary carries the wait (a --qps run's keep-up warning names the writer by it).
    assert summary.extra["queue_wait_s"] == last.queue_wait_s
    notes = [r.getMessage() for r in caplog.records if "writer behind" in r.getMessage()]
    assert len(notes) == 1 and "on a full queue (1 MiB)" in notes[0]


def test_an_unhindered_run_says_nothing_about_the_writer(
    server: FaultServer, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = RunConfig(
        targets=(Target.build("GET", f"{server.url}/?status=200", (), None),), requests=50
    )
    ticks: list[Progress] = []
    with caplog.at_level(logging.WARNING, logger="capture"):
        summary = api.run(config, db=str(db_path), on_tick=ticks.append)
    # The last tick comes after the writer has counted every record, with the queue's
    # bound and peak (an empty queue is falsy: it once showed a bound of 0).
    last = ticks[-1]
    assert summary.sent == 50 and last.stats.sent == 50 and last.queue_wait_s == 0.0
    assert summary.extra["queue_wait_s"] == 0.0
    assert last.queue_limit_bytes == config.max_queue_bytes and last.queue_bytes == 0
    assert 0 < last.queue_peak_bytes <= 50 * queued_bytes(Record(1, 0, 0, 0))
    assert not [r for r in caplog.records if "writer behind" in r.getMessage()]


def _retained_per_record(server: FaultServer, path: str, max_body: int) -> tuple[float, Record]:
    """Sends real requests and returns the bytes each kept record holds (tracemalloc)."""
    n = 200
    target = Target.build("GET", f"{server.url}/{path}", (), None)
    config = RunConfig(targets=(target,), requests=n, connections=1, max_body_bytes=max_body)
    pool = SessionPool(1, trust_env=False, insecure=False, keep_cookies=False)
    try:
        sender = Sender(config, pool, 1, time.perf_counter())
        for seq in range(1, 21):  # warm up: the connection, caches
            sender.send(_rec(seq))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = [sender.send(_rec(seq)) for seq in range(21, 21 + n)]
            gc.collect()
            used = tracemalloc.get_traced_memory()[0] - before - 8 * n  # the list's slots
        finally:
            tracemalloc.stop()
    finally:
        pool.close()
    return used / n, kept[0]


@pytest.mark.parametrize(
    ("query_string", "max_body"),
    [("?status=200", 65536), ("?status=500&size=10", 65536), ("?status=500&size=20000", 16384)],
)
def test_the_size_estimate_covers_what_a_record_holds(
    server: FaultServer, query_string: str, max_body: int
) -> None:
    retained, rec = _retained_per_record(server, query_string, max_body)
    estimate = queued_bytes(rec)
    assert retained <= estimate <= retained * 1.3 + 200


@pytest.mark.parametrize(
    ("value", "expect"),
    [
        ("512KiB", "--max-queue must be between 1MiB and 16GiB, not 524288 bytes"),
        ("17GiB", "--max-queue: '17GiB' is larger than the limit of 16GiB"),
        ("lots", "--max-queue: 'lots' is not a size"),
    ],
)
def test_a_bad_max_queue_is_a_usage_error(cli, db_path: Path, value: str, expect: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "http://127.0.0.1:9/", "-n", "1", "--max-queue", value, "--db", db_path)
    assert result.exit_code == 2
    assert expect in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and not db_path.exists()
