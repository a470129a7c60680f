"""--hosts N: this host's part of a run sent from N hosts that meet in PostgreSQL.

The same command runs on every host. Each claims a slot (store/hosts.py), sets up, waits
at the barrier and starts at the instant the database's clock gave; slot S of N with P
processes sends the shares S * P + p of N * P, so -n, --qps and every seq stay global.
--stop-after-failures stays global through the heartbeats: each host halts once the
run's sum reaches the limit. The host that ends last finishes the run row.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from capture.config import RunConfig
from capture.errors import CaptureError, ExitCode, StorageError
from capture.load.coordinator import Barrier, Coordinator, Hosted
from capture.load.hooks import Hooks
from capture.load.signals import Signals
from capture.load.testclock import use_test_clock
from capture.load.workers import ShareResult, run_share
from capture.redact import run_redactor
from capture.results import Progress, RunStatus, RunSummary
from capture.store.hosts import BarrierTimeout, Ending, HostSlot
from capture.store.postgres import server_message
from capture.store.stats import CpuClock

__all__ = ["run_on_hosts"]


log = logging.getLogger("capture")


class Interrupted(CaptureError):
    """A stop signal came at the barrier: the slot was given back, nothing was sent."""

    exit_code = ExitCode.INTERRUPTED


def run_on_hosts(
    config: RunConfig,
    engine: Engine,
    *,
    hooks: Hooks | None,
    on_tick: Callable[[Progress], None] | None,
    db: str,
) -> RunSummary:
    """Runs this host's slot of the --hosts run config.name; returns this host's summary."""
    assert config.hosts is not None and config.name is not None
    use_test_clock()
    redactor = run_redactor(config.keep_secrets, config.redaction_key)
    try:
        host = HostSlot.claim(
            engine,
            name=config.name,
            hosts=config.hosts,
            slot=config.host_slot,
            config_json=config.to_json(redactor.value, redactor.url),
            command_line=config.command_line,
            qps=config.asked_qps,
        )
    except DBAPIError as exc:
        raise StorageError(f"cannot join run {config.name!r}: {server_message(exc)}") from None
    claimed_at = time.monotonic()
    config = dataclasses.replace(config, host_slot=host.slot, clock_offset_s=host.offset_s)
    host.start_beating(config.stop_after_failures)
    started = [False]

    def barrier(coordinator: Coordinator, stopping: Callable[[], bool]) -> float:
        """Waits for the other hosts, then until the start; returns it on our clock."""
        start = host.await_start(config.barrier_timeout_s, claimed_at, stopping)
        host.failures = coordinator.failures
        host.on_limit = lambda: coordinator.halt("failure limit")
        while (ahead := start - time.time()) > 0:  # at most START_LEAD_S (plus skew)
            time.sleep(min(ahead, 0.05))
        host.started()
        started[0] = True
        return start

    try:
        result = _send(config, engine, db, host.run_id, barrier, hooks, on_tick)
    except BarrierTimeout:
        host.close()  # the slots stay gave_up: that is the record of the failure
        raise
    except KeyboardInterrupt:
        if not started[0]:
            host.leave()
            raise Interrupted(
                f"interrupted at the barrier: slot {host.slot} of run {config.name!r} was"
                " given back; nothing was sent"
            ) from None
        raise
    except BaseException:
        if not started[0]:
            host.leave()
        raise
    if not started[0]:  # stopped while the processes started: the slot is given back
        host.leave()
        raise Interrupted(f"slot {host.slot} of run {config.name!r} was given back; nothing sent")
    return _finish(config, host, result, db)


def _send(
    config: RunConfig,
    engine: Engine,
    db: str,
    run_id: int,
    barrier: Barrier,
    hooks: Hooks | None,
    on_tick: Callable[[Progress], None] | None,
) -> ShareResult:
    """Runs this host's share(s): one process, or --procs of them."""
    redactor = run_redactor(config.keep_secrets, config.redaction_key)
    if config.procs > 1:
        from capture.load.procs import run_parallel

        return run_parallel(
            config,
            engine,
            db,
            run_id,
            redactor=redactor,
            hooks=hooks,
            on_tick=on_tick,
            barrier=barrier,
        )
    coordinator = Hosted()

    def begin() -> float:
        with Signals() as signals:  # a Ctrl-C at the barrier gives the slot back
            return barrier(coordinator, lambda: bool(signals.count))

    cpu = CpuClock(begin)
    result = run_share(
        config,
        engine,
        run_id,
        cpu.begin,
        redactor=redactor,
        hooks=hooks,
        on_tick=on_tick,
        share=config.share(0),
        coordinator=coordinator,
    )
    result.stats.add_cpu(cpu.used())
    return result


