"""requests.backend: which backend answered each request, failed or not.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A nullable text column, added in place on SQLite (no copy of the table); older rows
read NULL: nothing recorded which backend answered them. failure_details gains backend,
in SQLite's and in PostgreSQL's SQL (revision 0004 has both forms).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TEXTUAL = (
    "f.content_type LIKE 'text/%' OR f.content_type LIKE '%json%'"
    " OR f.content_type LIKE '%xml%' OR f.content_type LIKE '%javascript%'"
    " OR f.content_type LIKE '%x-www-form-urlencoded%'"
)


def _failure_details(*, backend: bool, postgres: bool) -> str:
    extra = "r.backend AS backend, " if backend else ""
    text = "capture_body_text(f.body)" if postgres else "CAST(f.body AS TEXT)"
    return f"""
        SELECT r.id AS id, r.run_id AS run_id, r.seq AS seq, r.started_at AS started_at,
               r.offset_ms AS offset_ms, r.method AS method, r.url AS url, r.status AS status,
               r.error_kind AS error_kind, r.latency_ms AS latency_ms, r.ttfb_ms AS ttfb_ms,
               r.bytes_in AS bytes_in, r.local_addr AS local_addr, r.remote_addr AS remote_addr,
               r.host AS host, {extra}r.process AS process, r.connection_id AS connection_id,
               r.session AS session, r.connection_no AS connection_no,
               r.connection_request_no AS connection_request_no,
               r.correlation_id AS correlation_id, f.reason AS reason,
               f.http_version AS http_version, f.content_type AS content_type,
               f.content_encoding AS content_encoding, f.body_size AS body_size,
               f.body_truncated AS body_truncated, f.body_signature AS body_signature,
               CASE WHEN {_TEXTUAL} THEN {text} END AS body_text,
               f.response_headers AS response_headers, f.request_headers AS request_headers,
               f.error_class AS error_class, f.error_message AS error_message
        FROM failures f JOIN requests r ON r.id = f.request_id"""


def _sqlite_views(conn: sa.Connection) -> list[tuple[str, str]]:
    """Returns (name, CREATE VIEW text) of SQLite's views other than failure_details."""
    found = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
    )
    return [(name, sql) for name, sql in found if name != "failure_details"]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("DROP VIEW IF EXISTS failure_details")
    # Plain ALTER TABLE ADD COLUMN, not batch mode: SQLite adds a nullable column in
    # place, without copying a million-row table, and the other views may stay.
    op.add_column("requests", sa.Column("backend", sa.Text(), nullable=True))
    op.execute(
        f"CREATE VIEW failure_details AS {_failure_details(backend=True, postgres=postgres)}"
    )


def downgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    op.execute("DROP VIEW IF EXISTS failure_details")
    views = [] if postgres else _sqlite_views(conn)
    for name, _ in views:  # batch mode copies requests; a view reading it blocks that
        op.execute(f"DROP VIEW {name}")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("backend")
    for _, sql in views:
        op.execute(sql)
    op.execute(
        f"CREATE VIEW failure_details AS {_failure_details(backend=False, postgres=postgres)}"
    )
