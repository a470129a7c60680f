"""Every number, host, header and file a user types has a sane range: outside it, one
line on stderr, the usage exit code, nothing sent and no database created (README
"Input checking"). Plus the inputs that used to end in an internal error or a leak."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.output.tables import Format, machine_lines
from capture.redact import Redactor
from capture.target.server import FaultServer
from tests.cli.test_bad_input import Bad, _check_refused, _file, bad
from tests.conftest import query

U = "{url}"


@pytest.fixture
def clean_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, so a default capture.db would show up in it."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("CAPTURE_DB", raising=False)
    monkeypatch.delenv("CAPTURE_DEBUG", raising=False)  # it would turn errors into tracebacks
    return root


HUGE = str(10**30)
RUN_BOUNDS = {
    # rates and counts
    "qps-tiny": bad(U, "-n", "1", "--qps", "1e-300", expect="--qps must be between 0.001"),
    "qps-huge": bad(U, "-n", "1", "--qps", "1e7", expect="--qps must be between 0.001 and 1e+06"),
    "requests-huge": bad(U, "-n", HUGE, expect="--requests must be at most 1000000000000"),
    "connections-huge": bad(U, "-n", "1", "-c", HUGE, expect="--connections must be at most"),
    "connections-10001": bad(U, "-n", "1", "-c", "10001", expect="--connections must be at most"),
    "workers-huge": bad(U, "-n", "1", "-w", HUGE, expect="--workers must be at most 10000"),
    "procs-huge": bad(U, "-n", "1", "--procs", HUGE, expect="--procs must be at most 1024"),
    "procs-2000": bad(U, "-n", "1", "--procs", "2000", expect="--procs must be at most 1024"),
    "stop-after-huge": bad(
        U, "-n", "1", "--stop-after-failures", HUGE, expect="--stop-after-failures must be at most"
    ),
    # durations
    "duration-huge": bad(U, "-d", "99999h", expect="--duration: '99999h' must be between 1ms and"),
    "duration-tiny": bad(U, "-d", "0.0001ms", expect="must be between 1ms and 720h"),
    "duration-digits": bad(U, "-d", "9" * 400, expect="must be between 1ms and 720h"),
    "timeout-huge": bad(U, "-n", "1", "--timeout", "99999h", expect="--timeout: '99999h' must"),
    "timeout-tiny": bad(U, "-n", "1", "--timeout", "0.00001s", expect="--timeout: '0.00001s'"),
    "max-time-long": bad(U, "-n", "1", "--max-time", "721h", expect="--max-time: '721h' must"),
    "slow-huge": bad(U, "-n", "1", "--slow", "9" * 400 + "s", expect="must be between 1ms and"),
    "grace-huge": bad(U, "-n", "1", "--grace", "100000h", expect="--grace: '100000h' must be"),
    # sizes
    "max-body-20-digits-G": bad(
        U, "-n", "1", "--max-body", "99999999999999999999G", expect="larger than the limit"
    ),
    "max-body-1GiB": bad(U, "-n", "1", "--max-body", "1GiB", expect="--max-body: '1GiB' is large"),
    "max-body-digits": bad(U, "-n", "1", "--max-body", "9" * 5000, expect="larger than the limit"),
    # hosts: checked before anything is created or sent
    "host-leading-dot": bad("http://.127.0.0.1:9/", "-n", "1", expect="is not a valid host name"),
    "host-wildcard": bad("http://*.x:9/", "-n", "1", expect="'*.x' is not a valid host name"),
    "host-rtl-override": bad("http://a\u202eb:9/", "-n", "1", expect="is not a valid host name"),
    "host-empty-label": bad("http://a..b:9/", "-n", "1", expect="'a..b' is not a valid host"),
    "host-label-hyphen": bad("http://-a.b:9/", "-n", "1", expect="'-a.b' is not a valid host"),
    "host-label-64": bad(f"http://{'a' * 64}.b:9/", "-n", "1", expect="is not a valid host"),
    # targets files
    "jsonl-nested-deep": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:1: JSON nested too deep",
        setup=_file("t.jsonl", '{"url": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
    ),
    "jsonl-header-name-colon": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:1: header 'X:Y' is not a valid header name",
        setup=_file("t.jsonl", '{"url": "{url}", "headers": {"X:Y": "v"}}\n'),
    ),
    "jsonl-header-name-space": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:1: header 'X Y' is not a valid",
        setup=_file("t.jsonl", '{"url": "{url}", "headers": [["X Y", "v"]]}\n'),
    ),
    # hooks that end the process at import
    "hooks-sys-exit": bad(
        U,
        "-n",
        "1",
        "--hooks",
        "h.py",
        expect="'h.py' failed to load: SystemExit: 7",
        setup=_file("h.py", "import sys\nsys.exit(7)\n"),
    ),
    "hooks-keyboard-interrupt": bad(
        U,
        "-n",
        "1",
        "--hooks",
        "h.py",
        expect="'h.py' failed to load: KeyboardInterrupt",
        setup=_file("h.py", "raise KeyboardInterrupt\n"),
    ),
    "hooks-base-exception": bad(
        U,
        "-n",
        "1",
        "--hooks",
        "h.py",
        expect="'h.py' failed to load: BaseException: boom",
        setup=_file("h.py", "raise BaseException('boom')\n"),
    ),
}


@pytest.mark.parametrize("case", RUN_BOUNDS.values(), ids=RUN_BOUNDS.keys())
def test_out_of_range_run_input_is_refused(
    cli, case: Bad, clean_dir: Path, server: FaultServer
) -> None:
    _check_refused(cli, case, clean_dir, server)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture file with two runs of three 500s each, from one connection."""
    from capture.cli.main import main

    db = tmp_path_factory.mktemp("bounds") / "two.db"
    with FaultServer("127.0.0.1", 0) as srv:
        for _ in range(2):
            args = ["run", f"{srv.url}/?status=500", "-n", "3", "-c", "1", "--db", str(db)]
            assert main([*args, "--quiet"]) == 0
    return db


