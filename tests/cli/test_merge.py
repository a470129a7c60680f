"""`capture merge` end to end: real runs against the built-in target into separate
files, merged into one run whose every row, body and connection identity is checked
against the inputs; and every input it must refuse, with nothing written or changed."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.store.revisions import REVISIONS
from capture.target.server import FaultServer
from tests.conftest import query

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# (file, --connections, --requests): one failure in two, round-robin over two targets.
HOSTS = (("a.db", 2, 30), ("b.db", 3, 40), ("c.db", 1, 20))
EVIDENCE = (
    "select r.correlation_id, r.status, r.url, r.local_addr, r.remote_addr, r.process,"
    " r.connection_no, r.connection_request_no, r.latency_ms, f.body, f.body_size,"
    " f.response_headers, f.request_headers from failures f join requests r"
    " on r.id = f.request_id where f.run_id = ? order by r.correlation_id"
)
ROW = (
    "select correlation_id, session, connection_id, seq, offset_ms, started_at, process,"
    " connection_no, connection_request_no, local_addr, failed, status, backend from requests"
    " where run_id = ? order by correlation_id"
)


def _targets(tmp_path: Path, server: FaultServer, fail: str = "/?status=503&size=300") -> Path:
    path = tmp_path / f"targets-{hashlib.sha1(fail.encode()).hexdigest()[:6]}.jsonl"
    urls = [f"{server.url}/ok", f"{server.url}{fail}"]
    path.write_text("".join(json.dumps({"url": u}) + "\n" for u in urls))
    return path


def _run(cli, db: Path, targets: Path, connections: int, count: int, *extra: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "run", "--targets", targets, "-c", connections, "-n", count, "--id-header", "X-Id",
        "--name", "big", "--db", db, "--quiet", "--backend-header", "Content-Length", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def files(cli, server: FaultServer, tmp_path: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """Three files of one logical run, as three hosts would have written them."""
    targets = _targets(tmp_path, server)
    paths = []
    for name, connections, count in HOSTS:
        _run(cli, tmp_path / name, targets, connections, count)
        paths.append(tmp_path / name)
    return paths


def _fingerprint(directory: Path) -> dict[str, str]:
    """Every file in a directory and a hash of its bytes: what must not change."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def _run_row(db: Path, run_id: int = 1) -> dict[str, object]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("select * from runs where id = ?", (run_id,)).fetchone())
    finally:
        conn.close()


