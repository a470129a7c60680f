"""A PostgreSQL connection lost while a read command reads: a StorageError (exit 5) that
names the database, password hidden; a query the server refuses stays a DataError."""

from __future__ import annotations

from typing import Any

import pytest

from capture.errors import DataError, ExitCode, StorageError
from capture.store.pgread import PgConnection, open_pg_readonly
from tests.conftest import Result
from tests.pg.server import PASSWORD, PgServer


@pytest.fixture
def stored(pg_url: str, server: Any, cli: Any) -> str:
    """A PostgreSQL database holding one run of 20 requests; returns its URL."""
    result: Result = cli("run", f"{server.url}/?status=500", "-n", "20", "--db", pg_url)
    assert result.exit_code == 0, result.stderr
    return pg_url


def _terminate(pg_server: PgServer, conn: PgConnection) -> None:
    """Ends conn's server process and waits until it is gone (no race with the next query)."""
    (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
    done = pg_server.psql(f"SELECT pg_terminate_backend({int(pid)}, 60000)")
    assert done.strip() == "t"


def _check_lost(error: StorageError, url: str) -> None:
    hidden = url.replace(f":{PASSWORD}@", ":***@")
    assert error.exit_code == ExitCode.STORAGE
    assert error.message.startswith(f"lost the connection to the database {hidden}: "), error
    assert "consuming input failed" not in error.message
    assert PASSWORD not in error.message
    assert "\n" not in error.message


def test_a_query_after_the_backend_is_gone(stored: str, pg_server: PgServer) -> None:
    source = open_pg_readonly(stored)
    with pytest.raises(StorageError) as raised, source.connect() as conn:
        _terminate(pg_server, conn)
        conn.execute("SELECT count(*) FROM requests")
    _check_lost(raised.value, stored)


def test_a_stream_whose_backend_goes_mid_read(stored: str, pg_server: PgServer) -> None:
    """A server-side cursor (export's) that was declared, then lost before its rows came."""
    source = open_pg_readonly(stored)
    with pytest.raises(StorageError) as raised, source.connect() as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT id FROM requests ORDER BY id")
        _terminate(pg_server, conn)
        list(cursor)
    _check_lost(raised.value, stored)


def test_a_refused_query_is_still_a_data_error(stored: str) -> None:
    source = open_pg_readonly(stored)
    with pytest.raises(DataError) as raised, source.connect() as conn:
        conn.execute("SELECT nosuch FROM requests")
    assert raised.value.message.startswith('cannot read the database: column "nosuch"')