INSPECT_BOUNDS = {
    "show-huge-id": (["show", HUGE], "ID must be between 1 and 9223372036854775807"),
    "show-zero-id": (["show", "0"], "ID must be between 1 and"),
    "replay-huge-id": (["replay", HUGE], "ID must be between 1 and"),
    "failures-run-huge": (["failures", "--run", HUGE], "is larger than any id"),
    "failures-limit-huge": (["failures", "--limit", HUGE], "--limit must be between 1 and"),
    "failures-offset-huge": (["failures", "--offset", HUGE], "--offset must be between 0 and"),
    "failures-session-huge": (["failures", "--session", HUGE], "--session must be between 0"),
    "failures-session-negative": (["failures", "--session", "-1"], "--session must be between"),
    "failures-connection-zero": (
        ["failures", "--connection", "0"],
        "--connection must be between 1",
    ),
    "export-connection-huge": (["export", "--connection", HUGE], "--connection must be between 1"),
    "failures-since-before-year-1": (
        ["failures", "--since", "0001-01-01T00:00:00+14:00"],
        "outside the years 1-9999 in UTC",
    ),
    "failures-until-after-9999": (
        ["failures", "--until", "9999-12-31T23:59:59-14:00"],
        "outside the years 1-9999 in UTC",
    ),
    "failures-slower-than-huge": (["failures", "--slower-than", "99999h"], "must be between 1ms"),
    "summary-all": (["summary", "-r", "all"], "summary reads one run, not 'all'"),
    "summary-run-huge": (["summary", "-r", HUGE], "is larger than any id"),
    "sockets-run-huge": (["sockets", "-r", HUGE], "is larger than any id"),
}


@pytest.mark.parametrize(("args", "expect"), INSPECT_BOUNDS.values(), ids=INSPECT_BOUNDS.keys())
def test_out_of_range_inspect_input_is_refused(
    cli, two_runs: Path, args: list[str], expect: str
) -> None:
    before = two_runs.read_bytes()
    result = cli(*args, "--db", two_runs)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("capture: error: ") and result.stderr.count("\n") == 1
    assert expect in result.stderr and "Traceback" not in result.stderr
    assert two_runs.read_bytes() == before


