"""Connection identity (process, connection_id), run key and client CPU.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Older rows are filled in where they can be computed: a run of one process gets
process 0 and its connection ids from (session, connection_no) and its --connections;
a --procs run's rows keep NULL, because their session numbers repeat across processes
and nothing says which process sent a row. Such a run's sockets_used keeps its old
meaning (distinct client ports); every other run's counts its connections.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TEXTUAL = (
    "f.content_type LIKE 'text/%' OR f.content_type LIKE '%json%'"
    " OR f.content_type LIKE '%xml%' OR f.content_type LIKE '%javascript%'"
    " OR f.content_type LIKE '%x-www-form-urlencoded%'"
)


def _failure_details(identity: bool) -> str:
    extra = "r.process AS process, r.connection_id AS connection_id, " if identity else ""
    return f"""
        SELECT r.id AS id, r.run_id AS run_id, r.seq AS seq, r.started_at AS started_at,
               r.offset_ms AS offset_ms, r.method AS method, r.url AS url, r.status AS status,
               r.error_kind AS error_kind, r.latency_ms AS latency_ms, r.ttfb_ms AS ttfb_ms,
               r.bytes_in AS bytes_in, r.local_addr AS local_addr, r.remote_addr AS remote_addr,
               {extra}r.session AS session, r.connection_no AS connection_no,
               r.connection_request_no AS connection_request_no,
               r.correlation_id AS correlation_id, f.reason AS reason,
               f.http_version AS http_version, f.content_type AS content_type,
               f.content_encoding AS content_encoding, f.body_size AS body_size,
               f.body_truncated AS body_truncated, f.body_signature AS body_signature,
               CASE WHEN {_TEXTUAL} THEN CAST(f.body AS TEXT) END AS body_text,
               f.response_headers AS response_headers, f.request_headers AS request_headers,
               f.error_class AS error_class, f.error_message AS error_message
        FROM failures f JOIN requests r ON r.id = f.request_id"""


def _one_process_runs(conn: sa.Connection) -> list[tuple[int, int]]:
    """Returns (run id, sessions) of every run that ran in one process."""
    found = []
    for run_id, config_json in conn.execute(sa.text("SELECT id, config_json FROM runs")):
        try:
            config = json.loads(config_json or "")
        except ValueError:
            continue
        if not isinstance(config, dict):
            continue
        procs, sessions = config.get("procs", 1), config.get("connections")
        if procs == 1 and isinstance(sessions, int) and sessions > 0:
            found.append((run_id, sessions))
    return found


def _fill_identity(conn: sa.Connection) -> None:
    for run_id, sessions in _one_process_runs(conn):
        params = {"run": run_id, "sessions": sessions}
        conn.execute(
            sa.text(
                "UPDATE requests SET process = 0, connection_id = CASE"
                " WHEN connection_no IS NULL OR connection_no < 1 THEN NULL"
                " ELSE (connection_no - 1) * :sessions + session + 1 END"
                " WHERE run_id = :run"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE runs SET sockets_used = (SELECT count(DISTINCT connection_id)"
                " FROM requests WHERE run_id = :run) WHERE id = :run"
                " AND sockets_used IS NOT NULL"
            ),
            params,
        )


def upgrade() -> None:
    op.execute("DROP VIEW IF EXISTS failure_details")  # before the tables it reads change
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("run_key", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("cpu_s", sa.Float(), nullable=True))
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("process", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("connection_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_requests_run_id_connection_id"),
            ["run_id", "connection_id"],
            unique=False,
        )
    _fill_identity(op.get_bind())
    op.execute(f"CREATE VIEW failure_details AS {_failure_details(identity=True)}")


def _other_views(conn: sa.Connection) -> list[tuple[str, str]]:
    """Returns (name, CREATE VIEW text) of SQLite's views other than failure_details.

    Dropping a column makes SQLite's batch mode copy the table and rename the copy, and
    the rename fails while a view reads the table: they go and come back around it."""
    if conn.dialect.name != "sqlite":
        return []
    found = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
    )
    return [(name, sql) for name, sql in found if name != "failure_details"]


def downgrade() -> None:
    conn = op.get_bind()
    op.execute("DROP VIEW IF EXISTS failure_details")
    views = _other_views(conn)
    for name, _ in views:
        op.execute(f"DROP VIEW {name}")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_run_id_connection_id"))
        batch_op.drop_column("connection_id")
        batch_op.drop_column("process")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("cpu_s")
        batch_op.drop_column("run_key")
    for _, sql in views:
        op.execute(sql)
    op.execute(f"CREATE VIEW failure_details AS {_failure_details(identity=False)}")
