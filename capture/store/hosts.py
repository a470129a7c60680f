"""The hosts of a --hosts run meet in PostgreSQL: no protocol of their own, no launcher.

Each host claims a slot of the run named --name (claims of one name are serialized by
an advisory transaction lock on it), holds the session advisory lock (run id, slot) on
its own connection for its life, and beats on that connection. When every slot is
ready, the last host sets runs.started_at to the database's clock plus START_LEAD_S:
every host starts at that instant, measured on its own clock through its offset to the
database's. A host that ends looks at the other slots: one whose lock it can take has
lost its process or its connection, and is marked lost with what it had stored. The
last host to end finishes the run row, its totals counted from the rows.

host_states() is the read side (`capture runs`): plain SQL with ? placeholders on an
sqlite3-like connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from capture.store.host_sql import (
    HEARTBEAT_S,
    ISO,
    NAME_LOCK,
    NOW,
    POLL_S,
    START_LEAD_S,
    WAITING,
    BarrierTimeout,
    Ending,
    HostsError,
    barrier_text,
    clock_offset,
    config_difference,
    create_hosts_run,
    epoch,
    finish_hosts_run,
    hosts_cell,
    mark_lost,
    run_to_join,
    slot_counts,
    slot_sockets,
    take_slot,
    text,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

__all__ = [
    "HEARTBEAT_S",
    "BarrierTimeout",
    "Ending",
    "HostSlot",
    "HostsError",
    "config_difference",
    "host_states",
    "hosts_cell",
    "hosts_text",
]

log = logging.getLogger("capture")


class HostSlot:
    """This host's slot in a --hosts run, on a connection of its own for its whole life."""

    def __init__(self, conn: Connection, name: str, hosts: int, run_id: int, slot: int) -> None:
        self._conn = conn
        self._lock = threading.Lock()  # the connection is shared with the heartbeat
        self.name, self.hosts, self.run_id, self.slot = name, hosts, run_id, slot
        self.offset_s = 0.0  # the database's clock minus ours
        self._beating = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: Callable[[], int] = lambda: 0  # this host's failures so far
        self.on_limit: Callable[[], None] = lambda: None  # halts this host's processes
        self.run_failures = 0  # the run's, as of the last beat

    @classmethod
    def claim(
        cls,
        engine: Engine,
        *,
        name: str,
        hosts: int,
        slot: int | None,
        config_json: str,
        command_line: str,
        qps: float | None,
    ) -> HostSlot:
        """Joins the waiting run of this name (or creates it) and takes a slot of it."""
        conn = engine.connect()
        try:
            offset = clock_offset(conn)
            with conn.begin():
                conn.execute(text(NAME_LOCK), {"name": name})
                run_id = run_to_join(conn, name, hosts, config_json)
                if run_id is None:
                    run_id = create_hosts_run(conn, name, hosts, config_json, command_line, qps)
                taken = take_slot(conn, name, hosts, run_id, slot)
                # Session-level: it outlives this transaction and ends with the connection.
                conn.execute(
                    text("SELECT pg_advisory_lock(CAST(:run AS integer), :slot)"),
                    {"run": run_id, "slot": taken},
                )
        except BaseException:
            conn.invalidate()  # closes it for good: a pooled connection would keep the lock
            conn.close()
            raise
        host = cls(conn, name, hosts, run_id, taken)
        host.offset_s = offset
        return host

    def start_beating(self, limit: int | None) -> None:
        """Beats every HEARTBEAT_S: heartbeat_at, this host's failures, the run's sum; calls
        on_limit() once the run's failures reach limit (--stop-after-failures)."""

        def beat() -> None:
            while not self._beating.wait(HEARTBEAT_S):
                total = self._beat()
                if limit is not None and total is not None and total >= limit:
                    self.on_limit()

        self._thread = threading.Thread(target=beat, name="capture-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> int | None:
        """One heartbeat; returns the run's failures, or None when the database failed."""
        try:
            with self._lock:
                if self._beating.is_set():  # the host is ending: its connection may be gone
                    return None
                return self._beat_once()
        except Exception as exc:  # a server gone: the run goes on, the others will see it
            log.warning("capture: note: heartbeat of slot %d failed: %s", self.slot, exc)
            return None

    def _beat_once(self) -> int:
        """Writes this host's beat and failures; returns the run's failures."""
        with self._conn.begin():
            self._conn.execute(
                text(
                    f"UPDATE run_hosts SET heartbeat_at = {NOW}, failed_total = :failed"
                    " WHERE run_id = :run AND slot = :slot"
                ),
                {"failed": self.failures(), **self._key()},
            )
            total = self._conn.execute(
                text("SELECT coalesce(sum(failed_total), 0) FROM run_hosts WHERE run_id = :run"),
                self._key(),
            ).scalar_one()
        self.run_failures = int(total)
        return self.run_failures

    def _key(self) -> dict[str, int]:
        return {"run": self.run_id, "slot": self.slot}

    def await_start(
        self, timeout_s: float, claimed_at: float, stopping: Callable[[], bool]
    ) -> float:
        """Says this host is ready and waits for the others; returns the start on our clock.

        Raises BarrierTimeout when they have not all come within timeout_s of the claim
        (time.monotonic() claimed_at), KeyboardInterrupt when stopping() says so."""
        self._ready()
        deadline = claimed_at + timeout_s
        while True:
            if stopping():
                raise KeyboardInterrupt
            with self._lock, self._conn.begin():
                status, started = self._conn.execute(
                    text("SELECT status, started_at FROM runs WHERE id = :run"), self._key()
                ).one()
            if status == "running":
                return epoch(started) - self.offset_s
            if status != WAITING or time.monotonic() > deadline:
                raise BarrierTimeout(self._give_up(timeout_s))
            time.sleep(POLL_S)

    def _ready(self) -> None:
        """Marks this slot ready; the last of the run's slots to be ready sets the start."""
        with self._lock, self._conn.begin():
            self._conn.execute(text(NAME_LOCK), {"name": self.name})
            self._conn.execute(
                text("UPDATE run_hosts SET state = 'ready' WHERE run_id = :run AND slot = :slot"),
                self._key(),
            )
            ready = self._conn.execute(
                text("SELECT count(*) FROM run_hosts WHERE run_id = :run AND state = 'ready'"),
                self._key(),
            ).scalar_one()
            if ready == self.hosts:
                start = ISO.format("clock_timestamp() + make_interval(secs => :lead)")
                self._conn.execute(
                    text(
                        f"UPDATE runs SET status = 'running', started_at = {start}"
                        " WHERE id = :run AND status = 'waiting'"
                    ),
                    {"lead": START_LEAD_S, **self._key()},
                )

    def _give_up(self, timeout_s: float) -> str:
        """Fails the run at the barrier (unless another host did); returns why, in one line."""
        with self._lock, self._conn.begin():
            self._conn.execute(text(NAME_LOCK), {"name": self.name})
            status = self._conn.execute(
                text("SELECT status FROM runs WHERE id = :run"), self._key()
            ).scalar_one()
            if status != WAITING:  # another host gave up first: its reason is ours
                why = self._conn.execute(
                    text(
                        "SELECT error FROM run_hosts WHERE run_id = :run AND error IS NOT NULL"
                        " ORDER BY slot LIMIT 1"
                    ),
                    self._key(),
                ).scalar()
                return str(why or f"run {self.name!r} is {status}")
            rows = self._conn.execute(
                text(
                    "SELECT slot, hostname, pid, state FROM run_hosts WHERE run_id = :run"
                    " ORDER BY slot"
                ),
                self._key(),
            ).all()
            why = barrier_text(self.name, self.hosts, timeout_s, rows)
            self._conn.execute(
                text(
                    f"UPDATE run_hosts SET state = 'gave_up', finished_at = {NOW}, error = :why,"
                    " requests_total = 0, failed_total = 0, failures_stored = 0,"
                    " failures_dropped = 0, aborted_total = 0 WHERE run_id = :run"
                ),
                {"why": why, **self._key()},
            )
            self._conn.execute(
                text(
                    f"UPDATE runs SET status = 'failed', finished_at = {NOW}, duration_s = 0,"
                    " requests_total = 0, ok_total = 0, failed_total = 0, failures_stored = 0,"
                    " failures_dropped = 0, aborted_total = 0, sockets_used = 0 WHERE id = :run"
                ),
                self._key(),
            )
        return why

    def started(self) -> None:
        """Marks this slot running: its host is sending."""
        with self._lock, self._conn.begin():
            self._conn.execute(
                text(
                    f"UPDATE run_hosts SET state = 'running', heartbeat_at = {NOW}"
                    " WHERE run_id = :run AND slot = :slot"
                ),
                self._key(),
            )

    def leave(self) -> None:
        """Gives the slot back before the start (Ctrl-C at the barrier, a failed set-up)."""
        try:
            with self._lock, self._conn.begin():
                self._conn.execute(text(NAME_LOCK), {"name": self.name})
                self._conn.execute(
                    text(
                        "DELETE FROM run_hosts WHERE run_id = :run AND slot = :slot"
                        " AND state IN ('waiting', 'ready')"
                    ),
                    self._key(),
                )
        finally:
            self.close()

    def finish(self, state: str, values: dict[str, Any]) -> Ending:
        """Records this host's end, marks the lost, and finishes the run if it is the last.

        values: duration_s, cpu_s, aborted_total, failures_dropped, error."""
        self._stop_beating()
        with self._lock, self._conn.begin():
            counts = slot_counts(self._conn, self.run_id, self.slot)
            own = {**counts, "sockets_used": slot_sockets(self._conn, self.run_id, self.slot)}
            self._conn.execute(
                text(
                    f"UPDATE run_hosts SET state = :state, finished_at = {NOW},"
                    f" heartbeat_at = {NOW}, requests_total = :requests_total,"
                    " failed_total = :failed_total, failures_stored = :failures_stored,"
                    " failures_dropped = :failures_dropped, aborted_total = :aborted_total,"
                    " duration_s = :duration_s, cpu_s = :cpu_s, error = :error"
                    " WHERE run_id = :run AND slot = :slot"
                ),
                {"state": state, **counts, **values, **self._key()},
            )
        with self._lock, self._conn.begin():
            self._conn.execute(text(NAME_LOCK), {"name": self.name})
            ending = Ending(own=own, lost=mark_lost(self._conn, self.run_id, self.slot))
            finish_hosts_run(self._conn, self.run_id, ending)
        return ending

    def _stop_beating(self) -> None:
        """Stops the heartbeat and waits for a beat in progress (bounded)."""
        self._beating.set()
        if self._thread is not None:
            self._thread.join(HEARTBEAT_S * 4)

    def close(self) -> None:
        """Ends the connection, and with it the slot's lock."""
        self._stop_beating()  # a beat on a closed connection was a 'heartbeat failed' note
        with self._lock:
            self._conn.invalidate()
            self._conn.close()


def host_states(conn: Any, run_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Returns each run's host slots (slot, hostname, state, requests, failures, error),
    read through an sqlite3-like connection; runs without slots are left out."""
    found: dict[int, list[dict[str, Any]]] = {}
    if not run_ids:
        return found
    marks = ", ".join("?" for _ in run_ids)
    cursor = conn.execute(
        "SELECT run_id, slot, hostname, state, requests_total, failed_total, error"
        f" FROM run_hosts WHERE run_id IN ({marks}) ORDER BY run_id, slot",
        tuple(run_ids),
    )
    for run_id, slot, hostname, state, requests, failures, error in cursor.fetchall():
        found.setdefault(int(run_id), []).append(
            {
                "slot": slot,
                "hostname": hostname,
                "state": state,
                "requests": requests,
                "failures": failures,
                "error": error,
            }
        )
    return found


def hosts_text(slots: Sequence[dict[str, Any]] | None) -> str | None:
    """Returns hosts_cell(slots), or None for a run of one host."""
    return None if slots is None else hosts_cell(slots)
