"""Host slots (run_hosts, requests.host, runs.hosts) and the PostgreSQL store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

On SQLite: a new table and two columns; requests.host is added with DEFAULT 0, which
SQLite stores in the schema, so older rows read 0 (a run of one host) without the table
being rewritten. failure_details gains host.

On PostgreSQL a database is always new to capture: revisions 0002 and 0003 skip their
SQLite views there, and this one creates every view in PostgreSQL's SQL (the same
columns and values), turns every integer column into a bigint, and adds the function
capture_body_text() behind failure_details.body_text.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TEXTUAL = (
    "f.content_type LIKE 'text/%' OR f.content_type LIKE '%json%'"
    " OR f.content_type LIKE '%xml%' OR f.content_type LIKE '%javascript%'"
    " OR f.content_type LIKE '%x-www-form-urlencoded%'"
)


def _failure_details(*, host: bool, postgres: bool) -> str:
    extra = "r.host AS host, " if host else ""
    text = "capture_body_text(f.body)" if postgres else "CAST(f.body AS TEXT)"
    return f"""
        SELECT r.id AS id, r.run_id AS run_id, r.seq AS seq, r.started_at AS started_at,
               r.offset_ms AS offset_ms, r.method AS method, r.url AS url, r.status AS status,
               r.error_kind AS error_kind, r.latency_ms AS latency_ms, r.ttfb_ms AS ttfb_ms,
               r.bytes_in AS bytes_in, r.local_addr AS local_addr, r.remote_addr AS remote_addr,
               {extra}r.process AS process, r.connection_id AS connection_id,
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


# PostgreSQL's forms of revision 0002's views: the same columns and values. round() of a
# double needs a numeric there, and CAST(x AS integer) rounds where SQLite truncates.
_PG_VIEWS = {
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
        SELECT run_id, floor(offset_ms / 1000)::bigint AS second, count(*) AS requests,
               sum(failed) AS failures, round(min(latency_ms)::numeric, 3) AS latency_min_ms,
               round(avg(latency_ms)::numeric, 3) AS latency_avg_ms,
               round(max(latency_ms)::numeric, 3) AS latency_max_ms
        FROM requests GROUP BY run_id, floor(offset_ms / 1000)""",
}

# Bodies are bytes; a view shows the text ones as text. Bytes that are not UTF-8 (or
# hold a NUL, which PostgreSQL text cannot) come out escaped instead of failing the query.
_PG_BODY_TEXT = """
CREATE FUNCTION capture_body_text(b bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
    RETURN convert_from(b, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN encode(b, 'escape');
END
$$"""

_PG_BIGINT = {
    "runs": ("id", "pid", "hosts", "requests_total", "ok_total", "failed_total", "failures_stored",
             "failures_dropped", "aborted_total", "sockets_used"),
    "requests": ("id", "run_id", "seq", "worker", "session", "status", "failed", "bytes_in",
                 "connection_no", "connection_request_no", "process", "connection_id", "host"),
    "failures": ("request_id", "run_id", "body_size", "body_truncated"),
    "run_hosts": ("run_id", "slot", "pid", "requests_total", "failed_total", "failures_stored",
                  "failures_dropped", "aborted_total"),
}  # fmt: skip


def _sqlite_views(conn: sa.Connection) -> list[tuple[str, str]]:
    """Returns (name, CREATE VIEW text) of SQLite's views other than failure_details."""
    found = conn.execute(
        sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name")
    )
    return [(name, sql) for name, sql in found if name != "failure_details"]


def _columns() -> None:
    # Plain ALTER TABLE ADD COLUMN, not batch mode: SQLite adds a column in place (no
    # copy of a million-row table), and views that read the table may stay.
    op.add_column("runs", sa.Column("hosts", sa.Integer(), nullable=True))
    op.add_column(
        "requests", sa.Column("host", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.create_table(
        "run_hosts",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("joined_at", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.Text(), nullable=True),
        sa.Column("heartbeat_at", sa.Text(), nullable=True),
        sa.Column("requests_total", sa.Integer(), nullable=True),
        sa.Column("failed_total", sa.Integer(), nullable=True),
        sa.Column("failures_stored", sa.Integer(), nullable=True),
        sa.Column("failures_dropped", sa.Integer(), nullable=True),
        sa.Column("aborted_total", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("cpu_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_run_hosts_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "slot", name=op.f("pk_run_hosts")),
    )


def upgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    op.execute("DROP VIEW IF EXISTS failure_details")
    _columns()
    if postgres:
        for table, columns in _PG_BIGINT.items():
            for column in columns:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint")
        for table in ("runs", "requests"):
            op.execute(f"ALTER SEQUENCE {table}_id_seq AS bigint")
        op.execute(_PG_BODY_TEXT)
        for name, sql in _PG_VIEWS.items():
            op.execute(f"CREATE VIEW {name} AS {sql}")
    op.execute(f"CREATE VIEW failure_details AS {_failure_details(host=True, postgres=postgres)}")


def downgrade() -> None:
    conn = op.get_bind()
    postgres = conn.dialect.name == "postgresql"
    op.execute("DROP VIEW IF EXISTS failure_details")
    views = [] if postgres else _sqlite_views(conn)
    for name, _ in views:  # batch mode copies requests; a view reading it blocks that
        op.execute(f"DROP VIEW {name}")
    if postgres:
        for name in _PG_VIEWS:
            op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute("DROP FUNCTION IF EXISTS capture_body_text(bytea)")
    op.drop_table("run_hosts")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("host")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("hosts")
    for _, sql in views:
        op.execute(sql)
    if not postgres:  # PostgreSQL's views come with this revision and go with it
        op.execute(f"CREATE VIEW failure_details AS {_failure_details(host=False, postgres=False)}")
