"""A postgresql:// --db's password is never stored or printed, however it is given."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from capture.target.server import FaultServer
from tests.conftest import Result
from tests.pg.server import PASSWORD, USER, PgServer


def _stored_text(url: str) -> str:
    """Returns every runs row as text: command_line, config_json and the rest."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT * FROM runs").fetchall()
    assert rows
    return repr(rows)


@pytest.mark.parametrize("summary", ["text", "json"])
@pytest.mark.parametrize("spelling", ["--db URL", "--db=URL", "CAPTURE_DB", "?password="])
def test_the_password_is_in_no_output_and_no_row(
    spelling: str,
    summary: str,
    pg_url: str,
    pg_server: PgServer,
    server: FaultServer,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each spelling of the URL: the summary (its failures hint, the JSON db field) shows
    the URL without its password, to paste (tests/pg/test_pg_hints.py); the log and
    runs.command_line / config_json show it as *** or not at all."""
    name = pg_url.rsplit("/", 1)[1]
    url = pg_url
    if spelling == "?password=":
        url = f"postgresql://{USER}@127.0.0.1:{pg_server.port}/{name}?password={PASSWORD}"
    db_args = {"--db URL": ["--db", url], "--db=URL": [f"--db={url}"], "?password=": ["--db", url]}
    if spelling == "CAPTURE_DB":
        monkeypatch.setenv("CAPTURE_DB", url)
    extra = ["--json"] if summary == "json" else []
    args = ["run", f"{server.url}/?status=500", "-n", "5", *db_args.get(spelling, []), *extra]
    result: Result = cli(*args)
    assert result.exit_code == 0, result.stderr
    assert f"postgresql://{USER}@127.0.0.1:{pg_server.port}/{name}" in result.stdout
    everything = result.stdout + result.stderr + caplog.text + _stored_text(pg_url)
    assert PASSWORD not in everything


def test_help_does_not_show_the_environment_url(
    pg_url: str, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`capture run --help` with CAPTURE_DB set names the variable, never its value."""
    monkeypatch.setenv("CAPTURE_DB", pg_url)
    result: Result = cli("run", "--help")
    assert result.exit_code == 0
    assert "CAPTURE_DB" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_storage_errors_do_not_show_the_password(
    pg_server: PgServer, server: FaultServer, cli: Any
) -> None:
    """Errors quoting the URL (one that does not parse, a database that is not there)."""
    for url in (
        f"postgresql://{USER}:{PASSWORD}@127.0.0.1:notaport/x",
        f"postgresql://{USER}:{PASSWORD}@[::1/x",
        pg_server.url("nosuch"),
        f"postgresql://{USER}@127.0.0.1:{pg_server.port}/nosuch?password={PASSWORD}",
    ):
        result: Result = cli("run", f"{server.url}/", "-n", "5", "--db", url)
        assert result.exit_code in (2, 5), result.stderr
        assert PASSWORD not in result.stdout + result.stderr, url
    assert server.entries() == []