def _finish(config: RunConfig, host: HostSlot, result: ShareResult, db: str) -> RunSummary:
    """Records this host's end (and the run's, when last); returns its summary."""
    if result.error:
        state, status = "failed", RunStatus.FAILED
    elif result.reason == "interrupted":
        state, status = "interrupted", RunStatus.INTERRUPTED
    else:
        state, status = "finished", RunStatus.COMPLETED
    duration = result.wall_end - result.wall_start if result.wall_start else 0.0
    try:
        ending = host.finish(
            state,
            {
                "duration_s": duration,
                "cpu_s": result.stats.cpu_s,
                "aborted_total": result.aborted,
                "failures_dropped": result.storage.dropped_failures,
                "error": result.error,
            },
        )
    except DBAPIError as exc:
        raise StorageError(
            f"run {host.run_id}: could not record the end of slot {host.slot}: "
            f"{server_message(exc)}"
        ) from None
    finally:
        host.close()
    if result.error:
        log.error(
            "capture: error: run %d, slot %d failed: %s", host.run_id, host.slot, result.error
        )
    lost = bool(ending.lost) and ending.run_status == "failed"
    for line in ending.lost:
        level = logging.ERROR if ending.run_status else logging.WARNING
        log.log(level, "capture: %s: run %d: %s", "error" if lost else "note", host.run_id, line)
    if lost:
        status = RunStatus.FAILED
    snapshot = result.stats.snapshot()
    asked = config.asked_qps  # a schedule's: its planned requests over its time
    return RunSummary(
        run_id=host.run_id,
        name=config.name,
        status=status,
        stop_reason=result.reason,
        duration_s=duration,
        sent=snapshot.sent,
        ok=snapshot.ok,
        failed=snapshot.failed,
        stored=ending.own["failures_stored"],
        aborted=result.aborted,
        sockets_used=snapshot_sockets(ending),
        connections=config.connections * config.procs,
        # This host's share of the rate: its summary judges what it was asked to send.
        qps_asked=None if asked is None else asked / (config.hosts or 1),
        stats=snapshot,
        db=db,
        storage=result.storage,
        extra={
            "procs": config.procs,
            "process_lost": lost or process_lost(result),
            "queue_wait_s": result.queue_wait_s,
            "hosts": config.hosts,
            "qps_run": asked,
            **({} if config.schedule is None else {"schedule": config.schedule.label}),
            "slot": host.slot,
            "run_line": _run_line(config, host, ending),
        },
    )


def snapshot_sockets(ending: Ending) -> int:
    """Returns this host's TCP connections, as counted from its rows."""
    return int(ending.own.get("sockets_used", 0))


def process_lost(result: ShareResult) -> bool:
    """True when one of this host's --procs processes was lost."""
    from capture.load.shared import process_lost as lost_reason

    return lost_reason(result.reason)


def _run_line(config: RunConfig, host: HostSlot, ending: Ending) -> str | None:
    """Says how the whole run ended, when this host finished it; else None."""
    if ending.run_status is None:
        return None
    t = ending.totals
    return (
        f"run {host.run_id} {config.name!r} {ending.run_status} on {config.hosts} hosts"
        f" ({ending.slots}): {t['requests_total']:,} requests, {t['failed_total']:,} failed,"
        f" {t['failures_stored']:,} stored"
    )
