"""The run_hosts table's columns (docs/schema.md), beside columns.py's other tables."""

from __future__ import annotations

from capture.store.spec import ColumnSpec, TableSpec

__all__ = ["RUN_HOSTS"]

RUN_HOSTS = TableSpec(
    "run_hosts",
    (
        ColumnSpec(
            "run_id",
            "integer",
            primary_key=True,
            nullable=False,
            references="runs.id",
            doc="→ runs.id",
        ),
        ColumnSpec(
            "slot",
            "integer",
            primary_key=True,
            nullable=False,
            doc="the host's slot, 0 to N-1: it sends the sequence numbers ≡ slot (mod N)",
        ),
        ColumnSpec("hostname", "text", doc="the host that claimed the slot"),
        ColumnSpec("pid", "integer", doc="its process id"),
        ColumnSpec(
            "state",
            "text",
            nullable=False,
            doc=(
                "waiting (it claimed its slot), ready (set up, at the barrier), running, "
                "finished, interrupted, failed (its storage "
                "failed), lost (its process or its connection to the database died: another host "
                "noticed and counted what it had stored), gave_up (the barrier timed out)"
            ),
        ),
        ColumnSpec("joined_at", "text", doc="when it claimed the slot (database clock, UTC)"),
        ColumnSpec("finished_at", "text", doc="when it ended, or was found lost"),
        ColumnSpec(
            "heartbeat_at", "text", doc="the last time it said it was alive (database clock, UTC)"
        ),
        ColumnSpec(
            "requests_total",
            "integer",
            doc="rows in requests with this host slot, counted at its end",
        ),
        ColumnSpec("failed_total", "integer", doc="of those, failed"),
        ColumnSpec("failures_stored", "integer", doc="rows in failures of its failed requests"),
        ColumnSpec(
            "failures_dropped",
            "integer",
            doc="its failed requests stored as a requests row only (storage error)",
        ),
        ColumnSpec("aborted_total", "integer", doc="its requests abandoned in flight: no row"),
        ColumnSpec("duration_s", "real", doc="its sending time, seconds"),
        ColumnSpec("cpu_s", "real", doc="CPU seconds its processes used"),
        ColumnSpec("error", "text", doc="why it failed, was lost or gave up; NULL otherwise"),
    ),
    doc="one row per host slot of a --hosts run, or per file of a capture merge (revision 0004)",
)