@pytest.mark.parametrize("args", [["show", HUGE], ["show", "0"], ["failures", "--limit", HUGE]])
def test_out_of_range_id_creates_no_database(cli, clean_dir: Path, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert list(clean_dir.iterdir()) == []


def test_sockets_all_lists_every_run(cli, two_runs: Path) -> None:
    result = cli("sockets", "-r", "all", "--db", two_runs, "-f", "json")
    assert result.exit_code == 0, result.stderr
    got = sorted((r["run_id"], r["local_addr"], r["requests"]) for r in json.loads(result.stdout))
    expected = query(
        two_runs,
        "select run_id, local_addr, count(*) from requests group by run_id, local_addr",
    )
    assert got == sorted(expected) and {r for r, _, _ in got} == {1, 2}
    table = cli("sockets", "-r", "all", "--db", two_runs)
    assert table.exit_code == 0, table.stderr
    assert table.stderr == "all runs: 2 connections\n"


def test_bare_cr_in_a_header_keeps_the_headers_after_it(
    cli, server: FaultServer, db_path: Path
) -> None:
    url = f"{server.url}/?fault=bare_cr_header"
    result = cli("run", url, "-n", "1", "--timeout", "30s", "--db", db_path, "--quiet")
    assert result.exit_code == 0, result.stderr
    ((status, kind, headers, body),) = query(
        db_path,
        "select r.status, r.error_kind, f.response_headers, f.body"
        " from requests r join failures f on f.request_id = r.id",
    )
    assert (status, kind) == (500, None)  # a 500, not a body_timeout after --timeout
    assert json.loads(headers)[:2] == [
        ["Content-Type", "text/plain;\rcharset=utf-8"],
        ["Content-Length", str(len(body))],
    ]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
    ],
)
def test_csv_cells_that_a_spreadsheet_reads_as_formulas_are_quoted(value: str, cell: str) -> None:
    lines = list(machine_lines([{"url": value, "status": -1}], Format.csv))
    rows = list(csv.reader(io.StringIO("\n".join(lines) + "\n", newline="")))
    assert rows == [["url", "status"], [cell, "-1"]]  # numbers are left alone


def test_csv_output_quotes_formulas_from_the_server(
    cli, server: FaultServer, db_path: Path
) -> None:
    url = f"{server.url}/?status=500&ctype=%3D1%2B2&body=%3DHYPERLINK(1)"
    assert cli("run", url, "-n", "1", "--db", db_path, "--quiet").exit_code == 0
    listed = cli("failures", "--db", db_path, "-f", "csv")
    assert listed.exit_code == 0, listed.stderr
    (row,) = csv.DictReader(io.StringIO(listed.stdout))
    assert row["content_type"] == "'=1+2"
    exported = cli("export", "--db", db_path, "-f", "csv")
    assert exported.exit_code == 0, exported.stderr
    (full,) = csv.DictReader(io.StringIO(exported.stdout))
    assert full["body"] == "'=HYPERLINK(1)"
    assert cli("failures", "--db", db_path, "-f", "json").stdout.count("'=") == 0  # CSV only


@pytest.mark.parametrize(
    "spelling",
    ["HTTP://{host}/?status=500&token=SEKRIT-9", " {url}/?status=500&token=SEKRIT-9"],
    ids=["upper-scheme", "leading-space"],
)
def test_url_secrets_are_redacted_however_spelled(
    cli, server: FaultServer, db_path: Path, spelling: str
) -> None:
    typed = spelling.format(host=server.url.removeprefix("http://"), url=server.url)
    assert cli("run", typed, "-n", "1", "--db", db_path, "--quiet").exit_code == 0
    ((command, config, url),) = query(
        db_path, "select command_line, config_json, (select url from requests) from runs"
    )
    for text in (command, config, url):
        assert "SEKRIT" not in text and "token=REDACTED-" in text
    assert b"SEKRIT" not in db_path.read_bytes()


@pytest.mark.parametrize(
    ("url", "hidden", "kept"),
    [
        ("HTTP://h/#%74oken=S1&token=S2", "S", "#token=REDACTED-"),
        ("http://h/cb#access_token=S1&x=1", "S1", "#access_token=REDACTED-"),
        ("http://user:S1@h/", "S1", "http://user:REDACTED-"),
        ("http://S1@h/", "S1", "http://REDACTED-"),
    ],
)
def test_redactor_works_on_the_parsed_url(url: str, hidden: str, kept: str) -> None:
    shown = Redactor(key=b"k" * 16).url(url)
    assert hidden not in shown and kept in shown
