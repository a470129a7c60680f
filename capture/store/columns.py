"""The one list of a capture file's tables, columns and indexes (docs/schema.md).

Plain data, no SQLAlchemy: schema.py builds the SQLAlchemy tables from it (and
`alembic check` proves them equal to the migrations), the writer builds its INSERTs
from it, and the read side (queries.py, report.py), which must start without
SQLAlchemy, names its columns through select_list() so a renamed column fails on
import, not in front of a user.
"""

from __future__ import annotations

from capture.store.columns_hosts import RUN_HOSTS
from capture.store.spec import ColumnSpec, IndexSpec, TableSpec, select_list

__all__ = [
    "FAILURES",
    "REQUESTS",
    "RUNS",
    "RUN_HOSTS",
    "TABLES",
    "ColumnSpec",
    "IndexSpec",
    "TableSpec",
    "select_list",
]

RUNS = TableSpec(
    "runs",
    (
        ColumnSpec("id", "integer", primary_key=True, nullable=False, doc="run id (primary key)"),
        ColumnSpec("name", "text", doc="--name, or NULL"),
        ColumnSpec("started_at", "text", nullable=False, doc="when the run started (UTC)"),
        ColumnSpec("finished_at", "text", doc="when it ended; NULL while running or after a crash"),
        ColumnSpec(
            "status",
            "text",
            nullable=False,
            doc=(
                "waiting (a --hosts run whose hosts have not all come: the barrier), running, "
                "completed, interrupted (SIGINT/SIGTERM), failed (a storage error such as "
                "a full disk stopped it, or a process of a --procs run was lost, exit 6: see the "
                'README\'s "Crash safety and storage errors"; or a host of a --hosts run was lost, '
                'or its hosts did not all come in --barrier-timeout: README, "Running on many '
                'hosts"). A run left running whose process is '
                "gone crashed; capture runs shows it as crashed."
            ),
        ),
        ColumnSpec("command_line", "text", doc="the command as typed"),
        ColumnSpec(
            "config_json",
            "text",
            doc=(
                "the full run configuration as JSON (secret header values redacted; request bodies "
                "given as their size)"
            ),
        ),
        ColumnSpec("hostname", "text", doc="host the run ran on"),
        ColumnSpec("pid", "integer", doc="process id of the run"),
        ColumnSpec("capture_version", "text", doc="version of capture that wrote the run"),
        ColumnSpec(
            "duration_s", "real", doc="wall time from first send to the end of the run, seconds"
        ),
        ColumnSpec(
            "qps_asked",
            "real",
            doc=(
                "--qps, or NULL for as fast as possible; for --qps FROM:TO or --stages, the "
                "schedule's mean: planned requests / its duration (with -n below the planned "
                "count: those n over the time the schedule gives them); the schedule itself "
                "is config_json's schedule (kind, segments as [duration_s, from_qps, to_qps], "
                "label, planned, mean_qps)"
            ),
        ),
        ColumnSpec(
            "requests_total", "integer", doc="requests sent and recorded (= rows in requests)"
        ),
        ColumnSpec("ok_total", "integer", doc="of those, not failed"),
        ColumnSpec("failed_total", "integer", doc="of those, failed"),
        ColumnSpec("failures_stored", "integer", doc="rows in failures for this run"),
        ColumnSpec(
            "failures_dropped",
            "integer",
            doc=(
                "failed requests stored as a requests row only: their failures row could not be "
                "stored (disk full, ...)"
            ),
        ),
        ColumnSpec(
            "aborted_total",
            "integer",
            doc=(
                "requests abandoned in flight by a second Ctrl-C or an expired --grace: sent, "
                "outcome unknown, no row"
            ),
        ),
        ColumnSpec(
            "sockets_used",
            "integer",
            doc=(
                "TCP connections the run opened and used (distinct requests.connection_id), not "
                "client ports: the kernel may give two connections the same port (revision 0003; "
                "before it, distinct local_addr)"
            ),
        ),
        ColumnSpec(
            "run_key",
            "text",
            doc=(
                "short random key of the run, the first part of every correlation_id (KEY-SEQ), "
                "so ids are unique across files and hosts (revision 0003; NULL for older runs)"
            ),
        ),
        ColumnSpec(
            "cpu_s",
            "real",
            doc=(
                "CPU seconds (user + system, all threads) that capture's own processes used "
                "during the run, summed over the processes of a --procs run: each counts from "
                "its start of sending to the end of its share. cpu_s / (duration_s x processes) "
                '≥ 0.8 flags the client as the limit (README: "Is the client the limit?") '
                "(revision 0003; NULL for older runs)"
            ),
        ),
        ColumnSpec(
            "hosts",
            "integer",
            doc=(
                "--hosts N of a run sent from N hosts (one row each in run_hosts), or of a run "
                "made by capture merge; NULL for a run of one host (revision 0004)"
            ),
        ),
    ),
    doc="one row per capture run",
)

