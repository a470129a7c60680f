"""The one list of a capture file's tables, columns and indexes (docs/schema.md).

Plain data, no SQLAlchemy: schema.py builds the SQLAlchemy tables from it (and
`alembic check` proves them equal to the migrations), the writer builds its INSERTs
from it, and the read side (queries.py, report.py), which must start without
SQLAlchemy, names its columns through select_list() so a renamed column fails on
import, not in front of a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FAILURES",
    "REQUESTS",
    "RUNS",
    "TABLES",
    "ColumnSpec",
    "IndexSpec",
    "TableSpec",
    "select_list",
]

ColumnType = Literal["integer", "real", "text", "blob"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its name, SQL type, nullability, and the key it is or points to."""

    name: str
    type: ColumnType
    nullable: bool = True
    primary_key: bool = False
    references: str | None = None  # "table.column", deleted with it (ON DELETE CASCADE)


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index over columns; its name comes from the naming convention in schema.py."""

    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its columns in stored order, and its indexes in creation order."""

    name: str
    columns: tuple[ColumnSpec, ...]
    indexes: tuple[IndexSpec, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Returns the column names in stored order."""
        return tuple(c.name for c in self.columns)

    def check(self, *names: str) -> tuple[str, ...]:
        """Returns names unchanged; raises KeyError for any that is not a column."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"{self.name} has no column {', '.join(unknown)}")
        return names


RUNS = TableSpec(
    "runs",
    (
        ColumnSpec("id", "integer", primary_key=True, nullable=False),
        ColumnSpec("name", "text"),
        ColumnSpec("started_at", "text", nullable=False),
        ColumnSpec("finished_at", "text"),
        ColumnSpec("status", "text", nullable=False),
        ColumnSpec("command_line", "text"),
        ColumnSpec("config_json", "text"),
        ColumnSpec("hostname", "text"),
        ColumnSpec("pid", "integer"),
        ColumnSpec("capture_version", "text"),
        ColumnSpec("duration_s", "real"),
        ColumnSpec("qps_asked", "real"),
        ColumnSpec("requests_total", "integer"),
        ColumnSpec("ok_total", "integer"),
        ColumnSpec("failed_total", "integer"),
        ColumnSpec("failures_stored", "integer"),
        ColumnSpec("failures_dropped", "integer"),
        ColumnSpec("aborted_total", "integer"),
        ColumnSpec("sockets_used", "integer"),
        ColumnSpec("run_key", "text"),
        ColumnSpec("cpu_s", "real"),
    ),
)

REQUESTS = TableSpec(
    "requests",
    (
        ColumnSpec("id", "integer", primary_key=True, nullable=False),
        ColumnSpec("run_id", "integer", references="runs.id", nullable=False),
        ColumnSpec("seq", "integer", nullable=False),
        ColumnSpec("worker", "integer", nullable=False),
        ColumnSpec("session", "integer", nullable=False),
        ColumnSpec("method", "text", nullable=False),
        ColumnSpec("url", "text", nullable=False),
        ColumnSpec("started_at", "text", nullable=False),
        ColumnSpec("offset_ms", "real", nullable=False),
        ColumnSpec("lag_ms", "real"),
        ColumnSpec("wait_ms", "real", nullable=False),
        ColumnSpec("connect_ms", "real"),
        ColumnSpec("ttfb_ms", "real"),
        ColumnSpec("latency_ms", "real", nullable=False),
        ColumnSpec("status", "integer"),
        ColumnSpec("error_kind", "text"),
        ColumnSpec("failed", "integer", nullable=False),
        ColumnSpec("bytes_in", "integer", nullable=False),
        ColumnSpec("local_addr", "text"),
        ColumnSpec("remote_addr", "text"),
        ColumnSpec("connection_no", "integer"),
        ColumnSpec("connection_request_no", "integer"),
        ColumnSpec("correlation_id", "text"),
        ColumnSpec("process", "integer"),
        ColumnSpec("connection_id", "integer"),
    ),
    (
        IndexSpec(("run_id", "seq"), unique=True),
        IndexSpec(("run_id", "failed", "status")),
        IndexSpec(("run_id", "local_addr")),
        IndexSpec(("run_id", "error_kind")),
        IndexSpec(("run_id", "failed", "latency_ms")),
        IndexSpec(("run_id", "connection_id")),
    ),
)

FAILURES = TableSpec(
    "failures",
    (
        ColumnSpec(
            "request_id", "integer", primary_key=True, nullable=False, references="requests.id"
        ),
        ColumnSpec("run_id", "integer", references="runs.id", nullable=False),
        ColumnSpec("reason", "text"),
        ColumnSpec("http_version", "text"),
        ColumnSpec("request_headers", "text", nullable=False),
        ColumnSpec("request_body", "blob"),
        ColumnSpec("response_headers", "text"),
        ColumnSpec("body", "blob"),
        ColumnSpec("body_size", "integer"),
        ColumnSpec("body_truncated", "integer", nullable=False),
        ColumnSpec("content_type", "text"),
        ColumnSpec("content_encoding", "text"),
        ColumnSpec("error_class", "text"),
        ColumnSpec("error_message", "text"),
        ColumnSpec("body_signature", "text"),
    ),
    (IndexSpec(("run_id",)),),
)

TABLES = (RUNS, REQUESTS, FAILURES)


def select_list(alias: str, table: TableSpec, *names: str) -> str:
    """Returns 'a.x, a.y' for columns of table; raises KeyError for a name it lacks."""
    return ", ".join(f"{alias}.{n}" for n in table.check(*names))
