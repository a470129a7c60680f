"""requests.backend on PostgreSQL: the COPY path stores what SQLite stores, and a
database made at revision 0004 is upgraded in place by the next run."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config

from capture.store.database import open_for_write
from capture.target.server import FaultServer
from tests.conftest import Result, query

ROOT = Path(__file__).resolve().parents[2]
COUNTS = "select backend, failed, count(*) from requests group by 1, 2 order by 1"


def _run(cli: object, server: FaultServer, db: object) -> None:
    good, bad = f"{server.url}/?retry_after=1", f"{server.url}/?retry_after=2&status=502"
    done: Result = cli(  # type: ignore[operator]
        "run", good, bad, "-n", "40", "-c", "2", "--db", db, "--quiet",
        "--backend-header", "X-Absent", "--backend-header", "Retry-After",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr


def test_a_revision_0004_database_is_upgraded_and_copy_stores_each_backend(
    pg_url: str, server: FaultServer, cli: object, db_path: Path
) -> None:
    engine = open_for_write(pg_url)
    try:
        with engine.begin() as conn:  # back to 0004: a database an older capture made
            cfg = Config()
            cfg.set_main_option("script_location", str(ROOT / "migrations"))
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
    finally:
        engine.dispose()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'requests' AND column_name = 'backend'"
        ).fetchone() == (0,)
    _run(cli, server, pg_url)
    _run(cli, server, db_path)
    expected = [("Retry-After: 1", 0, 20), ("Retry-After: 2", 1, 20)]
    assert query(db_path, COUNTS) == expected
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0005",)]
        assert conn.execute(COUNTS).fetchall() == expected
        assert conn.execute(
            "SELECT backend, count(*) FROM failure_details GROUP BY 1"
        ).fetchall() == [("Retry-After: 2", 20)]
