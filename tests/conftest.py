"""Shared fixtures: the built-in fault server on 127.0.0.1, a temporary database, and
an in-process CLI runner that goes through the real error boundary (capture.cli.main)."""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.cli.main import main
from capture.target.server import FaultServer
from tests.pg.server import PgServer, find_bindir

_PG_DATABASES = itertools.count(1)


@dataclass
class Result:
    """What one CLI invocation produced."""

    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """A fault server on a free loopback port."""
    with FaultServer("127.0.0.1", 0) as srv:
        yield srv


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A path for a database that does not exist yet."""
    return tmp_path / "capture.db"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Runs `capture ARGS` in-process and returns exit code, stdout and stderr."""

    def invoke(*args: str) -> Result:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return invoke


def query(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Runs a query on a capture file with the plain sqlite3 module."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def missing_part(reason: str) -> None:
    """Skips a test whose real part (a server, a browser) this machine lacks; fails it
    under .ci/run (CAPTURE_TESTS_NEED_ALL=1), where a skip would hide a missing install."""
    if os.environ.get("CAPTURE_TESTS_NEED_ALL") == "1":
        pytest.fail(f"{reason} (CAPTURE_TESTS_NEED_ALL=1: CI installs every real part)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server for the whole test session (tests/pg/server.py)."""
    bindir = find_bindir()
    if bindir is None:
        missing_part(
            "PostgreSQL server not installed (Debian package postgresql): PostgreSQL tests skipped"
        )
    root = Path(tempfile.mkdtemp(prefix="capture-pg-"))  # short: socket paths have a limit
    srv = PgServer(bindir, root)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The URL (password included) of a new, empty database on the test server."""
    return pg_server.create_database(f"t{next(_PG_DATABASES)}_{os.getpid()}")
