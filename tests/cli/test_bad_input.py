"""Bad input to `capture run` and `capture target`: one clear line on stderr, the usage
exit code (3 for a file that is not a capture database), no traceback, nothing sent to
the server, and no file created or changed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer
from tests.conftest import query

Setup = Callable[[Path, str], None]  # (directory, server URL) -> files written


@dataclass(frozen=True)
class Bad:
    """One bad invocation: its arguments, a text the error line must hold, the exit code."""

    args: tuple[str, ...]
    expect: str
    code: ExitCode = ExitCode.USAGE
    setup: tuple[Setup, ...] = ()


def _file(name: str, content: str | bytes) -> Setup:
    """Writes a file; '{url}' in text content becomes the server's URL."""

    def write(root: Path, url: str) -> None:
        data = content.replace("{url}", url).encode() if isinstance(content, str) else content
        (root / name).write_bytes(data)

    return write


def _dir(name: str) -> Setup:
    return lambda root, _url: (root / name).mkdir()


def _sqlite(name: str, *statements: str) -> Setup:
    def build(root: Path, _url: str) -> None:
        conn = sqlite3.connect(root / name)
        try:
            for sql in statements:
                conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    return build


def bad(
    *args: str, expect: str, code: ExitCode = ExitCode.USAGE, setup: Setup | None = None
) -> Bad:
    """Builds a case; '{url}' in an argument becomes the server's URL."""
    return Bad(args, expect, code, () if setup is None else (setup,))


