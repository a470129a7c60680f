"""`capture failures` has no silent limit: machine formats give every matching row, the
table one page with "N of TOTAL shown" on stderr; and every read command takes the run
as -r/--run and the response-header filter as --response-header (issue 11, items 3, 11)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capture.cli.main import main
from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.conftest import Result

FAILED = 137  # more than a table page (50), fewer than two


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run 1: 137 requests that all fail with 500; run 2: 3 that fail with 503."""
    db = tmp_path_factory.mktemp("limits") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        for path, count in (("/a?status=500", FAILED), ("/b?status=503", 3)):
            args = ["run", server.url + path, "-n", str(count), "-c", "2", "--db", str(db)]
            assert main([*args, "--quiet"]) == 0
    yield db


def _lines(result: Result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_machine_formats_give_every_matching_row(cli, stored: Path, fmt: str) -> None:
    result = cli("failures", "--db", stored, "-r", "1", "-f", fmt)
    assert result.exit_code == 0 and result.stderr == ""
    if fmt == "jsonl":
        rows = [json.loads(line) for line in _lines(result)]
    elif fmt == "json":
        rows = json.loads(result.stdout)
    else:
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == FAILED
    assert len({int(r["id"]) for r in rows}) == FAILED
    assert {str(r["status"]) for r in rows} == {"500"}


def test_limit_gives_exactly_that_many_of_every_row(cli, stored: Path) -> None:
    every = [
        json.loads(x)["id"]
        for x in _lines(cli("failures", "--db", stored, "-r", "1", "-f", "jsonl"))
    ]
    assert len(every) == FAILED
    for limit in (10, 136, 137, 500):
        args = ("failures", "--db", stored, "-r", "1", "-f", "jsonl", "--limit", str(limit))
        rows = [json.loads(x)["id"] for x in _lines(cli(*args))]
        assert rows == every[:limit]  # newest first, the same order


def test_the_table_shows_one_page_and_says_how_many_matched(cli, stored: Path) -> None:
    result = cli("failures", "--db", stored, "-r", "1")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 + 50  # the header and one page
    assert result.stderr == ("50 of 137 shown; --limit N or --all for more\n")
    limited = cli("failures", "--db", stored, "-r", "1", "--limit", "10")
    assert len(limited.stdout.strip().splitlines()) == 1 + 10
    assert limited.stderr.startswith("10 of 137 shown; --limit N or --all for more")


def test_the_count_is_of_the_rows_the_filters_match(cli, stored: Path) -> None:
    every = cli("failures", "--db", stored, "-r", "all", "--limit", "2")
    assert every.stderr.startswith(f"2 of {FAILED + 3} shown;")
    five = cli("failures", "--db", stored, "-r", "all", "--status", "503", "--limit", "2")
    assert five.stderr.startswith("2 of 3 shown;")
    paged = cli("failures", "--db", stored, "-r", "1", "--offset", "130")
    assert len(paged.stdout.strip().splitlines()) == 1 + 7
    # the last 7 of 137: nothing more after them, so no hint to ask for more
    assert paged.stderr == "rows 131-137 of 137 shown\n"
    middle = cli("failures", "--db", stored, "-r", "1", "--offset", "50", "--limit", "10")
    assert middle.stderr == "rows 51-60 of 137 shown; --offset N for more\n"
    past = cli("failures", "--db", stored, "-r", "1", "--offset", "500")
    assert past.stderr == "none of 137 after --offset 500\n"


def test_all_shows_every_row_in_the_table(cli, stored: Path) -> None:
    result = cli("failures", "--db", stored, "-r", "1", "--all")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 + FAILED
    from capture.output.hints import program

    assert result.stderr == f"137 shown; full exchange: {program()} show ID\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--limit", "0"], "--limit must be between 1 and"),
        (["--limit", "-3"], "--limit must be between 1 and"),
        (["--limit", "0", "-f", "jsonl"], "--limit must be between 1 and"),
        (["--limit", "5", "--all"], "--limit and --all"),
        (["-n", "5"], "failures takes --limit N"),  # -n is a request count, in `run` only
        (["--header", "Server: x"], "No such option: --header"),  # a request header's name
    ],
)
def test_bad_limits_are_usage_errors(cli, stored: Path, args: list[str], message: str) -> None:
    result = cli("failures", "--db", stored, *args)
    assert result.exit_code == ExitCode.USAGE and result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_response_header_filters_failures_and_export(cli, stored: Path) -> None:
    # The target answers with Content-Type text/plain; charset=utf-8 (docs/target.md).
    (row,) = [
        json.loads(x)
        for x in _lines(cli("export", "--db", stored, "-r", "2", "-f", "jsonl", "--status", "503"))
    ][:1]
    name, value = next(h for h in row["response_headers"] if h[0].lower() == "content-type")
    header = f"{name}: {value}"
    listed = _lines(
        cli("failures", "--db", stored, "-r", "all", "-f", "jsonl", "--response-header", header)
    )
    exported = _lines(
        cli("export", "--db", stored, "-r", "all", "-f", "jsonl", "--response-header", header)
    )
    assert len(listed) == len(exported) == FAILED + 3
    none = cli(
        "failures", "--db", stored, "-r", "all", "-f", "jsonl", "--response-header", "X-No: such"
    )
    assert none.exit_code == 0 and none.stdout == ""


