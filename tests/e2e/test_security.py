"""Security defaults, each checked against real runs on the fault server: secrets
redacted in every stored form and output, owner-only files, no escape sequence from a
server reaching the terminal, bounded bodies, and filters that reach SQL only as bound
parameters (transport-and-storage notes, section 6)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from capture.cli.main import main
from capture.errors import ExitCode
from capture.store.reader import hide_password
from capture.target.faults import DUP_HEADERS, WEIRD_HEADERS, gzip_bomb, pattern_body
from capture.target.server import FaultServer
from tests.conftest import Result, query

# Request headers a user might send, one per rule of redact.is_secret_header.
SECRET_HEADERS = {
    "Authorization": "Bearer SEKRIT-authorization-0001",
    "Proxy-Authorization": "Basic SEKRIT-proxy-0002",
    "Cookie": "sid=SEKRIT-cookie-0003; theme=dark",
    "X-Api-Key": "SEKRIT-apikey-0004",
    "X-Auth-Token": "SEKRIT-token-0005",
    "X-Client-Secret": "SEKRIT-secret-0006",
    "X-Service-Api-Key": "SEKRIT-service-key-0007",
    "Apikey": "SEKRIT-plain-apikey-0008",
    "X-Password": "SEKRIT-password-0009",
    "X-Session-Id": "SEKRIT-session-0010",
}
PLAIN_HEADER = ("X-Plain", "visible-value-0011")
# What the server sends back on ?fault=dup_headers: three Set-Cookie, two X-Dup.
SET_COOKIES = [v.decode() for k, v in DUP_HEADERS if k == b"Set-Cookie"]
SECRET_VALUES = [*SECRET_HEADERS.values(), *SET_COOKIES]
REDACTED_RE = re.compile(r"\[redacted len=(\d+) hmac=[0-9a-f]{12}\]")
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def _db_bytes(db: Path) -> bytes:
    """The database file and any -wal/-shm beside it, concatenated."""
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _content(db: Path) -> tuple[bytes, bytes]:
    """The database file and its WAL (b"" when absent): what the data is.

    -shm is the WAL index; readers update it, so it is left out."""
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes(), wal.read_bytes() if wal.exists() else b""


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, result.stderr
    return result


def _sources(tmp: Path, url: str) -> dict[str, list[str]]:
    """The same request three ways: -H options, a vegeta targets file, a JSON-lines one."""
    lines = [f"{k}: {v}" for k, v in [*SECRET_HEADERS.items(), PLAIN_HEADER]]
    (tmp / "targets.txt").write_text("\n".join([f"GET {url}", *lines]) + "\n")
    headers = [[k, v] for k, v in [*SECRET_HEADERS.items(), PLAIN_HEADER]]
    (tmp / "targets.jsonl").write_text(json.dumps({"url": url, "headers": headers}) + "\n")
    options = [arg for line in lines for arg in ("-H", line)]
    return {
        "options": [url, *options],
        "vegeta": ["--targets", str(tmp / "targets.txt")],
        "jsonl": ["--targets", str(tmp / "targets.jsonl")],
    }


def _run_with_secrets(
    cli, server: FaultServer, db: Path, source: str, monkeypatch: pytest.MonkeyPatch, *extra: str
) -> None:
    url = f"{server.url}/api?fault=dup_headers&status=500"
    args = ["run", *_sources(db.parent, url)[source], "-n", "3", "-c", "1", "--db", str(db)]
    args += ["--quiet", *extra]
    # runs.command_line is taken from sys.argv, as the console script sees it.
    monkeypatch.setattr(sys, "argv", ["capture", *args])
    _ok(cli(*args))
    assert query(db, "select count(*) from failures") == [(3,)]


def _every_output(cli, db: Path, tmp: Path) -> Iterator[tuple[str, str]]:
    """Yields (command, text) for every reading command's stdout and stderr."""
    d = ["--db", str(db)]
    commands = [
        ["failures", *d],
        *(["failures", *d, "-f", fmt] for fmt in ("json", "jsonl", "csv")),
        ["show", "1", *d],
        ["show", "1", "--curl", *d],
        *(["export", *d, "-f", fmt] for fmt in ("har", "jsonl", "csv")),
        ["runs", *d],
        ["runs", *d, "-f", "json"],
        ["summary", *d],
        ["sockets", *d],
    ]
    for command in commands:
        result = _ok(cli(*command))
        yield " ".join(command[:1] + command[3:]), result.stdout + result.stderr
    _ok(cli("export", *d, "-f", "har", "-o", str(tmp / "out.har")))
    yield "export -o out.har", (tmp / "out.har").read_text()