def test_merge_keeps_every_row_body_and_connection(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = _fingerprint(tmp_path)
    out = tmp_path / "all.db"
    result = cli("merge", *files, "-o", out)
    assert result.exit_code == 0, result.stderr
    after = _fingerprint(tmp_path)
    assert {k: v for k, v in after.items() if k != "all.db"} == before  # inputs untouched
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["host 0", "host 1", "host 2"]
    assert "30 requests, 15 failed, 2 sessions" in lines[0]
    assert "40 requests, 20 failed, 3 sessions" in lines[1]
    assert "20 requests, 10 failed, 1 sessions" in lines[2]
    assert lines[3] == "sequence numbers overlapped: renumbered 1..N by start time"
    assert lines[4] == f"merged run 1 in {out}: 90 requests, 45 failures, 3 hosts"

    sources = [_run_row(f) for f in files]
    run = _run_row(out)
    sockets = [query(f, "select count(distinct connection_id) from requests")[0][0] for f in files]
    assert sockets == [2, 3, 1]  # keep-alive: one connection per session
    assert (
        run["requests_total"], run["ok_total"], run["failed_total"], run["failures_stored"],
        run["failures_dropped"], run["aborted_total"], run["sockets_used"], run["hosts"],
    ) == (90, 45, 45, 45, 0, 0, 6, 3)  # fmt: skip
    assert run["status"] == "completed" and run["name"] == "big" and run["qps_asked"] is None
    assert run["cpu_s"] == pytest.approx(sum(s["cpu_s"] for s in sources))  # type: ignore[misc]
    assert run["started_at"] == min(s["started_at"] for s in sources)  # type: ignore[type-var]
    assert run["command_line"].startswith("capture merge ")  # type: ignore[union-attr]
    config = json.loads(str(run["config_json"]))
    assert config["connections"] == 2 and config["merged_from"] == [
        {"file": f.name, "run_id": 1, "run_key": s["run_key"], "sessions": c, "procs": 1}
        for f, s, (_, c, _) in zip(files, sources, HOSTS, strict=True)
    ]

    # Every failure's evidence byte for byte, under its source's correlation id.
    evidence = sorted(row for f in files for row in query(f, EVIDENCE, 1))
    assert query(out, EVIDENCE, 1) == evidence and len(evidence) == 45
    assert {len(row[9]) for row in evidence} == {300}  # type: ignore[arg-type]

    merged = {row[0]: row for row in query(out, ROW, 1)}
    assert sorted(r[3] for r in merged.values()) == list(range(1, 91))  # renumbered 1..N
    assert query(out, "select count(*) from failures f join requests r on r.id = f.request_id"
                 " where r.failed = 1") == [(45,)]  # fmt: skip
    ids: dict[tuple[int, object], object] = {}
    total_sessions, base = 6, 0
    for slot, (path, source) in enumerate(zip(files, sources, strict=True)):
        rows = query(path, ROW, 1)
        shifts = set()
        for key, session, conn_id, _, offset, started, *same in rows:
            new = merged[key]
            assert new[1] == session + base  # type: ignore[operator]
            assert new[2] == (new[7] - 1) * total_sessions + new[1] + 1  # type: ignore[operator]
            assert (new[5], *new[6:]) == (started, *same)  # kept as they were
            shifts.add(round(new[4] - offset, 6))  # type: ignore[operator]
            assert ids.setdefault((slot, conn_id), new[2]) == new[2]  # one merged id each
        assert len(shifts) == 1  # one source, one shift of its offsets
        assert query(out, "select count(*), sum(failed) from requests where host = ?", slot) == [
            (len(rows), len(rows) // 2)
        ]
        assert query(
            out,
            "select hostname, pid, state, joined_at, finished_at, requests_total, failed_total,"
            " failures_stored, failures_dropped, aborted_total, duration_s, cpu_s, error"
            " from run_hosts where run_id = 1 and slot = ?",
            slot,
        ) == [
            (
                *(source["hostname"], source["pid"], "finished", source["started_at"]),
                *(source["finished_at"], len(rows), len(rows) // 2, len(rows) // 2, 0, 0),
                *(source["duration_s"], source["cpu_s"], None),
            )
        ]
        base += (2, 3, 1)[slot]
    assert len(set(ids.values())) == len(ids) == 6  # unique across hosts
    # Each row's backend as its host stored it (the two targets send two body sizes).
    assert query(out, "select backend, sum(failed), count(*) from requests group by 1") == [
        ("Content-Length: 100", 0, 45),
        ("Content-Length: 300", 45, 45),
    ]
    assert min(r[4] for r in merged.values()) < 50  # type: ignore[type-var,operator]
    assert not list(tmp_path.glob("*.merging*"))


def test_read_commands_read_the_merged_file(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "all.db"
    assert cli("merge", *files, "-o", out, "-f", "json").exit_code == 0
    failures = cli("failures", "--db", out, "--all", "-f", "jsonl")
    assert failures.exit_code == 0, failures.stderr
    assert len(failures.stdout.splitlines()) == 45
    # Which host sent a failure: each row says, and --host keeps one host's.
    per_host = Counter(json.loads(line)["host"] for line in failures.stdout.splitlines())
    assert per_host == {0: 15, 1: 20, 2: 10}
    one = cli("failures", "--db", out, "--host", "1", "-f", "jsonl")
    assert [json.loads(line)["host"] for line in one.stdout.splitlines()] == [1] * 20
    summary = cli("summary", "--db", out, "-f", "json")
    assert summary.exit_code == 0, summary.stderr
    assert '"requests": 90' in summary.stdout.replace("\n", "").replace("  ", "")
    # The client-limit rule divides the CPU of all three hosts by all three processes,
    # not by the first host's one.
    assert json.loads(summary.stdout)["client_limit"]["procs"] == 3
    slots = json.loads(summary.stdout)["hosts"]
    assert [(h["slot"], h["state"], h["requests"], h["failures"]) for h in slots] == [
        (0, "finished", 30, 15), (1, "finished", 40, 20), (2, "finished", 20, 10),
    ]  # fmt: skip
    text = cli("summary", "--db", out).stdout
    assert (
        "  hosts 3 finished:\n    slot 0 " in text and ": finished, 40 requests, 20 failed" in text
    )
    sockets = cli("sockets", "--db", out, "-f", "json")
    assert sockets.exit_code == 0, sockets.stderr
    listed = json.loads(sockets.stdout)
    assert len(listed) == 6 and sum(s["requests"] for s in listed) == 90
    runs = json.loads(cli("runs", "--db", out, "-f", "json").stdout)
    assert [(r["id"], r["requests"], r["failures"], r["status"]) for r in runs] == [
        (1, 90, 45, "completed")
    ]


def test_json_output(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("merge", files[0], files[1], "-o", tmp_path / "ab.db", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["run_id"], data["requests"], data["failed"], data["failures"]) == (1, 70, 35, 35)
    assert (data["hosts"], data["sockets"], data["seq_renumbered"]) == (2, 5, True)
    assert [(i["slot"], i["requests"], i["sessions"]) for i in data["inputs"]] == [
        (0, 30, 2),
        (1, 40, 3),
    ]


def _disjoint_copy(source: Path, target: Path, add: int) -> None:
    """A copy whose seqs start after add: as if another host had sent seqs add+1.. ."""
    shutil.copy(source, target)
    conn = sqlite3.connect(target)
    conn.execute("update requests set seq = seq + ?", (add,))
    conn.execute("update runs set run_key = 'feedf00d'")
    conn.commit()
    conn.close()


def test_disjoint_seqs_are_kept(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    later = tmp_path / "later.db"
    _disjoint_copy(files[1], later, 1000)
    result = cli("merge", files[0], later, "-o", tmp_path / "all.db")
    assert result.exit_code == 0, result.stderr
    assert "renumbered" not in result.stdout
    seqs = [r[0] for r in query(tmp_path / "all.db", "select seq from requests order by seq")]
    assert seqs == list(range(1, 31)) + list(range(1001, 1041))


def test_runs_are_chosen_by_name_or_id(cli, server: FaultServer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    targets = _targets(tmp_path, server)
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _run(cli, a, targets, 1, 4)  # a run 1: big
    _run(cli, a, targets, 1, 6, "--name", "other")  # a run 2: the latest
    _run(cli, b, targets, 1, 8)
    counts = {}
    for label, args in {
        "latest": (a, b),
        "name": (a, b, "--name", "big"),
        "id": (f"{a}:1", b),
    }.items():
        out = tmp_path / f"{label}.db"
        result = cli("merge", *args, "-o", out, "-f", "json")
        assert result.exit_code == 0, (label, result.stderr)
        data = json.loads(result.stdout)
        counts[label] = ([i["run_id"] for i in data["inputs"]], data["requests"], data["name"])
    assert counts == {
        "latest": ([2, 1], 14, None),  # names differ: no name
        "name": ([1, 1], 12, "big"),
        "id": ([1, 1], 12, "big"),
    }
    renamed = cli("merge", a, b, "--as", "joined", "-o", tmp_path / "as.db")
    assert renamed.exit_code == 0 and _run_row(tmp_path / "as.db")["name"] == "joined"
    missing = cli("merge", a, b, "--name", "nope", "-o", tmp_path / "x.db")
    assert missing.exit_code == ExitCode.NOT_FOUND
    assert missing.stderr == f"capture: error: {a} has no run named 'nope'\n"
    no_run = cli("merge", f"{b}:7", a, "-o", tmp_path / "x.db")
    assert no_run.exit_code == ExitCode.NOT_FOUND and f"{b} has no run 7" in no_run.stderr


def test_a_crashed_run_needs_allow_incomplete(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    crashed = tmp_path / "crashed.db"
    shutil.copy(files[1], crashed)
    conn = sqlite3.connect(crashed)  # what a killed run leaves: running, no end, no totals
    conn.execute(
        "update runs set status = 'running', finished_at = null, duration_s = null,"
        " requests_total = null, failures_dropped = null, run_key = 'deadbeef'"
    )
    conn.commit()
    conn.close()
    refused = cli("merge", files[0], crashed, "-o", tmp_path / "all.db")
    assert refused.exit_code == ExitCode.DATA
    assert "is 'running' (crashed, or still sending): --allow-incomplete" in refused.stderr
    assert not (tmp_path / "all.db").exists()
    taken = cli("merge", files[0], crashed, "-o", tmp_path / "all.db", "--allow-incomplete")
    assert taken.exit_code == 0, taken.stderr
    run = _run_row(tmp_path / "all.db")
    assert (run["status"], run["requests_total"], run["failed_total"]) == ("failed", 70, 35)
    assert query(tmp_path / "all.db", "select slot, state, requests_total from run_hosts") == [
        (0, "finished", 30),
        (1, "lost", 40),
    ]


def _plain_sqlite(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("create table notes (x)")
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize(
    ("make", "code", "said"),
    [
        (lambda f, t: [f[0]], ExitCode.USAGE, "merge needs at least two input files"),
        (lambda f, t: [f[0], t / "nope.db"], ExitCode.DATA, "nope.db: no such file"),
        (lambda f, t: [f[0], f[0]], ExitCode.USAGE, "are the same run"),
        (lambda f, t: [f"{f[0]}:1", f"{f[0]}:1"], ExitCode.USAGE, "are the same run"),
        (
            lambda f, t: [f[0], shutil.copy(f[0], t / "copy.db")],
            ExitCode.USAGE,
            "are the same run",
        ),
        (
            lambda f, t: [f[0], _plain_sqlite(t / "notes.db")],
            ExitCode.DATA,
            "is not a capture file",
        ),
        (
            lambda f, t: [f[0], (t / "text.db").write_text("hello") and t / "text.db"],
            ExitCode.DATA,
            "is not a SQLite database",
        ),
        (
            lambda f, t: [shutil.copy(FIXTURES / "rev0001.db", t / "old.db"), f[0]],
            ExitCode.DATA,
            f"has schema revision 0001, merge needs {REVISIONS[-1]}: run `capture db upgrade --db ",
        ),
    ],
)
def test_bad_inputs_are_refused(cli, files: list[Path], tmp_path: Path, make, code, said) -> None:  # type: ignore[no-untyped-def]
    inputs = make(files, tmp_path)
    before = _fingerprint(tmp_path)
    result = cli("merge", *inputs, "-o", tmp_path / "all.db")
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("capture: error: ") and said in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert _fingerprint(tmp_path) == before  # no output, no temp file, inputs as they were


def test_bad_outputs_are_refused(cli, files: list[Path], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    existing = tmp_path / "all.db"
    existing.write_bytes(b"keep me")
    before = _fingerprint(tmp_path)
    for out, said in (
        (existing, f"-o {str(existing)!r} exists: merge writes a new file"),
        (files[1], f"-o {str(files[1])!r} is one of the inputs: give a new file"),
        (tmp_path / "no" / "all.db", "its directory does not exist"),
    ):
        result = cli("merge", files[0], files[1], "-o", out)
        assert result.exit_code == ExitCode.USAGE and said in result.stderr, result.stderr
        assert _fingerprint(tmp_path) == before


def test_different_targets_are_refused(
    cli, server: FaultServer, files: list[Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "other.db"
    _run(cli, other, _targets(tmp_path, server, "/?status=500"), 1, 2)
    before = _fingerprint(tmp_path)
    result = cli("merge", files[0], other, "-o", tmp_path / "all.db")
    assert result.exit_code == ExitCode.USAGE
    assert f"{other} sent to GET {server.url}/ok, GET {server.url}/?status=500" in result.stderr
    assert _fingerprint(tmp_path) == before


def test_a_merge_that_does_not_add_up_writes_nothing(
    cli, files: list[Path], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # A file whose connection ids break the formula: the merged sockets would not be
    # the inputs' sum. The check runs after the rows are copied, so this also proves a
    # failure late in the build leaves no half-written file behind.
    broken = tmp_path / "broken.db"
    shutil.copy(files[1], broken)
    conn = sqlite3.connect(broken)
    conn.execute("update requests set connection_id = 1")
    conn.execute("update runs set run_key = 'abcdef01'")
    conn.commit()
    conn.close()
    before = _fingerprint(tmp_path)
    result = cli("merge", files[0], broken, "-o", tmp_path / "all.db")
    assert result.exit_code == ExitCode.DATA
    assert "differ from the inputs'" in result.stderr and "nothing written" in result.stderr
    assert _fingerprint(tmp_path) == before


def test_a_postgresql_database_is_refused_without_its_password(  # type: ignore[no-untyped-def]
    cli, files: list[Path], tmp_path: Path, pg_url: str
) -> None:
    """As an input or as -o: merge joins SQLite files; one line, exit 2, password hidden,
    nothing written."""
    from tests.pg.server import PASSWORD

    hidden = pg_url.replace(f":{PASSWORD}@", ":***@")
    refused = (
        f"capture: error: capture merge joins SQLite files: {hidden} is a PostgreSQL "
        "database (a --hosts run there is one run already)\n"
    )
    libpq = f"host=127.0.0.1 dbname=r1 password={PASSWORD}"
    before = _fingerprint(tmp_path)
    for args, said in (
        ([files[0], pg_url, "-o", tmp_path / "x.db"], refused),
        ([files[0], files[1], "-o", pg_url], refused),
        ([files[0], files[1], "--output", pg_url], refused),
        (
            [files[0], libpq, "-o", tmp_path / "x.db"],
            "capture: error: capture merge joins SQLite files: an argument is a libpq "
            "connection string (host=… dbname=…), a PostgreSQL database\n",
        ),
    ):
        result = cli("merge", *args)
        assert (result.exit_code, result.stderr, result.stdout) == (ExitCode.USAGE, said, "")
        assert _fingerprint(tmp_path) == before
