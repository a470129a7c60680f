"""Drive a run: create its row, run its share(s), finish it, and sum it up.

sent = ok + failed, as stored; aborted apart (only after a second interrupt or an expired
grace period: sent on the wire, outcome unknown, no row).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine

from capture.config import RunConfig
from capture.errors import UsageError
from capture.load.hooks import Hooks
from capture.load.workers import ShareResult, run_share
from capture.redact import run_redactor
from capture.results import Progress, RunStatus, RunSummary
from capture.store import database as store
from capture.store.stats import CpuClock

__all__ = ["run"]

log = logging.getLogger("capture")


def run(
    config: RunConfig,
    engine: Engine,
    *,
    hooks: Hooks | None = None,
    on_tick: Callable[[Progress], None] | None = None,
    db: str | None = None,
) -> RunSummary:
    """Runs the load described by config, storing into engine. Returns the summary."""
    if config.hosts is not None:  # one of N hosts: the run row is theirs (load/multihost.py)
        from capture.load.multihost import run_on_hosts

        if db is None:
            raise UsageError("--hosts needs the database URL")
        return run_on_hosts(config, engine, hooks=hooks, on_tick=on_tick, db=db)
    # The run's one Redactor: its HMAC key makes a secret redact to the same text in the
    # run row, every share's requests and failures, and every process of --procs.
    redactor = run_redactor(config.keep_secrets, config.redaction_key)
    run_id = store.create_run(
        engine,
        name=config.name,
        command_line=config.command_line,
        config_json=config.to_json(redactor.value, redactor.url),
        qps=config.asked_qps,
    )
    wall_start = time.time()
    lost = False  # a process of --procs was killed: not a storage error, and said so
    if config.procs > 1:
        from capture.load.procs import run_parallel
        from capture.load.shared import process_lost

        if db is None:
            raise UsageError("--procs needs the database path")
        result = run_parallel(
            config, engine, db, run_id, redactor=redactor, hooks=hooks, on_tick=on_tick
        )
        lost = process_lost(result.reason)
    else:
        cpu = CpuClock()
        result = run_share(
            config, engine, run_id, cpu.begin, redactor=redactor, hooks=hooks, on_tick=on_tick
        )
        result.stats.add_cpu(cpu.used())
    # The run's duration is its sending time: not the spawning, flushing or checkpoint.
    duration = (result.wall_end or time.time()) - (result.wall_start or wall_start)
    if result.error:
        status = RunStatus.FAILED
    elif result.reason == "interrupted":
        status = RunStatus.INTERRUPTED
    else:
        status = RunStatus.COMPLETED
    totals, unrecorded = store.finish_run(
        engine,
        run_id,
        status=status.value,
        duration_s=duration,
        dropped=result.storage.dropped_failures,
        aborted=result.aborted,
        cpu_s=result.stats.cpu_s,
        stored=result.storage,
    )
    storage_error = _storage_message(result, run_id) if result.error and not lost else None
    if lost:
        log.error(
            "capture: error: run %d failed: %s; the other processes stopped and stored theirs",
            run_id,
            result.error,
        )
    if unrecorded:
        status = RunStatus.FAILED
        storage_error = f"{storage_error}; {unrecorded}" if storage_error else unrecorded
    if storage_error:
        log.error("capture: error: %s", storage_error)
    wal_left = store.checkpoint(engine)
    if wal_left:
        log.warning(
            "capture: note: %s; keep that file with the database: the next run or "
            "`capture db upgrade` folds it back",
            wal_left,
        )
    snapshot = result.stats.snapshot()
    return RunSummary(
        run_id=run_id,
        name=config.name,
        status=status,
        stop_reason=result.reason,
        duration_s=duration,
        # The rows: what runs.requests_total and `capture runs` count. The abandoned are
        # apart (aborted, runs.aborted_total): sent, outcome unknown, no row.
        sent=snapshot.sent,
        ok=snapshot.ok,
        failed=snapshot.failed,
        stored=totals["failures_stored"],
        aborted=result.aborted,
        sockets_used=totals["sockets_used"],
        connections=config.connections * config.procs,
        qps_asked=config.asked_qps,
        stats=snapshot,
        db=db,
        storage_error=storage_error,
        storage=result.storage,
        extra={
            "procs": config.procs,
            "process_lost": lost,
            "queue_wait_s": result.queue_wait_s,
            **_schedule_extra(config),
        },
    )


def _schedule_extra(config: RunConfig) -> dict[str, str]:
    """Returns the summary's note of a rate schedule ('ramp 100→2000/s'), or nothing."""
    return {} if config.schedule is None else {"schedule": config.schedule.label}


def _storage_message(result: ShareResult, run_id: int) -> str:
    """Says what a storage error cost, in one line (the disk-full rule in README.md)."""
    tally = result.storage
    not_stored = tally.dropped_failures + tally.lost_failures
    doubt = (
        f" ({tally.doubtful_requests} of them were being committed when the server "
        "went away: it may hold them)"
        if tally.doubtful_requests
        else ""
    )
    return (
        f"run {run_id} failed: {result.error}; sending stopped; "
        f"{not_stored} failures not stored ({tally.dropped_failures} of them kept a "
        f"requests row), {tally.lost_requests} requests got no row at all{doubt}, "
        f"{tally.stripped_bodies} failures stored without bodies"
    )
