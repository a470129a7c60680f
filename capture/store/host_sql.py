"""The SQL of the --hosts coordination (store/hosts.py): claims, slots, the lost, the end.

Each function runs in its caller's transaction on its caller's connection, which holds
the run name's advisory lock where it matters.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from capture.errors import CaptureError, ExitCode
from capture.version import __version__

if TYPE_CHECKING:
    from sqlalchemy import Connection, TextClause

__all__ = [
    "HEARTBEAT_S",
    "ISO",
    "NAME_LOCK",
    "NOW",
    "POLL_S",
    "START_LEAD_S",
    "WAITING",
    "BarrierTimeout",
    "Ending",
    "HostsError",
    "barrier_text",
    "clock_offset",
    "config_difference",
    "create_hosts_run",
    "epoch",
    "finish_hosts_run",
    "hosts_cell",
    "mark_lost",
    "run_to_join",
    "slot_counts",
    "slot_sockets",
    "take_slot",
    "text",
]

WAITING = "waiting"  # runs.status of a --hosts run whose hosts have not all come
START_LEAD_S = 1.0  # from the last host's readiness to the start: time to hear of it
HEARTBEAT_S = 0.5  # how often a host beats, and adds up the run's failures
POLL_S = 0.05  # how often a host at the barrier looks for the start
_CLOCK_SAMPLES = 5  # round trips to the database's clock; the quickest one counts
# Settings each host may have of its own: the rest must be the run's.
_HOST_SPECIFIC = (
    "command_line",
    "host_slot",
    "barrier_timeout_s",
    "clock_offset_s",
    "pin_cpu",
    "max_queue_bytes",
    "extra",
)
# A redacted secret carries an HMAC under each host's own key (redact.Redactor): two
# hosts given the same secret store different text, so it is not compared.
_REDACTED = re.compile(r"hmac=[0-9a-f]+|REDACTED-[0-9A-Za-z_-]+")
_OPEN_STATES = ("waiting", "ready", "running")  # a slot whose host has not ended
ISO = "to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
NOW = ISO.format("clock_timestamp()")
NAME_LOCK = "SELECT pg_advisory_xact_lock(hashtext('capture-run:' || :name))"
_TRY_SLOT = "SELECT pg_try_advisory_xact_lock(CAST(:run AS integer), :slot)"


class HostsError(CaptureError):
    """A host cannot join its run: other settings, a slot held, a run already started."""

    exit_code = ExitCode.USAGE


class BarrierTimeout(CaptureError):
    """The hosts of a run did not all come in time; nothing was sent."""

    exit_code = ExitCode.PROCESS_LOST


@dataclass(slots=True)
class Ending:
    """What a host's end found: the slots it marked lost and, if it finished the run, how."""

    own: dict[str, int] = field(default_factory=dict)  # this slot's counts, from its rows
    lost: list[str] = field(default_factory=list)  # one line per lost slot
    run_status: str | None = None  # set when this host finished the run
    totals: dict[str, int] = field(default_factory=dict)  # the run's, when finished
    slots: str = ""  # the slots' states when finished: '2 finished, 1 lost'


def config_difference(theirs: str, ours: str) -> str | None:
    """Names the first setting in which two config_json texts differ, or None."""
    a, b = (json.loads(_REDACTED.sub("hmac", t)) for t in (theirs, ours))
    for key in sorted(set(a) | set(b)):
        if key in _HOST_SPECIFIC or a.get(key) == b.get(key):
            continue
        return f"{key} is {json.dumps(b.get(key))} here, {json.dumps(a.get(key))} in the run"
    return None


def text(sql: str) -> TextClause:
    """Returns sql as SQLAlchemy text; imported here only, so host_states() stays light."""
    from sqlalchemy import text as sql_text

    return sql_text(sql)


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _holders(rows: Sequence[Any]) -> str:
    return ", ".join(f"slot {r.slot} on {r.hostname} (pid {r.pid}, {r.state})" for r in rows)


def clock_offset(conn: Connection) -> float:
    """Returns the database's clock minus ours, from the quickest of a few round trips."""
    best: tuple[float, float] | None = None
    for _ in range(_CLOCK_SAMPLES):
        before = time.time()
        theirs = conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        after = time.time()
        # The server read its clock about halfway through the round trip.
        sample = (after - before, float(theirs) - (before + after) / 2)
        if best is None or sample[0] < best[0]:
            best = sample
    conn.rollback()
    assert best is not None
    return best[1]


