"""A PostgreSQL role that may read but not write: `capture run` refuses in one line."""

from __future__ import annotations

from typing import Any

from capture.errors import ExitCode
from capture.store.database import open_for_write
from capture.target.server import FaultServer
from tests.conftest import Result
from tests.pg.server import PASSWORD, PgServer

READER_PASSWORD = "rd-S3cret-77"  # the reader role's: no output may contain it either


def test_a_role_without_insert_rights_sends_nothing(
    pg_url: str, pg_server: PgServer, server: FaultServer, cli: Any
) -> None:
    """SELECT only: exit 5, one line naming the database (password hidden), nothing sent."""
    open_for_write(pg_url).dispose()  # the schema, created by the owner
    name = pg_url.rsplit("/", 1)[1]
    role = f"reader_{name}"
    pg_server.psql(
        f"CREATE ROLE {role} LOGIN PASSWORD '{READER_PASSWORD}';"
        f" GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        name,
    )
    url = f"postgresql://{role}:{READER_PASSWORD}@127.0.0.1:{pg_server.port}/{name}"
    result: Result = cli("run", f"{server.url}/", "-n", "5", "--db", url)
    assert result.exit_code == ExitCode.STORAGE, result.stderr
    assert result.stderr == (
        "capture: error: cannot start a run in the database "
        f"postgresql://{role}:***@127.0.0.1:{pg_server.port}/{name}: "
        "permission denied for table runs\n"
    )
    assert READER_PASSWORD not in result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert server.entries() == []
    assert pg_server.psql("SELECT count(*) FROM runs", name).strip() == "0"
