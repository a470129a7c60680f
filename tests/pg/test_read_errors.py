"""Read commands on a PostgreSQL --db that cannot be read: one line, the right exit code,
the password never shown."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from capture.errors import ExitCode
from capture.store.database import open_for_write
from capture.store.revisions import REVISIONS
from tests.conftest import Result
from tests.pg.server import PASSWORD, PgServer, find_bindir

READS = ["runs", "failures", "summary", "sockets", "show 1", "export -f jsonl", "db info"]


def _each(cli: object, url: str) -> list[Result]:
    return [cli(*command.split(), "--db", url) for command in READS]  # type: ignore[operator]


def test_an_unreachable_server_is_one_line_without_the_password(cli: object) -> None:
    bindir = find_bindir()
    assert bindir is not None
    srv = PgServer(bindir, Path(tempfile.mkdtemp(prefix="capture-pg-")))
    srv.start()
    url = srv.url("gone")
    srv.stop()  # nothing listens on its port any more
    for done in _each(cli, url):
        assert done.exit_code == ExitCode.STORAGE, done
        assert done.stdout == ""
        assert PASSWORD not in done.stderr
        hidden = f"postgresql://capture:***@127.0.0.1:{srv.port}/gone"
        assert done.stderr.startswith(f"capture: error: cannot open the database {hidden}: "), (
            done.stderr
        )
        assert len(done.stderr.strip().splitlines()) == 1


def test_an_empty_or_foreign_database_is_refused_as_on_sqlite(
    pg_url: str, pg_server: PgServer, cli: object
) -> None:
    for done in _each(cli, pg_url):
        assert (done.exit_code, done.stderr) == (
            ExitCode.DATA,
            "capture: error: the database is empty: no capture run was stored in it\n",
        )
    pg_server.psql("CREATE TABLE orders (id int)", pg_url.rsplit("/", 1)[1])
    for done in _each(cli, pg_url):
        assert done.exit_code == ExitCode.DATA
        assert done.stderr.endswith("is not a capture file (no schema revision)\n"), done.stderr
        assert PASSWORD not in done.stderr


def test_an_older_revision_asks_for_db_upgrade_which_works(
    pg_url: str, pg_server: PgServer, cli: object
) -> None:
    open_for_write(pg_url).dispose()
    name = pg_url.rsplit("/", 1)[1]
    older, head = REVISIONS[-2], REVISIONS[-1]
    pg_server.psql(f"UPDATE alembic_version SET version_num = '{older}'", name)
    refused: Result = cli("runs", "--db", pg_url)  # type: ignore[operator]
    assert refused.exit_code == ExitCode.DATA
    assert refused.stderr.startswith(f"capture: error: the database has the older schema {older}")
    assert PASSWORD not in refused.stderr
    pg_server.psql(f"UPDATE alembic_version SET version_num = '{head}'", name)
    info: Result = cli("db", "info", "--db", pg_url)  # type: ignore[operator]
    assert info.exit_code == 0, info.stderr
    assert [line.split()[0] for line in info.stdout.splitlines()] == [
        "database", "size_bytes", "schema", "schema_latest", "runs", "requests", "failures"
    ]  # fmt: skip
    assert PASSWORD not in info.stdout
    upgraded: Result = cli("db", "upgrade", "--db", pg_url)  # type: ignore[operator]
    assert (upgraded.exit_code, upgraded.stdout) == (0, f"schema {head}: up to date\n")
    metadata: Result = cli("db", "metadata", "--db", pg_url)  # type: ignore[operator]
    assert metadata.exit_code == ExitCode.USAGE
    assert metadata.stderr == (
        "capture: error: db metadata describes a SQLite file for Datasette; "
        "it does not apply to a PostgreSQL --db\n"
    )


def test_reading_postgresql_loads_no_sqlalchemy(pg_url: str, server: object) -> None:
    """The read side on PostgreSQL is psycopg alone, like SQLite's is sqlite3 alone."""
    open_for_write(pg_url).dispose()
    probe = (
        "import sys; from capture.cli import main\n"
        f"assert main(['runs', '--db', {pg_url!r}]) == 0\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'requests') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
