"""Views for other tools, failure signatures, and indexes for the inspection commands.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TEXTUAL = (
    "f.content_type LIKE 'text/%' OR f.content_type LIKE '%json%'"
    " OR f.content_type LIKE '%xml%' OR f.content_type LIKE '%javascript%'"
    " OR f.content_type LIKE '%x-www-form-urlencoded%'"
)

VIEWS = {
    "failure_details": f"""
        SELECT r.id AS id, r.run_id AS run_id, r.seq AS seq, r.started_at AS started_at,
               r.offset_ms AS offset_ms, r.method AS method, r.url AS url, r.status AS status,
               r.error_kind AS error_kind, r.latency_ms AS latency_ms, r.ttfb_ms AS ttfb_ms,
               r.bytes_in AS bytes_in, r.local_addr AS local_addr, r.remote_addr AS remote_addr,
               r.session AS session, r.connection_no AS connection_no,
               r.connection_request_no AS connection_request_no,
               r.correlation_id AS correlation_id, f.reason AS reason,
               f.http_version AS http_version, f.content_type AS content_type,
               f.content_encoding AS content_encoding, f.body_size AS body_size,
               f.body_truncated AS body_truncated, f.body_signature AS body_signature,
               CASE WHEN {_TEXTUAL} THEN CAST(f.body AS TEXT) END AS body_text,
               f.response_headers AS response_headers, f.request_headers AS request_headers,
               f.error_class AS error_class, f.error_message AS error_message
        FROM failures f JOIN requests r ON r.id = f.request_id""",
    "status_counts": """
        SELECT run_id, status, count(*) AS requests, sum(failed) AS failed,
               round(100.0 * count(*) / (SELECT count(*) FROM requests AS t
                                          WHERE t.run_id = requests.run_id), 3) AS share_pct
        FROM requests GROUP BY run_id, status""",
    "error_counts": """
        SELECT run_id, error_kind, count(*) AS requests,
               round(100.0 * count(*) / (SELECT count(*) FROM requests AS t
                                          WHERE t.run_id = requests.run_id), 3) AS share_pct
        FROM requests WHERE error_kind IS NOT NULL GROUP BY run_id, error_kind""",
    "per_second": """
        SELECT run_id, CAST(offset_ms / 1000 AS INTEGER) AS second, count(*) AS requests,
               sum(failed) AS failures, round(min(latency_ms), 3) AS latency_min_ms,
               round(avg(latency_ms), 3) AS latency_avg_ms,
               round(max(latency_ms), 3) AS latency_max_ms
        FROM requests GROUP BY run_id, CAST(offset_ms / 1000 AS INTEGER)""",
}

# A frozen copy of capture.signature at this revision, so the migration never changes
# meaning when the package does.
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (
        re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"),
        "<time>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<addr>"),
    (re.compile(r"\d+(?:\.\d+)?"), "#"),
    (re.compile(r"\s+"), " "),
)


def _signature(body: bytes | None, message: str | None) -> str | None:
    if body:
        text = bytes(body[:512]).decode("utf-8", "replace")
    elif message:
        text = message
    else:
        return None
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text.strip()[:160]


def upgrade() -> None:
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_signature", sa.Text(), nullable=True))
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requests_run_id_error_kind"), ["run_id", "error_kind"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_requests_run_id_failed_latency_ms"),
            ["run_id", "failed", "latency_ms"],
            unique=False,
        )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT request_id, body, error_message FROM failures"))
    updates = [
        {"id": rid, "sig": _signature(body, message)} for rid, body, message in rows.fetchall()
    ]
    if updates:
        conn.execute(
            sa.text("UPDATE failures SET body_signature = :sig WHERE request_id = :id"), updates
        )
    if conn.dialect.name == "postgresql":
        return  # revision 0004 creates PostgreSQL's forms of these views
    for name, sql in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")


def downgrade() -> None:
    for name in VIEWS:
        op.execute(f"DROP VIEW IF EXISTS {name}")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requests_run_id_failed_latency_ms"))
        batch_op.drop_index(batch_op.f("ix_requests_run_id_error_kind"))
    with op.batch_alter_table("failures", schema=None) as batch_op:
        batch_op.drop_column("body_signature")
