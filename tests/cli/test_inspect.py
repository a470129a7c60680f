"""The inspection commands, each checked for exact rows against a database written by a
real run against the built-in target."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from capture.cli.main import app, main
from capture.store.revisions import REVISIONS
from capture.target.server import FaultServer
from tests.conftest import Result, query

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, FaultServer]]:
    """Two runs: 200 mixed requests (165 failures), then 5 refused connections."""
    db = tmp_path_factory.mktemp("inspect") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        urls = [
            f"{server.url}/a?mix=500:10,503:5",
            f"{server.url}/b?fault=binary&status=502",
            f"{server.url}/c?fault=weird_headers",
            f"{server.url}/d?status=404&ctype=application/json&body=%7B%22error%22%3A%22nope%22%7D",
        ]
        assert (
            main(
                [
                    "run",
                    *urls,
                    "-n",
                    "200",
                    "-c",
                    "3",
                    "--db",
                    str(db),
                    "--quiet",
                    "--id-header",
                    "X-Capture-Id",
                    "--name",
                    "first",
                ]
            )
            == 0
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        assert (
            main(
                [
                    "run",
                    f"http://127.0.0.1:{port}/gone",
                    "-n",
                    "5",
                    "--db",
                    str(db),
                    "--quiet",
                    "--name",
                    "second",
                ]
            )
            == 0
        )
        yield db, server


def _ids(result: Result) -> list[int]:
    assert result.exit_code == 0, result.stderr
    return [row["id"] for row in json.loads(result.stdout)]


def test_failures_default_is_latest_run(cli, world) -> None:
    db, _ = world
    rows = json.loads(cli("failures", "--db", db, "-f", "json").stdout)
    assert [(r["run_id"], r["error_kind"], r["status"]) for r in rows] == [
        (2, "connect_refused", None)
    ] * 5


@pytest.mark.parametrize(
    ("args", "sql"),
    [
        (["--status", "5xx"], "r.status between 500 and 599"),
        (["--status", "404"], "r.status = 404"),
        (["--status", "4xx,503"], "(r.status between 400 and 499 or r.status = 503)"),
        (["--status", "500-502"], "r.status between 500 and 502"),
        (["--url", "*/b?*"], "r.url like '%/b?%'"),
        (["--url", "/c"], "r.url like '%/c%'"),
        (["--method", "get"], "r.method = 'GET'"),
        (["--body-contains", "nope"], "instr(f.body, 'nope') > 0"),
        (
            ["--response-header", "Content-Type: application/json"],
            "f.content_type = 'application/json'",
        ),
        (["--session", "1"], "r.session = 1"),
        (["--since", "0.02s"], "r.offset_ms >= 20"),
        (["--until", "20ms"], "r.offset_ms < 20"),
        (["--slower-than", "1ms"], "r.latency_ms > 1"),
    ],
)
def test_failures_filters(cli, world, args: list[str], sql: str) -> None:
    db, _ = world
    expected = [
        rid
        for (rid,) in query(
            db,
            "select r.id from failures f join requests r on r.id = f.request_id"
            f" where r.run_id = 1 and {sql} order by r.id desc",
        )
    ]
    got = _ids(
        cli("failures", "--db", db, "--run", "first", "-f", "json", "--limit", "1000", *args)
    )
    assert got == expected


def _count(cli, db: Path, *args: str) -> int:  # type: ignore[no-untyped-def]
    return len(
        _ids(cli("failures", "--db", db, "--run", "1", "-f", "json", "--limit", "1000", *args))
    )


def test_failure_counts_of_the_mixed_run(cli, world) -> None:
    db, _ = world
    assert _count(cli, db) == 165
    assert _count(cli, db, "--status", "500") == 60
    assert _count(cli, db, "--status", "503") == 5
    assert _count(cli, db, "--status", "502") == 50
    assert _count(cli, db, "--status", "404") == 50
    assert (
        len(
            _ids(
                cli(
                    "failures",
                    "--db",
                    db,
                    "--run",
                    "all",
                    "-f",
                    "json",
                    "--limit",
                    "500",
                    "--error",
                    "connect_refused",
                )
            )
        )
        == 5
    )


def test_failures_socket_filter(cli, world) -> None:
    db, _ = world
    (local,) = query(db, "select local_addr from requests where run_id = 1 limit 1")[0]
    expected = query(
        db, "select count(*) from requests where run_id = 1 and failed and local_addr = ?", local
    )[0][0]
    assert _count(cli, db, "--socket", local) == expected
    port = str(local).rsplit(":", 1)[1]
    assert _count(cli, db, "--socket", port) == expected


def test_paging_and_order(cli, world) -> None:
    db, _ = world
    all_ids = _ids(cli("failures", "--db", db, "-r", "1", "-f", "json", "--limit", "500"))
    assert all_ids == sorted(all_ids, reverse=True)
    page = _ids(
        cli("failures", "--db", db, "-r", "1", "-f", "json", "--limit", "10", "--offset", "5")
    )
    assert page == all_ids[5:15]
    oldest = _ids(cli("failures", "--db", db, "-r", "1", "-f", "json", "--limit", "3", "--oldest"))
    assert oldest == sorted(all_ids)[:3]


def test_machine_formats_print_only_data(cli, world) -> None:
    db, _ = world
    jsonl = cli("failures", "--db", db, "-r", "1", "-f", "jsonl", "--status", "404")
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert len(rows) == 50 and {r["status"] for r in rows} == {404}
    table = list(
        csv.DictReader(
            io.StringIO(
                cli("failures", "--db", db, "-r", "1", "-f", "csv", "--status", "404").stdout
            )
        )
    )
    assert len(table) == 50 and {r["status"] for r in table} == {"404"}
    assert {int(r["id"]) for r in table} == {r["id"] for r in rows}


def test_table_output(cli, world) -> None:
    db, _ = world
    out = cli("failures", "--db", db, "-r", "1", "--limit", "3", "--status", "404").stdout
    lines = out.strip().splitlines()
    assert lines[0].split() == [
        "id",
        "offset",
        "method",
        "url",
        "outcome",
        "latency",
        "body",
        "socket",
        "connection",
        "req#",
        "on",
        "conn",
    ]
    assert len(lines) == 4 and all(" 404 " in line for line in lines[1:])
    # the connection column is the row's connection_id
    ids = [int(line.split()[0]) for line in lines[1:]]
    for rid, line in zip(ids, lines[1:], strict=True):
        ((conn,),) = query(db, "select connection_id from requests where id = ?", rid)
        assert line.split()[-2] == str(conn)


def test_show_one_exchange(cli, world) -> None:
    db, _ = world
    (rid, cid, local) = query(
        db,
        "select r.id, r.correlation_id, r.local_addr from requests r"
        " where r.url like '%/c?%' limit 1",
    )[0]
    out = cli("show", rid, "--db", db).stdout
    assert "< HTTP/1.1 500 Internal Server Error" in out
    assert f"X-Capture-Id: {cid}" in out and f"< X-Fault-Id: {cid}" in out
    assert "\x1b" not in out and "\\x1b[31m" in out  # the escape sequence is made visible
    assert "café" in out  # UTF-8 header bytes shown as text, stored as latin-1
    assert f"socket    {local} ->" in out and "same connection:" in out


def test_show_binary_body_and_raw_bytes(cli, world) -> None:
    db, server = world
    (rid, cid) = query(
        db, "select id, correlation_id from requests where url like '%/b?%' limit 1"
    )[0]
    out = cli("show", rid, "--db", db).stdout
    assert "(binary; hex preview" in out and "\x00" not in out and "\x1b" not in out
    raw = subprocess.run(
        [sys.executable, "-m", "capture", "show", str(rid), "--db", str(db), "--body"],
        capture_output=True,
        check=True,
    ).stdout
    entry = next(e for e in server.entries() if e.request_id == cid)
    assert hashlib.sha256(raw).hexdigest() == entry.body_sha256


def test_show_curl_and_unknown_id(cli, world) -> None:
    db, _ = world
    (rid,) = query(db, "select id from requests where url like '%/d?%' limit 1")[0]
    out = cli("show", rid, "--db", db, "--curl").stdout
    assert out.startswith("curl -sS -i -X GET -H 'User-Agent: capture/")
    assert "/d?status=404" in out
    missing = cli("show", "999999", "--db", db)
    assert missing.exit_code == 4 and missing.stderr.count("\n") == 1


def test_runs_lists_both(cli, world) -> None:
    db, _ = world
    rows = json.loads(cli("runs", "--db", db, "-f", "json").stdout)
    assert [(r["id"], r["name"], r["requests"], r["failures"], r["status"]) for r in rows] == [
        (1, "first", 200, 165, "completed"),
        (2, "second", 5, 5, "completed"),
    ]
    assert all(r["rate"] > 0 for r in rows)
    assert "first" in cli("runs", "--db", db).stdout


def test_summary(cli, world) -> None:
    db, _ = world
    out = cli("summary", "-r", "first", "--db", db).stdout
    assert "requests 200, failed 165 (82.5%)" in out
    for line in (
        "500                   60  30.0%",
        "502                   50  25.0%",
        "404                   50  25.0%",
        "200                   35  17.5%",
    ):
        assert line in out
    assert "failure groups" in out
    # the example hint runs as printed: this capture, this file
    import shlex
    import subprocess

    from capture.output.hints import program

    hint = next(x for x in out.splitlines() if "  e.g. " in x).split("  e.g. ", 1)[1]
    assert hint.startswith(f"{program()} show --db {shlex.quote(str(db))} ")
    shown = subprocess.run(shlex.split(hint), capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert "connect_refused" in cli("summary", "--db", db).stdout


def test_sockets(cli, world) -> None:
    db, _ = world
    rows = json.loads(cli("sockets", "-r", "1", "--db", db, "-f", "json").stdout)
    expected = query(
        db, "select local_addr, count(*), sum(failed) from requests where run_id = 1 group by 1"
    )
    assert sorted((r["local_addr"], r["requests"], r["failures"]) for r in rows) == sorted(expected)
    assert sum(r["requests"] for r in rows) == 200


def _check_har(doc: dict) -> None:  # type: ignore[type-arg]
    """The HAR 1.2 structure: required members and their types."""
    log = doc["log"]
    assert log["version"] == "1.2" and isinstance(log["creator"]["name"], str)
    for e in log["entries"]:
        assert isinstance(e["startedDateTime"], str) and isinstance(e["time"], float)
        for part in ("request", "response"):
            assert isinstance(e[part]["headers"], list) and isinstance(e[part]["cookies"], list)
            assert isinstance(e[part]["headersSize"], int) and isinstance(e[part]["bodySize"], int)
            assert all(set(h) == {"name", "value"} for h in e[part]["headers"])
        assert isinstance(e["request"]["queryString"], list)
        assert {"size", "mimeType"} <= set(e["response"]["content"])
        assert isinstance(e["response"]["status"], int)
        assert isinstance(e["cache"], dict)
        timings = e["timings"]
        assert all(timings[k] >= 0 for k in ("send", "wait", "receive"))


def test_export_har_jsonl_csv(cli, world, tmp_path: Path) -> None:
    db, _ = world
    har = tmp_path / "f.har"
    assert cli("export", "-r", "1", "--db", db, "-o", har, "--status", "502").exit_code == 0
    doc = json.loads(har.read_text())
    _check_har(doc)
    entries = doc["log"]["entries"]
    assert len(entries) == 50 and {e["response"]["status"] for e in entries} == {502}
    assert all(e["response"]["content"]["encoding"] == "base64" for e in entries)
    out = cli("export", "-r", "1", "--db", db, "-f", "jsonl", "--status", "404").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 50 and rows[0]["body"] == '{"error":"nope"}'
    assert ["Content-Type", "application/json"] in rows[0]["response_headers"]
    csv_rows = list(
        csv.DictReader(
            io.StringIO(cli("export", "-r", "1", "--db", db, "-f", "csv", "--status", "503").stdout)
        )
    )
    assert len(csv_rows) == 5 and {r["status"] for r in csv_rows} == {"503"}


def test_replay(cli, world) -> None:
    db, _ = world
    (rid,) = query(db, "select id from requests where url like '%/d?%' limit 1")[0]
    lines = cli("replay", rid, "--db", db).stdout.splitlines()
    assert lines[1].split() == ["outcome", "404", "404"]
    assert lines[2].split() == ["body", "16", "bytes", "16", "bytes"]
    assert lines[4].split() == ["changed", "no"]


def test_replay_needs_redacted_values(cli, server: FaultServer, db_path: Path) -> None:
    assert (
        cli(
            "run",
            f"{server.url}/?status=500",
            "-n",
            "1",
            "--db",
            db_path,
            "--quiet",
            "-H",
            "Authorization: Bearer t0ken",
        ).exit_code
        == 0
    )
    refused = cli("replay", "1", "--db", db_path)
    assert refused.exit_code == 2 and "Authorization" in refused.stderr
    server.clear()
    assert cli("replay", "1", "--db", db_path, "-H", "Authorization: Bearer new").exit_code == 0
    assert len(server.entries()) == 1


def test_db_info_and_upgrade_of_the_first_revision(cli, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copy(FIXTURES / "rev0001.db", old)
    refused = cli("failures", "--db", old)
    assert refused.exit_code == 3 and "capture db upgrade" in refused.stderr
    info = cli("db", "info", "--db", old).stdout
    assert "schema           0001" in info and "requests         240" in info
    assert cli("db", "upgrade", "--db", old).stdout.strip() == f"schema 0001 -> {REVISIONS[-1]}"
    rows = json.loads(cli("failures", "--db", old, "-f", "json", "--limit", "100").stdout)
    assert len(rows) == 60
    assert query(old, "select count(*) from failure_details where body_signature is not null") == [
        (60,)
    ]
    # 0003: a one-process run (-c 2) gets process 0 and one id per (session, connection_no)
    assert query(
        old,
        "select count(*), sum(process = 0), count(distinct connection_id),"
        " count(distinct session || '/' || connection_no) from requests",
    ) == [(240, 240, 2, 2)]
    assert query(old, "select min(connection_id), max(connection_id) from requests") == [(1, 2)]
    assert query(old, "select sockets_used from runs") == [(2,)]
    assert query(old, "select count(distinct connection_id) from failure_details") == [(2,)]


def test_views(world) -> None:
    db, _ = world
    assert query(
        db, "select status, requests, failed from status_counts where run_id = 1 order by status"
    ) == [(200, 35, 0), (404, 50, 50), (500, 60, 60), (502, 50, 50), (503, 5, 5)]
    assert query(db, "select error_kind, requests from error_counts") == [("connect_refused", 5)]
    assert query(db, "select sum(requests), sum(failures) from per_second where run_id = 1") == [
        (200, 165)
    ]
    (body_text,) = query(db, "select body_text from failure_details where status = 404 limit 1")[0]
    assert body_text == '{"error":"nope"}'
    if shutil.which("sqlite3"):
        out = subprocess.run(
            ["sqlite3", str(db), "select * from failure_details limit 1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.count("\n") >= 1


def test_read_commands_never_change_the_file(cli, world) -> None:
    db, _ = world
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for args in (
        ["failures"],
        ["runs"],
        ["summary"],
        ["sockets"],
        ["show", "1"],
        ["db", "info"],
        ["export", "-f", "jsonl"],
    ):
        assert cli(*args, "--db", db).exit_code == 0, args
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["failures", "--run", "99"], 4, "no run '99'"),
        (["failures", "--run", "nosuchname"], 4, "no run"),
        (["failures", "--status", "6xx"], 2, "not a status"),
        (["failures", "--since", "5 parsecs"], 2, "--since"),
        (["failures", "--limit", "-1"], 2, "--limit"),
        (["summary", "-r", "42"], 4, "no run"),
        (["show", "abc"], 2, "valid integer"),
    ],
)
def test_bad_input(cli, world, args: list[str], code: int, message: str) -> None:
    db, _ = world
    result = cli(*args, "--db", db)
    assert result.exit_code == code
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_and_foreign_files(cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    r = cli("failures", "--db", missing)
    assert r.exit_code == 3 and "does not exist" in r.stderr and not missing.exists()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    r = cli("runs", "--db", text)
    assert r.exit_code == 3 and "not a SQLite database" in r.stderr
    assert text.read_text() == "hello"


def test_markup_in_data_is_literal(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/[bold]x[/bold]?status=500&body=%5Bred%5Dalert%5B%2Fred%5D"
    assert cli("run", url, "-n", "1", "--db", db_path, "--quiet").exit_code == 0
    assert "[bold]x[/bold]" in cli("failures", "--db", db_path).stdout
    assert "[red]alert[/red]" in cli("show", "1", "--db", db_path).stdout


def _commands(group=None, prefix=()):  # type: ignore[no-untyped-def]
    from typer.main import get_command

    command = get_command(app) if group is None else group
    for name, sub in getattr(command, "commands", {}).items():
        if getattr(sub, "commands", None):
            yield from _commands(sub, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_has_help_with_an_example(cli) -> None:
    names = list(_commands())
    assert {
        "run",
        "target",
        "failures",
        "show",
        "runs",
        "summary",
        "sockets",
        "export",
        "replay",
        ("db", "info"),
        ("db", "upgrade"),
    } <= {n[0] if len(n) == 1 else n for n in names}
    for name in names:
        result = cli(*name, "--help")
        assert result.exit_code == 0 and "Example:" in result.stdout, name
