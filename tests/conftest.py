"""Shared fixtures: the built-in fault server on 127.0.0.1, a temporary database, and
an in-process CLI runner that goes through the real error boundary (capture.cli.main)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.cli.main import main
from capture.target.server import FaultServer


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