REQUESTS = TableSpec(
    "requests",
    (
        ColumnSpec(
            "id",
            "integer",
            primary_key=True,
            nullable=False,
            doc="primary key, unique across runs in the file",
        ),
        ColumnSpec("run_id", "integer", references="runs.id", nullable=False, doc="→ runs.id"),
        ColumnSpec(
            "seq",
            "integer",
            nullable=False,
            doc="sequence number within the run, from 1 (unique per run; gaps are seqs never sent)",
        ),
        ColumnSpec("worker", "integer", nullable=False, doc="worker thread, from 0"),
        ColumnSpec(
            "session",
            "integer",
            nullable=False,
            doc=(
                "pool slot (session) used, from 0, unique across the processes of a --procs run: "
                "process P's sessions are P x --connections onwards (revision 0003; before it "
                "each process counted from 0)"
            ),
        ),
        ColumnSpec("method", "text", nullable=False, doc="HTTP method"),
        ColumnSpec(
            "url",
            "text",
            nullable=False,
            doc="URL as configured (the target; redirects are not reflected)",
        ),
        ColumnSpec("started_at", "text", nullable=False, doc="when the request started (UTC)"),
        ColumnSpec(
            "offset_ms", "real", nullable=False, doc="start, milliseconds after the run started"
        ),
        ColumnSpec(
            "lag_ms",
            "real",
            doc=(
                "with --qps or --stages: actual start minus intended start, ms, waiting for a "
                "free session included (coordinated omission made visible); seq k is intended "
                "at (k - 1) / qps, or on a ramp or stages when the planned count (the rate's "
                "integral) reaches k - 1: offset_ms - lag_ms. NULL without --qps or --stages"
            ),
        ),
        ColumnSpec("wait_ms", "real", nullable=False, doc="time waiting for a free session, ms"),
        ColumnSpec(
            "connect_ms",
            "real",
            doc="TCP (+TLS) connect time when this request opened a new connection, else NULL",
        ),
        ColumnSpec(
            "ttfb_ms",
            "real",
            doc="start to status line and headers parsed, ms; NULL when no response",
        ),
        ColumnSpec(
            "latency_ms",
            "real",
            nullable=False,
            doc="start to body fully read (or to the error), ms",
        ),
        ColumnSpec("status", "integer", doc="HTTP status; NULL when no response arrived"),
        ColumnSpec("error_kind", "text", doc="NULL, or a kind from the vocabulary below"),
        ColumnSpec("failed", "integer", nullable=False, doc="1 when the request counts as failed"),
        ColumnSpec(
            "bytes_in",
            "integer",
            nullable=False,
            doc="response body bytes received on the wire (before decoding); headers not counted",
        ),
        ColumnSpec(
            "local_addr", "text", doc="client socket ip:port; NULL when no connection was made"
        ),
        ColumnSpec(
            "remote_addr", "text", doc="server socket ip:port; NULL when no connection was made"
        ),
        ColumnSpec(
            "connection_no", "integer", doc="which connection of this session (1 = its first)"
        ),
        ColumnSpec(
            "connection_request_no",
            "integer",
            doc=(
                "position on that connection (the tables' req# on conn): 1 = first request on a "
                "fresh connection, 2+ = reused keep-alive"
            ),
        ),
        ColumnSpec(
            "correlation_id",
            "text",
            doc=(
                "the --id-header value sent (KEY-SEQ, KEY = runs.run_key; RUN-SEQ before "
                "revision 0003), or NULL"
            ),
        ),
        ColumnSpec(
            "process",
            "integer",
            doc=(
                "which process of the run sent it: 0 without --procs, else 0 to N-1 (revision 0003)"
            ),
        ),
        ColumnSpec(
            "connection_id",
            "integer",
            doc=(
                "the TCP connection that carried it, unique within the run across processes: "
                "(connection_no - 1) x S + session + 1, where S is the run's sessions in all its "
                "processes. NULL when no connection was made. Two connections that happened to "
                "get the same client port have different ids (revision 0003)"
            ),
        ),
        ColumnSpec(
            "host",
            "integer",
            nullable=False,
            default="0",
            doc=(
                "the host slot that sent it, 0 to N-1 in a --hosts N run (→ run_hosts.slot); "
                "0 for a run of one host (revision 0004)"
            ),
        ),
        ColumnSpec(
            "backend",
            "text",
            doc=(
                "which backend answered: the first of the run's --backend-header names that the "
                "response carried, as Name: value (X-Served-By: backend-1): the name as given, "
                "the value as latin-1 text (repeats joined by a comma and a space, a NUL as "
                "U+FFFD) cut to 200 characters. NULL when no response arrived, it carried none "
                "of them, or with --backend-header none (revision 0005; NULL for older rows)"
            ),
        ),
    ),
    (
        IndexSpec(("run_id", "seq"), unique=True),
        IndexSpec(("run_id", "failed", "status")),
        IndexSpec(("run_id", "local_addr")),
        IndexSpec(("run_id", "error_kind")),
        IndexSpec(("run_id", "failed", "latency_ms")),
        IndexSpec(("run_id", "connection_id")),
    ),
    doc="one light row for every request sent, failed or not",
)

