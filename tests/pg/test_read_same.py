"""Every read command prints the same bytes from PostgreSQL as from SQLite.

One rich run is stored once, into a SQLite file, and its rows are copied into a
PostgreSQL database with their ids (tests/pg/copy.py): two runs sent twice would differ
in their timings. Each command then reads both stores."""

from __future__ import annotations

import difflib
import json
import shlex
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.cli.main import main
from capture.store.source import without_password
from capture.target.server import FaultServer
from tests.pg.copy import copy_file
from tests.pg.server import PASSWORD, PgServer


@dataclass(frozen=True)
class Stores:
    """The same rows in a SQLite file and in a PostgreSQL database."""

    sqlite: str
    postgres: str
    ids: dict[str, int]  # a request id of each kind, for show and replay
    target: str


def _rich_urls(base: str) -> list[str]:
    return [
        f"{base}/api/items/1?status=500&body=oops%201",
        f"{base}/api/Items/22?status=503",
        f"{base}/ok",
        f"{base}/x?fault=reset",
        f"{base}/x?fault=body_reset",
        f"{base}/bin?fault=binary&status=500",
        f"{base}/weird?fault=weird_headers",
        f"{base}/dup?fault=dup_headers&status=502",
        f"{base}/slow?delay=0.25&status=504",
        f"{base}/stall?fault=body_stall&stall=2&status=500",
        f"{base}/caf%C3%A9?status=404&body=caf%C3%A9%20%FF",
    ]


@pytest.fixture(scope="module")
def stores(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Two runs (one of them --procs 2) stored into SQLite, copied into PostgreSQL."""
    path = tmp_path_factory.mktemp("same") / "capture.db"
    with FaultServer("127.0.0.1", 0) as srv:
        urls = _rich_urls(srv.url)
        first = main(["run", *urls, "-n", "44", "-c", "3", "--timeout", "0.5", "--name",
                      "rich", "--id-header", "X-Req", "--db", str(path), "--quiet"])  # fmt: skip
        assert first == 0
        second = main(["run", urls[0], urls[2], urls[3], "-n", "20", "-c", "2", "--procs", "2",
                       "--qps", "400", "--db", str(path), "--quiet"])  # fmt: skip
        assert second == 0
        _no_nul_in_text(path)
        url = pg_server.create_database(f"same_{id(path)}")
        copy_file(path, url)
        yield Stores(str(path), url, _kinds(path), srv.url)


def _no_nul_in_text(path: Path) -> None:
    """PostgreSQL text cannot hold NUL: the binary body's signature (text, from the body's
    first bytes) has U+FFFD for its NUL in both stores, as the PostgreSQL writer stores it;
    the body itself (bytes) keeps it."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT request_id, body_signature FROM failures").fetchall()
        fixed = [(sig.replace("\0", "\ufffd"), rid) for rid, sig in rows if sig and "\0" in sig]
        with conn:
            conn.executemany("UPDATE failures SET body_signature = ? WHERE request_id = ?", fixed)
        changed = len(fixed)
    finally:
        conn.close()
    assert changed == 4  # the binary URL's failures of the first run


def _kinds(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        found = {
            name: conn.execute(f"SELECT min(id) FROM requests WHERE {where}").fetchone()[0]
            for name, where in (
                ("5xx", "status = 500 AND url LIKE '%oops%'"),
                ("reset", "error_kind = 'reset'"),
                ("binary", "url LIKE '%binary%'"),
                ("ok", "failed = 0"),
                ("dup", "url LIKE '%dup_headers%'"),
                ("timeout", "error_kind = 'body_timeout'"),
            )
        }
    finally:
        conn.close()
    assert all(found.values()), found
    return found


def _read(
    capsysbinary: pytest.CaptureFixture[bytes], args: list[str], db: str
) -> tuple[int, bytes]:
    code = main([*args, "--db", db])
    out, err = capsysbinary.readouterr()
    assert PASSWORD.encode() not in out + err
    return code, out


def _same(stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], args: list[str]) -> bytes:
    """Runs a read command on both stores; asserts equal stdout; returns it."""
    code_sqlite, out_sqlite = _read(capsysbinary, args, stores.sqlite)
    code_pg, out_pg = _read(capsysbinary, args, stores.postgres)
    # A summary's hints (show, and the diagnosis' commands) name the --db they were read
    # from: the one expected difference.
    for command in (b"show", b"failures", b"summary"):
        hint = b" " + command + b" --db "
        pg_db = shlex.quote(without_password(stores.postgres)).encode()
        out_pg = out_pg.replace(hint + pg_db, hint)
        out_sqlite = out_sqlite.replace(hint + shlex.quote(stores.sqlite).encode(), hint)
    assert code_sqlite == 0, args
    assert code_pg == code_sqlite, args
    assert out_pg == out_sqlite, (args, _diff(out_sqlite, out_pg))
    return out_sqlite


def _diff(sqlite_out: bytes, pg_out: bytes) -> str:
    lines = difflib.unified_diff(
        sqlite_out.decode(errors="replace").splitlines(),
        pg_out.decode(errors="replace").splitlines(),
        "sqlite",
        "postgresql",
        lineterm="",
    )
    return "\n".join(list(lines)[:40])