def run_to_join(conn: Connection, name: str, hosts: int, config_json: str) -> int | None:
    """Returns the waiting run of this name to join, or None to create one."""
    row = conn.execute(
        text(
            "SELECT id, status, hosts, config_json, started_at FROM runs"
            " WHERE name = :name AND hosts IS NOT NULL ORDER BY id DESC LIMIT 1"
        ),
        {"name": name},
    ).first()
    if row is None:
        return None
    if row.status == "running":
        alive = [r for r in _slots(conn, row.id) if r.state in _OPEN_STATES]
        if any(
            not conn.execute(text(_TRY_SLOT), {"run": row.id, "slot": r.slot}).scalar()
            for r in alive
        ):
            raise HostsError(
                f"run {name!r} started at {row.started_at} without this host"
                f" (its slots: {_holders(_slots(conn, row.id))})"
            )
        return None  # every host of it is gone: it crashed, and a new run begins
    if row.status != WAITING:
        return None
    if row.hosts != hosts:
        raise HostsError(f"run {name!r} waits for {row.hosts} hosts, not --hosts {hosts}")
    if (difference := config_difference(row.config_json, config_json)) is not None:
        raise HostsError(f"run {name!r} has other settings: {difference}")
    return int(row.id)


def _slots(conn: Connection, run_id: int) -> list[Any]:
    return list(
        conn.execute(
            text(
                "SELECT slot, hostname, pid, state FROM run_hosts WHERE run_id = :run ORDER BY slot"
            ),
            {"run": run_id},
        ).all()
    )


def create_hosts_run(
    conn: Connection, name: str, hosts: int, config_json: str, command_line: str, qps: float | None
) -> int:
    from capture.store.database import new_run_key

    run_id = conn.execute(
        text(
            "INSERT INTO runs (name, started_at, status, command_line, config_json, hostname,"
            " pid, capture_version, qps_asked, run_key, hosts)"
            f" VALUES (:name, {NOW}, 'waiting', :command_line, :config_json, :hostname,"
            " :pid, :version, :qps, :key, :hosts) RETURNING id"
        ),
        {
            "name": name,
            "command_line": command_line,
            "config_json": config_json,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "qps": qps,
            "key": new_run_key(),
            "hosts": hosts,
        },
    ).scalar_one()
    return int(run_id)


def take_slot(conn: Connection, name: str, hosts: int, run_id: int, slot: int | None) -> int:
    """Inserts this host's slot row; a slot whose host is gone is taken over."""
    rows = {r.slot: r for r in _slots(conn, run_id)}
    wanted = [slot] if slot is not None else [s for s in range(hosts) if s not in rows]
    if not wanted:  # every slot has a row: take one whose host is gone, if any
        wanted = list(rows)
    for candidate in wanted:
        held = rows.get(candidate)
        if held is not None:
            if not conn.execute(text(_TRY_SLOT), {"run": run_id, "slot": candidate}).scalar():
                continue
            conn.execute(
                text("DELETE FROM run_hosts WHERE run_id = :run AND slot = :slot"),
                {"run": run_id, "slot": candidate},
            )
        conn.execute(
            text(
                "INSERT INTO run_hosts (run_id, slot, hostname, pid, state, joined_at,"
                f" heartbeat_at) VALUES (:run, :slot, :hostname, :pid, 'waiting', {NOW}, {NOW})"
            ),
            {
                "run": run_id,
                "slot": candidate,
                "hostname": socket.gethostname(),
                "pid": os.getpid(),
            },
        )
        return candidate
    if slot is not None:
        raise HostsError(f"slot {slot} of run {name!r} is taken: {_holders([rows[slot]])}")
    raise HostsError(f"run {name!r} already has its {hosts} hosts: {_holders(list(rows.values()))}")


def barrier_text(name: str, hosts: int, timeout_s: float, rows: Sequence[Any]) -> str:
    """Says which slots never came and which did, in one line."""
    joined = {r.slot for r in rows}
    missing = [str(s) for s in range(hosts) if s not in joined]
    unready = [f"{r.slot} on {r.hostname}" for r in rows if r.state == "waiting"]
    parts = []
    if missing:
        parts.append(f"slot {', '.join(missing)} never joined")
    if unready:
        parts.append(f"slot {', '.join(unready)} joined but was not ready")
    came = ", ".join(f"{r.slot} on {r.hostname} (pid {r.pid})" for r in rows) or "none"
    return (
        f"run {name!r} gave up after {timeout_s:g} s at the barrier: {'; '.join(parts)}"
        f" of {hosts} (joined: {came}); nothing was sent"
    )


def slot_counts(conn: Connection, run_id: int, slot: int) -> dict[str, int]:
    """Counts a slot's stored rows: requests, failed, failures."""
    total, failed = conn.execute(
        text(
            "SELECT count(*), coalesce(sum(failed), 0) FROM requests"
            " WHERE run_id = :run AND host = :slot"
        ),
        {"run": run_id, "slot": slot},
    ).one()
    stored = conn.execute(
        text(
            "SELECT count(*) FROM failures f JOIN requests r ON r.id = f.request_id"
            " WHERE f.run_id = :run AND r.host = :slot"
        ),
        {"run": run_id, "slot": slot},
    ).scalar_one()
    return {"requests_total": total, "failed_total": failed, "failures_stored": stored}