FAILURES = TableSpec(
    "failures",
    (
        ColumnSpec(
            "request_id",
            "integer",
            primary_key=True,
            nullable=False,
            references="requests.id",
            doc="→ requests.id (primary key)",
        ),
        ColumnSpec("run_id", "integer", references="runs.id", nullable=False, doc="→ runs.id"),
        ColumnSpec("reason", "text", doc="reason phrase of the status line, or NULL"),
        ColumnSpec("http_version", "text", doc="HTTP/1.1, HTTP/1.0, or NULL"),
        ColumnSpec(
            "request_headers",
            "text",
            nullable=False,
            doc=(
                "JSON [name, value] pairs as handed to the connection (urllib3 adds Host and "
                "Content-Length on the wire)"
            ),
        ),
        ColumnSpec("request_body", "blob", doc="request body, up to --max-body bytes"),
        ColumnSpec(
            "response_headers",
            "text",
            doc="JSON [name, value] pairs in wire order, duplicates kept; NULL when no response",
        ),
        ColumnSpec(
            "body",
            "blob",
            doc=(
                "response body, up to --max-body bytes (default 64 KiB). Decoded when "
                "Content-Encoding is gzip or deflate and decodes; the raw wire bytes otherwise"
            ),
        ),
        ColumnSpec(
            "body_size",
            "integer",
            doc="body bytes received on the wire in full (may exceed what is stored)",
        ),
        ColumnSpec(
            "body_truncated",
            "integer",
            nullable=False,
            doc="1 when body holds less than the whole body",
        ),
        ColumnSpec("content_type", "text", doc="Content-Type response header"),
        ColumnSpec("content_encoding", "text", doc="Content-Encoding response header"),
        ColumnSpec(
            "error_class", "text", doc="exception class (module and name) for transport errors"
        ),
        ColumnSpec("error_message", "text", doc="exception message (first 4000 characters)"),
        ColumnSpec(
            "body_signature",
            "text",
            doc=(
                "the first 160 characters of the body (or, with no body, of the error message) with"
                " numbers, UUIDs, long hex ids, IP addresses and timestamps masked: order 123 not "
                "found → order # not found. capture summary groups failures by it (revision 0002)"
            ),
        ),
    ),
    (IndexSpec(("run_id",)),),
    doc="the full evidence of each failed request",
)

TABLES = (RUNS, REQUESTS, FAILURES, RUN_HOSTS)