FILTERS = [
    [],
    ["--status", "5xx"],
    ["--status", "500,503-504"],
    ["--error", "reset"],
    ["--error", "reset,body_reset,body_timeout"],
    ["--url", "items"],  # a substring, case-sensitive: not /api/Items/
    ["--url", "*/api/[A-Z]tems/*"],
    ["--url", "*/api/[^I]tems/?"],
    ["--url", "*caf?*"],
    ["--url", "*%*"],
    ["--url", "*[x"],  # an unclosed set matches nothing, in both
    ["--method", "get"],
    ["--since", "0.05s"],
    ["--until", "300ms"],
    ["--since", "2000-01-01T00:00:00Z"],
    ["--until", "2000-01-01T00:00:00Z"],
    ["--slower-than", "200ms"],
    ["--body-contains", "oops"],
    ["--body-contains", "body \x1b"],
    ["--response-header", "x-dup: second"],
    ["--response-header", "Set-Cookie: c=3; HttpOnly"],
    ["--socket", "1"],
    ["--session", "1"],
    ["-r", "1", "--connection", "2"],
    ["-r", "all", "--host", "0", "--oldest"],
    ["--limit", "3"],
    ["--offset", "2", "--limit", "4"],
    ["--all"],
    ["--oldest", "--limit", "5"],
    ["-r", "all"],
    ["-r", "rich", "--status", "5xx", "--oldest"],
    ["-r", "2"],
]


@pytest.mark.parametrize("filters", FILTERS, ids=" ".join)
@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_failures_print_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], filters: list[str], fmt: str
) -> None:
    _same(stores, capsysbinary, ["failures", "-r", "1", *filters, "--format", fmt])


def test_the_filters_select_what_they_name(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """The comparison above means something: the filters do select, in both stores."""
    counts = {}
    for name, args in (("all", []), ("items", ["--url", "items"]), ("none", ["--url", "*[x"]),
                       ("dup", ["--response-header", "x-dup: second"])):  # fmt: skip
        out = _same(stores, capsysbinary, ["failures", "-r", "1", "--all", "-f", "jsonl", *args])
        counts[name] = len(out.splitlines())
    assert counts == {"all": 40, "items": 4, "none": 0, "dup": 4}


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
@pytest.mark.parametrize("command", ["runs", "sockets", "sockets -r all", "sockets -r 2"])
def test_runs_and_sockets_print_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], command: str, fmt: str
) -> None:
    _same(stores, capsysbinary, [*command.split(), "--format", fmt])


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("run", ["1", "2"])
def test_summary_prints_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], run: str, fmt: str
) -> None:
    _same(stores, capsysbinary, ["summary", "-r", run, "--format", fmt])


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "har"])
@pytest.mark.parametrize("filters", [[], ["--status", "5xx"], ["-r", "all", "--url", "*x*"]])
def test_export_prints_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], filters: list[str], fmt: str
) -> None:
    _same(stores, capsysbinary, ["export", "--format", fmt, "-o", "-", *filters])


@pytest.mark.parametrize("kind", ["5xx", "reset", "binary", "ok", "dup", "timeout"])
@pytest.mark.parametrize("option", [[], ["--body"], ["--curl"]])
def test_show_prints_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], kind: str, option: list[str]
) -> None:
    code, _ = _read(capsysbinary, ["show", str(stores.ids[kind]), *option], stores.sqlite)
    if code == 0:
        _same(stores, capsysbinary, ["show", str(stores.ids[kind]), *option])
    else:  # --body of a request that did not fail: the same refusal
        assert (
            _read(capsysbinary, ["show", str(stores.ids[kind]), *option], stores.postgres)[0]
            == code
        )


def test_replay_reads_the_stored_request_from_postgresql(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Only the replayed latency and fresh id differ from one send to the next."""
    args = ["replay", str(stores.ids["5xx"])]
    outputs = []
    for db in (stores.sqlite, stores.postgres):
        code, out = _read(capsysbinary, args, db)
        assert code == 0
        outputs.append(
            [line for line in out.splitlines() if not line.startswith((b"latency", b"id "))]
        )
    assert outputs[0] == outputs[1]
    assert b"500" in b"\n".join(outputs[0])


def test_the_api_reads_postgresql_like_sqlite(stores: Stores) -> None:
    import capture

    pg, lite = capture.open_db(stores.postgres), capture.open_db(stores.sqlite)
    assert pg.runs() == lite.runs()
    assert pg.failures(run=1, status="5xx", limit=None) == lite.failures(
        run=1, status="5xx", limit=None
    )
    assert pg.exchange(stores.ids["dup"]) == lite.exchange(stores.ids["dup"])
    assert pg.summary(1) == lite.summary(1)
    assert pg.sockets("all") == lite.sockets("all")


@pytest.mark.parametrize("runs", [["1"], ["2"], ["1", "2"]])
def test_report_is_the_same(stores: Stores, runs: list[str]) -> None:
    """capture report's data, every series, distribution, example and delta, from both
    stores: only when it was made and which database it names differ."""
    import capture

    pg, lite = capture.open_db(stores.postgres), capture.open_db(stores.sqlite)
    from_pg, from_lite = pg.report(*runs), lite.report(*runs)
    assert from_pg["database"] == without_password(stores.postgres)
    assert PASSWORD not in json.dumps(from_pg)
    for doc in (from_pg, from_lite):
        del doc["generated_at"], doc["database"]
    assert from_pg == from_lite
    assert from_lite["runs"][0]["failure_groups"][0]["examples"]