@pytest.mark.parametrize("source", ["options", "vegeta", "jsonl"])
def test_secrets_are_redacted_everywhere_by_default(
    cli, server: FaultServer, db_path: Path, tmp_path: Path, source: str, monkeypatch
) -> None:
    _run_with_secrets(cli, server, db_path, source, monkeypatch)

    raw = _db_bytes(db_path)
    for secret in SECRET_VALUES:
        assert secret.encode() not in raw
    assert PLAIN_HEADER[1].encode() in raw  # redaction is not just dropping headers

    shown: dict[str, set[str]] = {}
    for request_json, response_json in query(
        db_path, "select request_headers, response_headers from failures order by request_id"
    ):
        request, response = dict(json.loads(request_json)), json.loads(response_json)
        for name, value in SECRET_HEADERS.items():
            m = REDACTED_RE.fullmatch(request[name])
            assert m and int(m.group(1)) == len(value), request[name]
            shown.setdefault(name, set()).add(request[name])
        assert request[PLAIN_HEADER[0]] == PLAIN_HEADER[1]
        cookies = [v for k, v in response if k == "Set-Cookie"]
        lengths = [m and int(m.group(1)) for m in map(REDACTED_RE.fullmatch, cookies)]
        assert lengths == [len(v) for v in SET_COOKIES]
        assert [v for k, v in response if k == "X-Dup"] == ["first", "second"]
    # One key per run: the same value redacts to the same text on every request.
    assert all(len(forms) == 1 for forms in shown.values())

    ((command_line, config_json),) = query(db_path, "select command_line, config_json from runs")
    config = json.loads(config_json)
    headers = dict(config["targets"][0]["headers"])
    for name, value in SECRET_HEADERS.items():
        m = REDACTED_RE.fullmatch(headers[name])
        assert m and int(m.group(1)) == len(value)
    assert headers[PLAIN_HEADER[0]] == PLAIN_HEADER[1]
    if source == "options":  # the secrets were on the command line itself
        assert command_line.count("[redacted len=") == len(SECRET_HEADERS)
        assert PLAIN_HEADER[1] in command_line
        assert config["command_line"] == command_line

    for command, text in _every_output(cli, db_path, tmp_path):
        for secret in SECRET_VALUES:
            assert secret not in text, (command, secret)


def test_command_line_hides_secrets_however_spelled(
    cli, server: FaultServer, db_path: Path, monkeypatch
) -> None:
    args = [
        "run", f"{server.url}/?status=500", "-n", "1", "--db", str(db_path), "--quiet",
        "-H", "Authorization: Bearer SEKRIT-1", "--header=Cookie: SEKRIT-2",
        "-kHX-Auth-Token: SEKRIT-3", "-HX-Api-Key:SEKRIT-4", "--header", "X-Plain: shown",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["capture", *args])
    _ok(cli(*args))
    ((command_line,),) = query(db_path, "select command_line from runs")
    assert "SEKRIT" not in command_line and "X-Plain: shown" in command_line
    assert re.sub(r"hmac=[0-9a-f]{12}", "hmac=H", command_line).endswith(
        "-H 'Authorization: [redacted len=15 hmac=H]' '--header=Cookie: [redacted len=8 hmac=H]'"
        " '-kHX-Auth-Token: [redacted len=8 hmac=H]' '-HX-Api-Key: [redacted len=8 hmac=H]'"
        " --header 'X-Plain: shown'"
    )
    assert hide_password("postgresql://me:SEKRIT@127.0.0.1/x") == "postgresql://me:***@127.0.0.1/x"
    assert hide_password("sqlite:///capture.db") == "sqlite:///capture.db"


