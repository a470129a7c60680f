"""The connections of a run, as `capture sockets` lists them: plain SQL on a read-only
connection (reader.py; pgread.py for PostgreSQL)."""

from __future__ import annotations

from capture.store.queries import resolve_runs, typed_rows
from capture.store.reader import ReadConnection, ReadOnly
from capture.store.rows import SocketRow

__all__ = ["socket_rows"]

# One row per TCP connection: two connections the kernel gave the same client port are
# two rows. Rows without a connection_id (no connection made, or an older --procs run:
# see docs/schema.md, revision 0003) fall back to one row per client socket.
_COLUMNS = """
run_id, min(connection_id) AS connection_id, min(process) AS process, min(session) AS session,
min(local_addr COLLATE BINARY) AS local_addr, min(remote_addr COLLATE BINARY) AS remote_addr,
count(*) AS requests, coalesce(sum(failed), 0) AS failures,
min(offset_ms) AS first_ms, max(offset_ms) AS last_ms,
group_concat(CASE WHEN failed = 1 THEN connection_request_no END) AS failed_at
"""
# Two parts, so that each groups in the order of the (run_id, connection_id) index and
# needs no sort of the run's rows: one GROUP BY over both (connection_id, or local_addr
# where it is NULL) sorted every row first, 1.7 of sockets' 2.7 s on a million (issue 15).
_SOCKETS = f"""
SELECT * FROM (
  SELECT {_COLUMNS} FROM requests
  WHERE {{runs}} AND connection_id IS NOT NULL GROUP BY run_id, connection_id
  UNION ALL
  SELECT {_COLUMNS} FROM requests INDEXED BY ix_requests_run_id_connection_id
  WHERE {{runs}} AND connection_id IS NULL GROUP BY run_id, local_addr
) AS found
ORDER BY run_id, connection_id IS NULL, connection_id, local_addr
"""


def socket_rows(db: ReadOnly, run_spec: str | None) -> tuple[list[int] | None, list[SocketRow]]:
    """Returns each TCP connection of a run (or of every run for 'all'): its id, process,
    sockets, requests, failures, first and last use; with the run ids asked for (None: all)."""
    with db.connect() as conn:
        run_ids = resolve_runs(conn, run_spec)
        return run_ids, _sockets(conn, run_ids)


def _sockets(conn: ReadConnection, run_ids: list[int] | None) -> list[SocketRow]:
    """Returns the connection rows, failed_at in ascending order.

    group_concat's order is whatever order the rows were read in, which a query plan
    (or another database) may change: sorted, the same rows give the same text."""
    # 'all' names the runs too: the index is searched run by run, never scanned whole.
    runs = (
        "run_id IN (SELECT id FROM runs)"
        if run_ids is None
        else f"run_id IN ({', '.join('?' * len(run_ids))})"
    )
    sql = _SOCKETS.format(runs=runs)
    rows = typed_rows(conn.execute(sql, [*(run_ids or ()), *(run_ids or ())]), SocketRow)
    for row in rows:
        if row["failed_at"]:
            numbers = sorted(int(n) for n in row["failed_at"].split(",") if n)
            row["failed_at"] = ",".join(map(str, numbers))
    return rows