def test_every_read_command_takes_the_run_as_an_option(cli, stored: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    written = cli("export", "--db", stored, "-r", "all", "-f", "jsonl", "-o", out)
    assert written.exit_code == 0, written.stderr
    assert written.stderr == f"140 failures written to {out}\n"
    assert len(out.read_text().splitlines()) == FAILED + 3
    second = _lines(cli("export", "--db", stored, "--run", "2", "-f", "jsonl"))
    assert len(second) == 3
    assert "requests 3, failed 3" in cli("summary", "--db", stored, "-r", "2").stdout
    assert "requests 137, failed 137" in cli("summary", "--db", stored, "--run", "1").stdout
    sockets = json.loads(cli("sockets", "--db", stored, "-r", "all", "-f", "json").stdout)
    assert sum(s["requests"] for s in sockets) == FAILED + 3
    for command in ("summary", "sockets", "export"):
        positional = cli(command, "1", "--db", stored)
        assert positional.exit_code == ExitCode.USAGE, command  # one spelling: -r/--run


READ_COMMANDS = ["failures", "summary", "sockets", "export"]
PYTHON_TYPES = ("<str>", "<int>", "<list[str]>", "<path>", "<float>", "<bool>")


@pytest.mark.parametrize("name", READ_COMMANDS)
def test_read_help_shows_no_python_types(cli, name: str) -> None:
    text = cli(name, "--help").stdout
    assert [t for t in PYTHON_TYPES if t in text] == []
    assert "-r, --run RUN" in text and "--db FILE" in text


def test_replay_help_names_its_header_value(cli) -> None:
    text = cli("replay", "--help").stdout
    assert "-H, --header 'NAME: VALUE'" in text and "<list[str]>" not in text


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Returns the argument list of every command and subcommand of a click group."""
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
    return found


def test_no_help_anywhere_shows_a_python_type(cli) -> None:
    # Every command the CLI has, found from the app itself: a new one is checked too.
    import typer.main

    from capture.cli.main import app

    commands = _commands(typer.main.get_command(app))
    assert ("run",) in commands and ("db", "metadata") in commands
    for args in commands:
        text = cli(*args, "--help").stdout
        shown = re.findall(r"<[a-z_]+(?:\[[a-z_, ]+\])?>", text)
        assert shown == [], (args, shown)


def test_a_connection_id_is_of_one_run(cli, stored: Path) -> None:
    # ids restart in every run: with -r all, --connection 1 would mix two connections
    for command in ("failures", "export"):
        mixed = cli(command, "--db", stored, "-r", "all", "--connection", "1", "-f", "jsonl")
        assert mixed.exit_code == ExitCode.USAGE, (command, mixed.stderr)
        assert mixed.stderr.count("\n") == 1 and "-r RUN" in mixed.stderr
        assert mixed.stdout == ""
    one = cli("failures", "--db", stored, "-r", "1", "--connection", "1", "-f", "jsonl")
    assert one.exit_code == 0, one.stderr
    rows = [json.loads(line) for line in one.stdout.splitlines()]
    assert rows and {(r["run_id"], r["connection_id"]) for r in rows} == {(1, 1)}
