"""A libpq keyword string given as --db (host=... dbname=... password=...) is refused as
a usage error: never taken as a SQLite file name, its password never printed or stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.conftest import Result
from tests.pg.server import PASSWORD, USER

REFUSED = (
    "capture: error: --db looks like a libpq connection string (host=… dbname=…): "
    "give it as a URL, postgresql://user@host:port/dbname\n"
)
SPELLINGS = [
    f"host=127.0.0.1 port=5432 dbname=x user={USER} password={PASSWORD}",
    f"dbname = x  password = '{PASSWORD} \\' quoted'",
    f"host=127.0.0.1 sslmod=require password={PASSWORD}",  # a misspelt keyword among them
]


@pytest.mark.parametrize("db", SPELLINGS)
@pytest.mark.parametrize(
    "command", ["run", "runs", "failures", "export -f jsonl", "db info", "db upgrade"]
)
def test_a_libpq_string_is_a_usage_error_and_creates_nothing(
    command: str,
    db: str,
    server: FaultServer,
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exit 2, one line without the password, no file created, nothing sent."""
    monkeypatch.chdir(tmp_path)
    args = command.split()
    if command == "run":
        args += [f"{server.url}/", "-n", "5"]
    result: Result = cli(*args, "--db", db)
    assert (result.exit_code, result.stderr) == (ExitCode.USAGE, REFUSED)
    assert PASSWORD not in result.stdout
    assert list(tmp_path.iterdir()) == []
    assert server.entries() == []


def test_a_file_name_with_an_equals_sign_is_still_a_file(
    server: FaultServer, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only libpq's keywords make a string libpq's: 'a=b.db' is a file."""
    monkeypatch.chdir(tmp_path)
    result: Result = cli("run", f"{server.url}/", "-n", "3", "--db", "a=b.db")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "a=b.db").is_file()