U = "{url}"  # a good URL: each case is bad for another reason
RUN_CASES = {
    # URLs
    "no-scheme": bad("127.0.0.1:8080/", "-n", "1", expect="only http:// and https://"),
    "ftp": bad("ftp://127.0.0.1/", "-n", "1", expect="only http:// and https://"),
    "scheme-only": bad("http://", "-n", "1", expect="'http://': no host name"),
    "no-host": bad("http:///path", "-n", "1", expect="no host name"),
    "empty-url": bad("", "-n", "1", expect="URL is empty"),
    "space": bad("http://127.0.0.1/a b", "-n", "1", expect="contains white space"),
    "crlf-in-url": bad("http://127.0.0.1/\r\nX-A: b", "-n", "1", expect="contains white space"),
    "esc-in-url": bad("http://127.0.0.1/\x1b[31m", "-n", "1", expect="control characters"),
    "ipv6-unclosed": bad("http://[::1/", "-n", "1", expect="Invalid IPv6 URL"),
    "ipv6-bad-literal": bad("http://[zz::1]/", "-n", "1", expect="'zz::1' does not appear"),
    "port-0": bad("http://127.0.0.1:0/", "-n", "1", expect="port 0 is not a port"),
    "port-70000": bad("http://127.0.0.1:70000/", "-n", "1", expect="Port out of range"),
    "port-abc": bad("http://127.0.0.1:abc/", "-n", "1", expect="Port could not be cast"),
    "userinfo": bad(
        "http://user:hunter2@127.0.0.1/", "-n", "1", expect="'http://***@127.0.0.1/': credentials"
    ),
    # rates and counts
    "qps-0": bad(U, "-n", "1", "--qps", "0", expect="--qps must be greater than zero"),
    "qps-negative": bad(U, "-n", "1", "--qps", "-5", expect="--qps must be greater than zero"),
    "qps-abc": bad(U, "-n", "1", "--qps", "abc", expect="--qps: 'abc' is not a rate"),
    # rate ramps and stages (capture/schedule.py)
    "ramp-no-duration": bad(U, "-n", "9", "--qps", "1:9", expect="--qps FROM:TO needs -d"),
    "ramp-open": bad(U, "-d", "1s", "--qps", "100:", expect="--qps: '100:' is not a rate"),
    "ramp-three": bad(U, "-d", "1s", "--qps", "1:2:3", expect="'1:2:3' is not a rate"),
    "ramp-abc": bad(U, "-d", "1s", "--qps", "1:x", expect="--qps: 'x' is not a rate"),
    "ramp-negative": bad(U, "-d", "1s", "--qps", "-1:9", expect="0 or between 0.001 and 1e+06"),
    "ramp-huge": bad(U, "-d", "1s", "--qps", "1:2e6", expect="--qps: a rate must be 0 or"),
    "ramp-zero": bad(U, "-d", "1s", "--qps", "0:0", expect="--qps: the rates plan no request"),
    "stages-no-rate": bad(U, "--stages", "30s", expect="--stages: '30s' is not a stage"),
    "stages-abc": bad(U, "--stages", "30s:abc", expect="--stages: 'abc' is not a rate"),
    "stages-0s": bad(U, "--stages", "0s:10", expect="'0s' must be greater than zero"),
    "stages-bad-dur": bad(U, "--stages", "x:10", expect="'x' is not a duration"),
    "stages-negative": bad(U, "--stages", "1s:-5", expect="0 or between 0.001 and 1e+06"),
    "stages-huge": bad(U, "--stages", "1s:1e7", expect="--stages: a rate must be 0 or"),
    "stages-nothing": bad(U, "--stages", "1s:0", expect="--stages: the rates plan no request"),
    "stages-qps": bad(U, "--stages", "1s:9", "--qps", "9", expect="--stages cannot go with --qps"),
    "stages-d": bad(U, "--stages", "1s:9", "-d", "1s", expect="--stages cannot go with -d"),
    "qps-nan": bad(U, "-n", "1", "--qps", "nan", expect="--qps must be greater than zero"),
    "qps-inf": bad(U, "-n", "1", "--qps", "inf", expect="--qps must be greater than zero"),
    "requests-0": bad(U, "-n", "0", expect="--requests must be greater than zero"),
    "requests-negative": bad(U, "-n", "-3", expect="--requests must be greater than zero"),
    "requests-abc": bad(U, "-n", "x", expect="'--requests'"),
    "workers-0": bad(U, "-n", "1", "--workers", "0", expect="--workers must be greater"),
    "connections-0": bad(U, "-n", "1", "-c", "0", expect="--connections must be greater"),
    "stop-after-0": bad(U, "-n", "1", "--stop-after-failures", "0", expect="--stop-after-failures"),
    # durations
    "duration-parsecs": bad(U, "-d", "5 parsecs", expect="--duration: '5 parsecs' is not a dur"),
    "duration-0s": bad(U, "-d", "0s", expect="--duration: '0s' must be greater than zero"),
    "duration-negative": bad(U, "-d", "-1s", expect="--duration: '-1s' is not a duration"),
    "timeout-0": bad(U, "-n", "1", "--timeout", "0", expect="--timeout: '0' must be greater"),
    "max-time-0ms": bad(U, "-n", "1", "--max-time", "0ms", expect="--max-time: '0ms' must be"),
    "slow-abc": bad(U, "-n", "1", "--slow", "abc", expect="--slow: 'abc' is not a duration"),
    "grace-parsecs": bad(U, "-n", "1", "--grace", "5 parsecs", expect="--grace: '5 parsecs'"),
    "no-duration-or-count": bad(U, expect="say how long to run"),
    # sizes, statuses, names
    "max-body-negative": bad(U, "-n", "1", "--max-body", "-1", expect="--max-body: '-1' is not"),
    "max-body-parsecs": bad(U, "-n", "1", "--max-body", "5 parsecs", expect="--max-body: '5 pars"),
    "fail-status-6xx": bad(U, "-n", "1", "--fail-status", "6xx", expect="--fail-status: '6xx'"),
    "fail-status-backwards": bad(
        U, "-n", "1", "--fail-status", "504-500", expect="range '504-500' runs backwards"
    ),
    "fail-status-700": bad(U, "-n", "1", "--fail-status", "700", expect="outside the HTTP range"),
    "id-header-space": bad(
        U, "-n", "1", "--id-header", "bad name", expect="--id-header 'bad name' is not a valid"
    ),
    "method-unknown": bad(U, "-n", "1", "-X", "FETCH", expect="'FETCH' is not an HTTP method"),
    # headers and body
    "header-no-colon": bad(U, "-n", "1", "-H", "NoColon", expect="'NoColon': expected 'Name: v"),
    "header-no-name": bad(U, "-n", "1", "-H", ": value", expect="expected 'Name: value'"),
    "header-bad-name": bad(U, "-n", "1", "-H", "Bad Name: v", expect="'Bad Name' is not a valid"),
    "header-crlf": bad(U, "-n", "1", "-H", "X-A: a\r\nX-B: b", expect="contains a line break"),
    "header-lf": bad(U, "-n", "1", "-H", "X-A: a\nb", expect="'X-A': the value contains a line"),
    "header-esc": bad(U, "-n", "1", "-H", "X-A: \x1b[2J", expect="contains control characters"),
    "data-missing-file": bad(
        U, "-n", "1", "--data", "@missing.bin", expect="body file 'missing.bin' does not exist"
    ),
    "data-directory": bad(
        U, "-n", "1", "--data", "@sub", expect="body file 'sub' is a directory", setup=_dir("sub")
    ),
    # targets files
    "targets-missing": bad("--targets", "nope.txt", "-n", "1", expect="'nope.txt' does not exist"),
    "targets-directory": bad(
        "--targets", "sub", "-n", "1", expect="'sub' is a directory", setup=_dir("sub")
    ),
    "targets-empty": bad(
        "--targets", "t.txt", "-n", "1", expect="has no targets", setup=_file("t.txt", "\n# c\n")
    ),
    "targets-not-utf8": bad(
        "--targets", "t.txt", "-n", "1", expect="not UTF-8", setup=_file("t.txt", b"GET \xff\n")
    ),
    "targets-with-urls": bad(
        U, "--targets", "t.txt", "-n", "1", expect="not both", setup=_file("t.txt", "GET {url}\n")
    ),
    "targets-with-header": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        "-H",
        "X-A: 1",
        expect="-H apply to URLs; with --targets, put them in the file",
        setup=_file("t.txt", "GET {url}\n"),
    ),
    "vegeta-bad-method": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:4: method: 'FETCH' is not an HTTP method",
        setup=_file("t.txt", "GET {url}\nX-Ok: 1\n\nFETCH {url}\n"),
    ),
    "vegeta-missing-url": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:3: 'POST' has no URL",
        setup=_file("t.txt", "GET {url}\n\nPOST\nX-A: 1\n"),
    ),
    "vegeta-bad-url": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:2: URL 'ftp://127.0.0.1/'",
        setup=_file("t.txt", "# comment\nGET ftp://127.0.0.1/\n"),
    ),
    "vegeta-header-no-colon": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:3: header 'NoColonHere': expected 'Name: value'",
        setup=_file("t.txt", "GET {url}\nX-Ok: 1\nNoColonHere\n"),
    ),
    "vegeta-header-esc": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:2: header 'X-A': the value contains control characters",
        setup=_file("t.txt", "GET {url}\nX-A: \x1b]0;title\x07\n"),
    ),
    "vegeta-missing-body-file": bad(
        "--targets",
        "t.txt",
        "-n",
        "1",
        expect="t.txt:3: body file",
        setup=_file("t.txt", "POST {url}\nContent-Type: text/plain\n@missing.bin\n"),
    ),
    "jsonl-not-json": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:3: not JSON",
        setup=_file("t.jsonl", '{"url": "{url}"}\n\n{"url": \n'),
    ),
    "jsonl-not-object": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect='t.jsonl:2: expected an object with a "url" string',
        setup=_file("t.jsonl", '{"url": "{url}"}\n["{url}"]\n'),
    ),
    "jsonl-missing-url": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect='t.jsonl:2: expected an object with a "url" string',
        setup=_file("t.jsonl", '{"url": "{url}"}\n{"method": "GET"}\n'),
    ),
    "jsonl-bad-method": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:2: method: 'FETCH' is not an HTTP method",
        setup=_file("t.jsonl", '{"url": "{url}"}\n{"url": "{url}", "method": "FETCH"}\n'),
    ),
    "jsonl-header-no-value": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect='t.jsonl:1: "headers" must map names to strings',
        setup=_file("t.jsonl", '{"url": "{url}", "headers": [["X-A"]]}\n'),
    ),
    "jsonl-header-not-string": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect='t.jsonl:1: "headers" must map names to strings',
        setup=_file("t.jsonl", '{"url": "{url}", "headers": {"X-A": null}}\n'),
    ),
    "jsonl-header-crlf": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect="t.jsonl:2: header 'X-A': the value contains a line break",
        setup=_file(
            "t.jsonl", '{"url": "{url}"}\n{"url": "{url}", "headers": {"X-A": "a\\r\\nb"}}\n'
        ),
    ),
    "jsonl-body-not-string": bad(
        "--targets",
        "t.jsonl",
        "-n",
        "1",
        expect='t.jsonl:1: "body" must be a string',
        setup=_file("t.jsonl", '{"url": "{url}", "method": "POST", "body": {"a": 1}}\n'),
    ),
    # the database
    "db-missing-directory": bad(
        U, "-n", "1", "--db", "nodir/x.db", expect="directory", code=ExitCode.USAGE
    ),
    "db-is-directory": bad(U, "-n", "1", "--db", "sub", expect="is a directory", setup=_dir("sub")),
    "db-not-sqlite": bad(
        U,
        "-n",
        "1",
        "--db",
        "notes.txt",
        expect="is not a SQLite database",
        code=ExitCode.DATA,
        setup=_file("notes.txt", "precious notes, not a database\n"),
    ),
    "db-corrupt-sqlite": bad(
        U,
        "-n",
        "1",
        "--db",
        "x.db",
        expect="cannot open the database: file is not a database",
        code=ExitCode.DATA,
        setup=_file("x.db", b"SQLite format 3\x00" + b"\xa5" * 2000),
    ),
    "db-foreign-sqlite": bad(
        U,
        "-n",
        "1",
        "--db",
        "app.db",
        expect="not a capture file",
        code=ExitCode.DATA,
        setup=_sqlite("app.db", "create table users (id integer primary key, name text)"),
    ),
    "db-newer-revision": bad(
        U,
        "-n",
        "1",
        "--db",
        "new.db",
        expect="newer than this capture",
        code=ExitCode.DATA,
        setup=_sqlite(
            "new.db",
            "create table alembic_version (version_num varchar(32) not null primary key)",
            "insert into alembic_version values ('ffff9999')",
        ),
    ),
    # the command line itself
    "no-target": bad("-n", "1", expect="no target: give a URL or --targets FILE"),
    "unknown-option": bad(U, "-n", "1", "--bogus", expect="No such option: --bogus"),
    "unknown-option-with-escape": bad(U, "-n", "1", "--bo\x1b[2Jgus", expect="No such option"),
    "option-missing-value": bad(U, "-n", expect="'-n' requires an argument"),
}

