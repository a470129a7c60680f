"""Initial schema: runs, requests, failures.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-25 16:21:37.706286
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("finished_at", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("command_line", sa.Text(), nullable=True),
        sa.Column("config_json", sa.Text(), nullable=True),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("capture_version", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("qps_asked", sa.Float(), nullable=True),
        sa.Column("requests_total", sa.Integer(), nullable=True),
        sa.Column("ok_total", sa.Integer(), nullable=True),
        sa.Column("failed_total", sa.Integer(), nullable=True),
        sa.Column("failures_stored", sa.Integer(), nullable=True),
        sa.Column("failures_dropped", sa.Integer(), nullable=True),
        sa.Column("aborted_total", sa.Integer(), nullable=True),
        sa.Column("sockets_used", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("worker", sa.Integer(), nullable=False),
        sa.Column("session", sa.Integer(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Text(), nullable=False),
        sa.Column("offset_ms", sa.Float(), nullable=False),
        sa.Column("lag_ms", sa.Float(), nullable=True),
        sa.Column("wait_ms", sa.Float(), nullable=False),
        sa.Column("connect_ms", sa.Float(), nullable=True),
        sa.Column("ttfb_ms", sa.Float(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error_kind", sa.Text(), nullable=True),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("bytes_in", sa.Integer(), nullable=False),
        sa.Column("local_addr", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.Text(), nullable=True),
        sa.Column("connection_no", sa.Integer(), nullable=True),
        sa.Column("connection_request_no", sa.Integer(), nullable=True),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_requests_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_run_id_failed_status"),
            ["run_id", "failed", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_requests_run_id_local_addr"), ["run_id", "local_addr"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requests_run_id_seq"), ["run_id", "seq"], unique=True)

    op.create_table(
        "failures",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("http_version", sa.Text(), nullable=True),
        sa.Column("request_headers", sa.Text(), nullable=False),
        sa.Column("request_body", sa.LargeBinary(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("body_size", sa.Integer(), nullable=True),
        sa.Column("body_truncated", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=True),
        sa.Column("content_encoding", sa.Text(), nullable=True),
        sa.Column("error_class", sa.Text(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_failures_request_id_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_failures_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_failures")),
    )
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_failures_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_failures_run_id"))

    op.drop_table("failures")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_run_id_seq"))
        batch_op.drop_index(batch_op.f("ix_requests_run_id_local_addr"))
        batch_op.drop_index(batch_op.f("ix_requests_run_id_failed_status"))

    op.drop_table("requests")
    op.drop_table("runs")
