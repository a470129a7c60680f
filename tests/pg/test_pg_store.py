"""A run stored into a real PostgreSQL server: the same rows as SQLite would hold."""

from __future__ import annotations

import psycopg

from capture.target.faults import BINARY_BODY
from tests.conftest import Result
from tests.pg.server import PASSWORD


def test_a_run_into_postgresql_stores_every_request_and_failure(
    pg_url: str, server: object, cli: object
) -> None:
    url = f"{server.url}/?status=500&body=oops"  # type: ignore[attr-defined]
    done: Result = cli("run", url, "-n", "50", "-c", "2", "--db", pg_url, "--quiet")  # type: ignore[operator]
    assert done.exit_code == 0, done.stderr
    with psycopg.connect(pg_url) as conn:
        counted = conn.execute(
            "SELECT count(*), sum(failed)::int, count(DISTINCT seq),"
            " count(DISTINCT connection_id), max(host) FROM requests"
        ).fetchone()
        assert counted == (50, 50, 50, 2, 0)
        bodies = conn.execute("SELECT body, count(*) FROM failures GROUP BY body").fetchall()
        assert bodies == [(b"oops", 50)]
        assert conn.execute(
            "SELECT status, requests_total, failed_total, failures_stored FROM runs"
        ).fetchall() == [("completed", 50, 50, 50)]
        # The views exist in PostgreSQL's SQL and give the same values.
        assert conn.execute("SELECT sum(requests)::int FROM per_second").fetchone() == (50,)
        assert conn.execute("SELECT DISTINCT body_text FROM failure_details").fetchall() == [
            ("oops",)
        ]
        stored = conn.execute("SELECT command_line, config_json FROM runs").fetchone()
    assert PASSWORD not in " ".join(str(v) for v in stored)


def test_a_binary_body_is_stored_whole_and_its_text_without_nul(
    pg_url: str, server: object, cli: object
) -> None:
    """PostgreSQL text cannot hold NUL: a body with one stays bytes in full, and the text
    derived from it (its signature) gets U+FFFD instead of refusing the whole batch."""
    url = f"{server.url}/bin?fault=binary&status=500"  # type: ignore[attr-defined]
    done: Result = cli("run", url, "-n", "6", "-c", "2", "--db", pg_url, "--quiet")  # type: ignore[operator]
    assert done.exit_code == 0, done.stderr
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT body, body_signature FROM failures").fetchall()
    assert len(rows) == 6
    assert {bytes(body) for body, _ in rows} == {BINARY_BODY}
    assert {sig[:12] for _, sig in rows} == {"binary\ufffdbody "}


def test_every_integer_column_is_a_bigint_on_postgresql(pg_url: str) -> None:
    """docs/schema.md: ids, sizes and counts of a store shared by many runs outgrow 2^31."""
    from capture.store.columns import TABLES
    from capture.store.database import open_for_write

    open_for_write(pg_url).dispose()
    with psycopg.connect(pg_url) as conn:
        found = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema()"
            ).fetchall()
        )
    integers = [f"{t.name}.{c.name}" for t in TABLES for c in t.columns if c.type == "integer"]
    assert {name: found[name] for name in integers} == dict.fromkeys(integers, "bigint")