DB_URL_CASES = {
    "db-url-unknown-dialect": bad(U, "-n", "1", "--db", "sqlite+nosuch:///x.db", expect="--db"),
    # A PostgreSQL URL is a store now (issue 12): nothing listening is a storage error.
    "db-url-no-server": bad(
        U,
        "-n",
        "1",
        "--db",
        "postgresql://127.0.0.1:9/x",
        expect="cannot open the database postgresql://127.0.0.1:9/x",
        code=ExitCode.STORAGE,
    ),
}


def _snapshot(root: Path) -> dict[str, tuple[bool, bytes, int]]:
    """Every file and directory under root: kind, content, mode."""
    return {
        p.relative_to(root).as_posix(): (
            p.is_dir(),
            b"" if p.is_dir() else p.read_bytes(),
            p.stat().st_mode,
        )
        for p in sorted(root.rglob("*"))
    }


def _check_refused(cli, case: Bad, root: Path, server: FaultServer, *, command: str = "run"):
    for setup in case.setup:
        setup(root, f"{server.url}/")
    before = _snapshot(root)
    args = [a.replace("{url}", f"{server.url}/") for a in case.args]
    result = cli(command, *args)
    assert result.exit_code == case.code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("capture: error: "), result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert case.expect in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(c in result.stderr[:-1] for c in "\x1b\x07\r\x9b\u202e")
    assert _snapshot(root) == before  # nothing created (no capture.db), nothing changed
    assert server.entries() == []  # and nothing sent


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, so a default capture.db would show up in it."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("CAPTURE_DB", raising=False)
    monkeypatch.delenv("CAPTURE_DEBUG", raising=False)  # it would turn errors into tracebacks
    return root