def test_keep_secrets_stores_them_as_sent(
    cli, server: FaultServer, db_path: Path, tmp_path: Path, monkeypatch
) -> None:
    _run_with_secrets(cli, server, db_path, "options", monkeypatch, "--keep-secrets")

    for request_json, response_json in query(
        db_path, "select request_headers, response_headers from failures"
    ):
        request = dict(json.loads(request_json))
        assert {k: request[k] for k in SECRET_HEADERS} == SECRET_HEADERS
        assert [v for k, v in json.loads(response_json) if k == "Set-Cookie"] == SET_COOKIES
    ((command_line, config_json),) = query(db_path, "select command_line, config_json from runs")
    assert dict(json.loads(config_json)["targets"][0]["headers"]) == {
        **SECRET_HEADERS,
        PLAIN_HEADER[0]: PLAIN_HEADER[1],
    }
    assert "[redacted" not in command_line
    show = _ok(cli("show", "1", "--db", db_path)).stdout
    for secret in SECRET_VALUES:
        assert secret in show


def test_files_are_owner_only_even_with_an_open_umask(
    cli, server: FaultServer, db_path: Path
) -> None:
    modes: dict[str, int] = {}
    done = threading.Event()
    names = {db_path.name + suffix for suffix in ("", "-wal", "-shm")}

    def watch() -> None:
        # -wal and -shm exist only while the run holds the file open; note their modes.
        for _ in range(20_000):  # bounded: far beyond the run's 4 x 0.2 s
            for p in db_path.parent.glob(db_path.name + "*"):
                with contextlib.suppress(FileNotFoundError):  # -journal comes and goes
                    modes.setdefault(p.name, stat.S_IMODE(p.stat().st_mode))
            if done.is_set() or names <= modes.keys():
                return
            done.wait(0.002)

    watcher = threading.Thread(target=watch)
    old_umask = os.umask(0)
    try:
        watcher.start()
        result = cli(
            "run", f"{server.url}/?delay=0.2&status=500", "-n", "4", "-c", "1",
            "--db", db_path, "--quiet",
        )  # fmt: skip
        # A reader afterwards (it may recreate -shm) runs under the same umask.
        reader = cli("failures", "--db", db_path, "-f", "jsonl")
    finally:
        os.umask(old_umask)
        done.set()
        watcher.join(10)
    assert result.exit_code == 0, result.stderr
    assert reader.exit_code == 0 and len(reader.stdout.splitlines()) == 4
    assert names <= modes.keys()
    assert set(modes.values()) == {0o600}, modes
    for p in db_path.parent.glob(db_path.name + "*"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


EVIL_TEXT = "osc \x1b]0;pwned\x07 csi \x1b[31mred\x1b[0m c1 \x9b2J bidi \u202eevil\u202c end"


def test_no_escape_sequence_reaches_the_terminal(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(
        f"GET {server.url}/?fault=weird_headers\n\n"
        f"GET {server.url}/?fault=binary&status=500\n\n"
        f"GET {server.url}/?status=500&body={quote(EVIL_TEXT)}\n"
    )
    _ok(cli("run", "--targets", targets, "-n", "3", "-c", "1", "--db", db_path, "--quiet"))
    stored = query(db_path, "select request_id, body, response_headers from failures")
    assert [row[0] for row in stored] == [1, 2, 3]
    for name, value in WEIRD_HEADERS:  # stored as sent (latin-1); only output is escaped
        assert [name.decode(), value.decode("latin-1")] in json.loads(stored[0][2])
    assert stored[2][1] == EVIL_TEXT.encode()

    d = ["--db", str(db_path)]
    commands = [
        ["failures", *d],
        ["failures", *d, "-f", "table"],
        *(["show", str(i), *d] for i in (1, 2, 3)),
        *(["show", str(i), "--curl", *d] for i in (1, 2, 3)),
        ["summary", *d],
        ["sockets", *d],
        ["runs", *d],
        ["failures", *d, "-f", "json"],
        ["failures", *d, "-f", "jsonl"],
        ["failures", *d, "-f", "csv"],
        ["runs", *d, "-f", "json"],
        ["export", *d, "-f", "jsonl"],
        ["export", *d, "-f", "har"],
    ]
    for command in commands:
        result = _ok(cli(*command))
        for char in RAW_CONTROLS:
            assert char not in result.stdout, (command, char)
            assert char not in result.stderr, (command, char)
    show3 = _ok(cli("show", "3", *d)).stdout
    assert "osc \\x1b]0;pwned\\x07 csi \\x1b[31mred\\x1b[0m c1 \\x9b2J bidi \\u202eevil" in show3
    assert "X-Escape: \\x1b[31mred\\x1b[0m" in _ok(cli("show", "1", *d)).stdout
    # Machine formats escape them, and give back the exact text when parsed.
    exported = [
        json.loads(line) for line in _ok(cli("export", *d, "-f", "jsonl")).stdout.splitlines()
    ]
    assert exported[2]["body"] == EVIL_TEXT
    assert ["X-Escape", "\x1b[31mred\x1b[0m"] in exported[0]["response_headers"]


@pytest.mark.parametrize(
    ("query_string", "max_body", "wire_bytes", "body"),
    [
        ("fault=gzip_bomb&status=500", "4KiB", None, bytes(4096)),  # None: the bomb's size
        ("fault=big&size=5000000&status=500", "1000", 5_000_000, pattern_body(1000)),
        ("fault=gzip_bomb&status=500", "0", None, b""),
    ],
    ids=["gzip-bomb", "big-body", "max-body-0"],
)
def test_stored_bodies_are_bounded(
    cli,
    server: FaultServer,
    db_path: Path,
    query_string: str,
    max_body: str,
    wire_bytes: int | None,
    body: bytes,
) -> None:
    wire_bytes = len(gzip_bomb()) if wire_bytes is None else wire_bytes  # 100 KB -> 100 MiB
    url = f"{server.url}/?{query_string}"
    _ok(cli("run", url, "-n", "2", "-c", "1", "--max-body", max_body, "--db", db_path, "--quiet"))
    limit = {"4KiB": 4096, "1000": 1000, "0": 0}[max_body]
    rows = query(
        db_path,
        "select ifnull(length(f.body), 0), f.body_size, f.body_truncated, r.status, r.bytes_in,"
        " ifnull(f.body, x'') from failures f join requests r on r.id = f.request_id",
    )
    assert rows == [(limit, wire_bytes, 1, 500, wire_bytes, body)] * 2
    assert len(_db_bytes(db_path)) < 1 << 20  # the file stays small


def test_redirect_bodies_are_bounded_when_following(server: FaultServer, db_path: Path) -> None:
    """requests reads each redirect hop's body whole before following it; capture keeps
    at most --max-body of it and drops the connection instead of reading 200 MB."""
    big = 200_000_000
    url = f"{server.url}/r?redirect_to=/done&size={big}"
    args = ["run", url, "-n", "3", "-c", "1", "--follow-redirects", "--db", str(db_path)]
    # VmHWM, the peak resident set of this process image (ru_maxrss would include the
    # memory of the forking test process, carried across exec).
    probe = (
        "import sys; from capture.cli import main; rc = main(sys.argv[1:]);"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]);"
        "sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *args, "--quiet"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 150 * 1024  # KiB: far below the 200 MB body
    assert (
        query(db_path, "select status, failed, url from requests order by seq")
        == [(200, 0, url)] * 3
    )
    # The target logs a streamed reply when its stream ends: a dropped /r is logged once its
    # send fails, which races the log entry of the /done that follows on a new connection.
    # So read the ledger in the client's order: -c 1 sends one request at a time, and opens
    # connections one after another (connection_no), each used in order.
    entries = sorted(server.wait_for_entries(6), key=lambda e: (e.connection_no, e.seq))
    served = [
        (e.connection_no, e.connection_request_no, e.path.split("?")[0], e.status, e.action)
        for e in entries
    ]
    # each redirect's connection was dropped, not drained: a fresh one for /done, which the
    # next request's redirect then reuses
    assert served == [
        (1, 1, "/r", 302, "client_gone"),
        (2, 1, "/done", 200, "keep"),
        (2, 2, "/r", 302, "client_gone"),
        (3, 1, "/done", 200, "keep"),
        (3, 2, "/r", 302, "client_gone"),
        (4, 1, "/done", 200, "keep"),
    ]


# Two kinds of failure: A's body is plain, B's URL and body hold SQL and glob wildcards.
BODY_A, BODY_B = "plain", "50%_off* ' OR 1=1 --"
INJECTIONS = ["' OR 1=1 --", "%", "_", "*", '") OR ("1"="1', "'; DROP TABLE failures; --"]


@pytest.fixture(scope="module")
def two_kinds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, set[int]]]:
    """A database with a run of 4 failures, A and B alternating, and their ids.

    Built once for the module: every test checks that it leaves the file unchanged."""
    tmp = tmp_path_factory.mktemp("filters")
    db, targets = tmp / "capture.db", tmp / "targets.txt"
    with FaultServer("127.0.0.1", 0) as server:
        targets.write_text(
            f"GET {server.url}/a?status=500&body={quote(BODY_A)}\n\n"
            f"GET {server.url}/b_x%25?status=503&body={quote(BODY_B)}\n"
        )
        args = ["run", "--targets", str(targets), "-n", "4", "-c", "1", "--db", str(db)]
        assert main([*args, "--quiet"]) == 0
    rows = query(db, "select id, status from requests order by id")
    return db, {"A": {i for i, s in rows if s == 500}, "B": {i for i, s in rows if s == 503}}


