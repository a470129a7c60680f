"""SQLAlchemy Core tables: the public schema of a capture file (see docs/schema.md).

The migrations under migrations/versions create exactly these tables; a test runs
`alembic check` to prove the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)

from capture.store.revisions import REVISIONS

__all__ = ["REVISIONS", "failures", "metadata", "requests", "runs"]


# Every constraint named, so batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text),
    Column("status", Text, nullable=False),
    Column("command_line", Text),
    Column("config_json", Text),
    Column("hostname", Text),
    Column("pid", Integer),
    Column("capture_version", Text),
    Column("duration_s", Float),
    Column("qps_asked", Float),
    Column("requests_total", Integer),
    Column("ok_total", Integer),
    Column("failed_total", Integer),
    Column("failures_stored", Integer),
    Column("failures_dropped", Integer),
    Column("aborted_total", Integer),
    Column("sockets_used", Integer),
)

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("worker", Integer, nullable=False),
    Column("session", Integer, nullable=False),
    Column("method", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("offset_ms", Float, nullable=False),
    Column("lag_ms", Float),
    Column("wait_ms", Float, nullable=False),
    Column("connect_ms", Float),
    Column("ttfb_ms", Float),
    Column("latency_ms", Float, nullable=False),
    Column("status", Integer),
    Column("error_kind", Text),
    Column("failed", Integer, nullable=False),
    Column("bytes_in", Integer, nullable=False),
    Column("local_addr", Text),
    Column("remote_addr", Text),
    Column("connection_no", Integer),
    Column("connection_request_no", Integer),
    Column("correlation_id", Text),
    Index(None, "run_id", "seq", unique=True),
    Index(None, "run_id", "failed", "status"),
    Index(None, "run_id", "local_addr"),
    Index(None, "run_id", "error_kind"),
    Index(None, "run_id", "failed", "latency_ms"),
)

failures = Table(
    "failures",
    metadata,
    Column(
        "request_id",
        Integer,
        ForeignKey("requests.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("reason", Text),
    Column("http_version", Text),
    Column("request_headers", Text, nullable=False),
    Column("request_body", LargeBinary),
    Column("response_headers", Text),
    Column("body", LargeBinary),
    Column("body_size", Integer),
    Column("body_truncated", Integer, nullable=False),
    Column("content_type", Text),
    Column("content_encoding", Text),
    Column("error_class", Text),
    Column("error_message", Text),
    Column("body_signature", Text),
    Index(None, "run_id"),
)