@pytest.mark.parametrize("case", RUN_CASES.values(), ids=RUN_CASES.keys())
def test_bad_run_is_refused_cleanly(cli, case: Bad, workdir: Path, server: FaultServer) -> None:
    _check_refused(cli, case, workdir, server)


@pytest.mark.parametrize(
    "case",
    list(DB_URL_CASES.values()),
    ids=DB_URL_CASES.keys(),
)
def test_bad_db_url_is_refused_cleanly(cli, case: Bad, workdir: Path, server: FaultServer) -> None:
    _check_refused(cli, case, workdir, server)


_LEAVE_ALONE = ["duration-0s", "qps-0", "header-crlf", "targets-with-urls"]
_LEAVE_ALONE += ["ramp-no-duration", "ramp-open", "stages-abc", "stages-no-rate", "stages-d"]


@pytest.mark.parametrize(
    "case",
    [RUN_CASES[k] for k in _LEAVE_ALONE],
    ids=_LEAVE_ALONE,
)
def test_bad_run_leaves_an_existing_capture_file_alone(
    cli, case: Bad, workdir: Path, server: FaultServer
) -> None:
    first = cli("run", f"{server.url}/?status=500", "-n", "3", "--quiet")
    assert first.exit_code == 0, first.stderr
    assert query(workdir / "capture.db", "select count(*) from failures") == [(3,)]
    server.clear()
    _check_refused(cli, case, workdir, server)


TARGET_CASES = {
    "port-99999": bad("--port", "99999", expect="--port 99999 is not a TCP port"),
    "port-negative": bad("--port", "-1", expect="--port -1 is not a TCP port"),
    "port-abc": bad("--port", "abc", expect="'--port'"),
    "unknown-option": bad("--bogus", expect="No such option: --bogus"),
}


@pytest.mark.parametrize("case", TARGET_CASES.values(), ids=TARGET_CASES.keys())
def test_bad_target_is_refused_cleanly(cli, case: Bad, workdir: Path, server: FaultServer) -> None:
    _check_refused(cli, case, workdir, server, command="target")


def test_target_port_in_use_is_refused_cleanly(cli, workdir: Path, server: FaultServer) -> None:
    case = bad("--port", str(server.port), expect=f"cannot listen on 127.0.0.1:{server.port}")
    _check_refused(cli, case, workdir, server, command="target")
