"""Findings of the second review: input refused up front (IDNA host names, header values
that are not latin-1), secrets redacted wherever a URL is kept or echoed, a foreign
SQLite file's log and journal never overwritten, and a bare alembic_version table never
taken over."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.conftest import query

# Another program's database in WAL mode, its committed row still only in its -wal:
# the process ends without a checkpoint, as a crash or a running app leaves it.
_FOREIGN_WAL_DB = """
import os, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute('pragma journal_mode=wal')
c.execute('create table t(x)')
c.execute('insert into t values(42)')
c.commit()
os._exit(0)
"""


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture
def finished(server: FaultServer, db_path: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A finished run's file holding 3 failures."""
    done = cli("run", f"{server.url}/x?status=500", "-n", "3", "--db", db_path, "--quiet")
    assert done.exit_code == 0, done.stderr
    return db_path


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """Another application's WAL database, alone in its own folder, with a -wal and -shm."""
    folder = tmp_path / "app"
    folder.mkdir()
    app = folder / "app2.db"
    subprocess.run([sys.executable, "-c", _FOREIGN_WAL_DB, str(app)], check=True)
    assert sorted(p.name for p in folder.iterdir()) == ["app2.db", "app2.db-shm", "app2.db-wal"]
    return app


def _wal(app: Path) -> Path:
    return app.with_name("app2.db-wal")


def _shm(app: Path) -> Path:
    return app.with_name("app2.db-shm")


def _new_journal(app: Path) -> Path:
    return app.with_name("app2.db-journal")  # not there: SQLite would read it as hot


def _old_journal(app: Path) -> Path:
    journal = app.with_name("app2.db-journal")
    journal.write_bytes(b"not yet a journal")
    return journal


def _wal_by_other_name(app: Path) -> Path:
    os.link(_wal(app), app.with_name("log.txt"))  # caught by its magic, whatever its name
    return app.with_name("log.txt")


def _shm_by_other_name(app: Path) -> Path:
    os.link(_shm(app), app.with_name("index.txt"))
    return app.with_name("index.txt")


@pytest.mark.parametrize(
    "aim",
    [_wal, _shm, _new_journal, _old_journal, _wal_by_other_name, _shm_by_other_name],
    ids=lambda f: f.__name__[1:],
)
def test_export_never_writes_another_databases_log_or_journal(
    finished: Path,
    foreign: Path,
    cli,  # type: ignore[no-untyped-def]
    aim: Callable[[Path], Path],
) -> None:
    """The output is refused (rc 2, one line) and every file of the other database keeps
    its bytes, so its committed row is still there."""
    output = aim(foreign)
    before = _digests(foreign.parent)
    result = cli("export", "-o", output, "--db", finished)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.count("\n") == 1 and "refusing" in result.stderr, result.stderr
    assert _digests(foreign.parent) == before
    assert query(foreign, "SELECT x FROM t") == [(42,)]


# Host names Python's IDNA 2003 codec accepts (it maps some to nothing) but urllib3 and
# requests, with the idna package (IDNA 2008), refuse when they send.
_NOT_IDNA = [
    "x\u200b",
    "x\u00ad",
    "x\u200d",
    "\ufb00",
    "\u0660",
    "\u216b.x",
    "\U0001f600",
    "\ud7ff",
]


def _as_argument(tmp_path: Path, url: str) -> list[str]:
    return [url]


def _in_vegeta_file(tmp_path: Path, url: str) -> list[str]:
    (tmp_path / "targets.txt").write_text(f"GET {url}\n", encoding="utf-8")
    return ["--targets", str(tmp_path / "targets.txt")]


def _in_json_lines(tmp_path: Path, url: str) -> list[str]:
    (tmp_path / "targets.jsonl").write_text(f'{{"url": "{url}"}}\n', encoding="utf-8")
    return ["--targets", str(tmp_path / "targets.jsonl")]


@pytest.mark.parametrize("given", [_as_argument, _in_vegeta_file, _in_json_lines])
@pytest.mark.parametrize("host", _NOT_IDNA, ids=ascii)
def test_a_host_name_that_is_not_idna_is_a_usage_error(
    server: FaultServer,
    db_path: Path,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
    host: str,
    given: Callable[[Path, str], list[str]],
) -> None:
    """rc 2 and one line, before any database file exists (no 'running' run row)."""
    url = f"http://{host}:{server.port}/"
    result = cli("run", *given(tmp_path, url), "-n", "1", "--db", db_path, "--quiet")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith("capture: error: ") and result.stderr.count("\n") == 1
    assert not db_path.exists()


def _header_option(tmp_path: Path, url: str, header: str) -> list[str]:
    return ["run", url, "-H", header]


def _header_in_vegeta_file(tmp_path: Path, url: str, header: str) -> list[str]:
    (tmp_path / "targets.txt").write_text(f"GET {url}\n{header}\n", encoding="utf-8")
    return ["run", "--targets", str(tmp_path / "targets.txt")]