def slot_sockets(conn: Connection, run_id: int, slot: int) -> int:
    """Counts a slot's TCP connections (their ids are unique in the run)."""
    found = conn.execute(
        text(
            "SELECT count(DISTINCT connection_id) FROM requests"
            " WHERE run_id = :run AND host = :slot"
        ),
        {"run": run_id, "slot": slot},
    ).scalar_one()
    return int(found)


def mark_lost(conn: Connection, run_id: int, mine: int) -> list[str]:
    """Marks lost every other open slot whose lock is free; returns a line for each."""
    lost = []
    for row in _slots(conn, run_id):
        if row.slot == mine or row.state not in _OPEN_STATES:
            continue
        if not conn.execute(text(_TRY_SLOT), {"run": run_id, "slot": row.slot}).scalar():
            continue  # its host still holds it: alive
        counts = slot_counts(conn, run_id, row.slot)
        why = (
            f"slot {row.slot} on {row.hostname} (pid {row.pid}) was lost while {row.state}: its"
            f" process or its connection to the database died; it had stored"
            f" {counts['requests_total']} requests ({counts['failed_total']} failed)"
        )
        conn.execute(
            text(
                f"UPDATE run_hosts SET state = 'lost', finished_at = {NOW}, error = :why,"
                " requests_total = :requests_total, failed_total = :failed_total,"
                " failures_stored = :failures_stored, failures_dropped = 0"
                " WHERE run_id = :run AND slot = :slot"
            ),
            {"why": why, "run": run_id, "slot": row.slot, **counts},
        )
        lost.append(why)
    return lost


def finish_hosts_run(conn: Connection, run_id: int, ending: Ending) -> None:
    """Finishes the run row when every slot has ended; its totals counted from the rows."""
    status = conn.execute(
        text("SELECT status FROM runs WHERE id = :run FOR UPDATE"), {"run": run_id}
    ).scalar_one()
    rows = conn.execute(
        text(
            "SELECT state, duration_s, cpu_s, aborted_total, failures_dropped, error"
            " FROM run_hosts WHERE run_id = :run ORDER BY slot"
        ),
        {"run": run_id},
    ).all()
    if status != "running" or any(r.state in _OPEN_STATES for r in rows):
        return
    states = {r.state for r in rows}
    ending.lost = [str(r.error) for r in rows if r.state == "lost"]
    ending.slots = hosts_cell([{"state": r.state} for r in rows])
    if states & {"lost", "failed"}:
        ending.run_status = "failed"
    elif "interrupted" in states:
        ending.run_status = "interrupted"
    else:
        ending.run_status = "completed"
    total, failed, sockets = conn.execute(
        text(
            "SELECT count(*), coalesce(sum(failed), 0), count(DISTINCT connection_id)"
            " FROM requests WHERE run_id = :run"
        ),
        {"run": run_id},
    ).one()
    stored = conn.execute(
        text("SELECT count(*) FROM failures WHERE run_id = :run"), {"run": run_id}
    ).scalar_one()
    ending.totals = {
        "requests_total": int(total),
        "ok_total": int(total) - int(failed),
        "failed_total": int(failed),
        "failures_stored": int(stored),
        "sockets_used": int(sockets),
        "failures_dropped": sum(r.failures_dropped or 0 for r in rows),
        "aborted_total": sum(r.aborted_total or 0 for r in rows),
    }
    conn.execute(
        text(
            f"UPDATE runs SET status = :status, finished_at = {NOW}, duration_s = :duration,"
            " cpu_s = :cpu, requests_total = :requests_total, ok_total = :ok_total,"
            " failed_total = :failed_total, failures_stored = :failures_stored,"
            " failures_dropped = :failures_dropped, aborted_total = :aborted_total,"
            " sockets_used = :sockets_used WHERE id = :run"
        ),
        {
            "status": ending.run_status,
            "duration": max((r.duration_s or 0.0) for r in rows),
            "cpu": sum(r.cpu_s or 0.0 for r in rows),
            "run": run_id,
            **ending.totals,
        },
    )


def hosts_cell(slots: Sequence[dict[str, Any]]) -> str:
    """Returns the `hosts` cell of `capture runs`: '3 finished, 1 lost' (in slot order)."""
    counts: dict[str, int] = {}
    for entry in slots:
        counts[str(entry["state"])] = counts.get(str(entry["state"]), 0) + 1
    return ", ".join(f"{n} {state}" for state, n in counts.items())