RUN_COMMANDS = [("export", ["-f", "jsonl"]), ("summary", []), ("sockets", ["-f", "jsonl"])]


def _ids(result: Result) -> set[int]:
    assert result.exit_code == 0, result.stderr
    return {json.loads(line)["id"] for line in result.stdout.splitlines()}


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        *(("--url", v, "") for v in ["' OR 1=1 --", '") OR ("1"="1', "'; DROP TABLE failures; --"]),
        ("--url", "%", "B"),  # literal: B's path holds %25, the glob does not treat % specially
        ("--url", "_", "B"),
        ("--url", "*", "AB"),  # a glob meaning "any URL"
        ("--url", "*/a?*", "A"),
        *(("--body-contains", v, "B") for v in ["' OR 1=1 --", "%", "_", "*"]),
        ("--body-contains", "'; DROP TABLE failures; --", ""),
        ("--body-contains", "plain", "A"),
        *(("--response-header", f"Content-Length: {v}", "") for v in INJECTIONS),
        *(("--response-header", f"X{v}A: x", None) for v in ['"', " ", "("]),  # not a name: refused
        *(("--socket", v, "") for v in INJECTIONS),
        *(("--method", v, "") for v in INJECTIONS),
        *(("--error", v, "") for v in INJECTIONS),
        *(("--run", v, "not found") for v in INJECTIONS),
    ],
)
def test_filters_reach_sql_only_as_bound_parameters(
    cli,
    two_kinds: tuple[Path, dict[str, set[int]]],
    option: str,
    value: str,
    expected: str | None,
) -> None:
    db_path, kinds = two_kinds
    before = _content(db_path)
    assert len(kinds["A"]) == len(kinds["B"]) == 2
    d = ["--db", db_path]
    results = [cli("failures", *d, "-f", "jsonl", option, value)]
    if option == "--run":  # every command that reads a run takes it as --run
        results += [cli(c, *d, *f, option, value) for c, f in RUN_COMMANDS]
    else:
        results.append(cli("export", *d, "-f", "jsonl", option, value))
    for result in results:
        if expected is None:
            assert (
                result.exit_code == ExitCode.USAGE and "is not a valid header name" in result.stderr
            )
        elif expected == "not found":
            assert result.exit_code == ExitCode.NOT_FOUND, result.stderr
            assert result.stderr.startswith("capture: error: no run ") and result.stdout == ""
        else:
            assert _ids(result) == set().union(*(kinds[k] for k in expected))
    assert _content(db_path) == before
    assert query(db_path, "select count(*) from failures") == [(4,)]


def test_secret_query_parameters_are_redacted(cli, server: FaultServer, tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    url = f"{server.url}/api?status=500&api_key=s3cr3tkey&page=2"
    assert cli("run", url, "-n", "2", "--db", db, "--quiet").exit_code == 0
    stored = {u for (u,) in query(db, "select url from requests")}
    assert len(stored) == 1
    (only,) = stored
    assert "s3cr3tkey" not in only and "api_key=REDACTED-" in only and "page=2" in only
    (config, command) = query(db, "select config_json, command_line from runs")[0]
    assert "s3cr3tkey" not in config and "s3cr3tkey" not in command
    assert b"s3cr3tkey" not in db.read_bytes()
    refused = cli("replay", "1", "--db", db)
    assert refused.exit_code == 2 and "redacted query values" in refused.stderr
    kept = tmp_path / "k.db"
    assert cli("run", url, "-n", "1", "--db", kept, "--quiet", "--keep-secrets").exit_code == 0
    assert query(kept, "select url from requests") == [(url,)]