def _header_in_json_lines(tmp_path: Path, url: str, header: str) -> list[str]:
    name, _, value = header.partition(": ")
    line = f'{{"url": "{url}", "headers": {{"{name}": "{value}"}}}}\n'
    (tmp_path / "targets.jsonl").write_text(line, encoding="utf-8")
    return ["run", "--targets", str(tmp_path / "targets.jsonl")]


@pytest.mark.parametrize("value", ["\u20ac", "caf\u00e9 \u2603", "\U0001f600"], ids=ascii)
@pytest.mark.parametrize("given", [_header_option, _header_in_vegeta_file, _header_in_json_lines])
def test_a_header_value_outside_latin1_is_a_usage_error_in_run(
    server: FaultServer,
    db_path: Path,
    tmp_path: Path,
    cli,  # type: ignore[no-untyped-def]
    given: Callable[[Path, str, str], list[str]],
    value: str,
) -> None:
    """http.client sends a header value as latin-1: '€' is refused at input (rc 2, one
    line), before a database exists and before anything is sent."""
    args = given(tmp_path, f"{server.url}/", f"X-Note: {value}")
    result = cli(*args, "-n", "1", "--db", db_path, "--quiet")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.startswith("capture: error: ") and result.stderr.count("\n") == 1
    assert "latin-1" in result.stderr
    assert not db_path.exists()
    assert server.entries() == []


def test_a_header_value_outside_latin1_is_a_usage_error_in_replay(
    server: FaultServer,
    finished: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """replay -H 'X: €' is refused before it sends: rc 2, one line, no new request."""
    before = hashlib.sha256(finished.read_bytes()).hexdigest()
    sent = len(server.entries())
    result = cli("replay", "1", "-H", "X-Note: \u20ac", "--db", finished)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.count("\n") == 1 and "latin-1" in result.stderr, result.stderr
    assert len(server.entries()) == sent == 3
    assert hashlib.sha256(finished.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    "tail",
    [
        "/x?status=500&x=1;token=SEKRET",  # ';' between query parameters
        "/x?status=500&token%3DSEKRET",  # the '=' percent-encoded
        "/x?status=500&tok%2565n=SEKRET",  # the name encoded twice: %25 65 is 'e'
        "/x;token=SEKRET?status=500",  # a matrix parameter of the path
        "/x%3Btoken=SEKRET?status=500",  # the same with the ';' encoded
        "/x?status=500&x=1%26token=SEKRET",  # an encoded '&' inside another value
    ],
)
def test_secret_parameters_are_redacted_however_separated_or_encoded(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
    tail: str,
) -> None:
    """The run row (command line, config), every request URL and the failure: no SEKRET
    anywhere in the file, and a REDACTED- stand-in where it was."""
    result = cli("run", f"{server.url}{tail}", "-n", "2", "--db", db_path, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert query(db_path, "SELECT count(*) FROM failures") == [(2,)]
    ((command, config),) = query(db_path, "SELECT command_line, config_json FROM runs")
    urls = [url for (url,) in query(db_path, "SELECT url FROM requests")]
    assert len(urls) == 2
    for text in (command, config, *urls):
        assert "SEKRET" not in text and "token=REDACTED-" in text, text
    assert b"SEKRET" not in db_path.read_bytes()


@pytest.mark.parametrize(
    "args",
    [
        ["ftp://h/?token=SEKRET"],
        ["http://h:0/?api_key=SEKRET"],
        ["http://u:p@h/?token=SEKRET"],
        ["http://x\u200b/?token=SEKRET"],
        ["http://h/", "--db", "sqlite://user:SEKRET@//tmp/x.db"],
        ["http://h/", "--db", "mysql://user:SEKRET@[::1/x"],
    ],
    ids=ascii,
)
def test_usage_errors_do_not_echo_secrets(
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
    args: list[str],
) -> None:
    """A refused URL or --db is quoted in the message with its secret redacted."""
    result = cli("run", *args, "-n", "1", *([] if "--db" in args else ["--db", db_path]))
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr.count("\n") == 1 and "SEKRET" not in result.stderr, result.stderr


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
def test_a_bare_alembic_version_table_is_not_a_capture_file(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
    journal_mode: str,
) -> None:
    """run refuses it as runs and db info do: rc 3, nothing sent, and the file keeps its
    bytes, with no -wal or -shm left beside it."""
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    conn.commit()
    conn.close()  # the last connection: SQLite folds the WAL back and removes -wal, -shm
    before = _digests(db_path.parent)
    assert list(before) == [db_path.name]
    for args in (["run", f"{server.url}/", "-n", "1", "--quiet"], ["runs"], ["db", "info"]):
        result = cli(*args, "--db", db_path)
        assert result.exit_code == ExitCode.DATA, (args, result.stderr)
        assert "not a capture file (no schema revision)" in result.stderr
        assert _digests(db_path.parent) == before
    assert server.entries() == []
