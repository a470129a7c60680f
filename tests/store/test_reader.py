"""Read commands open the file read-only: they work on a file the user cannot write,
and while a run is still writing it (issue 3)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capture.store.reader import hide_password, sqlite_path
from capture.target.server import FaultServer
from tests.conftest import query

ROOT = Path(__file__).resolve().parents[2]
# Root ignores file modes; without these capabilities it obeys them like anyone else.
BOUND = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def _capture(*args: object, bound: bool = False) -> subprocess.CompletedProcess[str]:
    """Runs `capture ARGS` in a fresh process; bound: as root bound by file modes."""
    return subprocess.run(
        [*(BOUND if bound else []), sys.executable, "-m", "capture", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


@pytest.fixture
def locked_copy(server: FaultServer, db_path: Path) -> Iterator[Path]:
    """A finished run's file, in a directory nobody may write, the file itself 0444."""
    url = f"{server.url}/x?mix=500:25,404:10"
    done = _capture("run", url, "-n", "40", "-c", "2", "--db", db_path, "--quiet")
    assert done.returncode == 0, done.stderr
    folder = Path(tempfile.mkdtemp(prefix="capture-ro-"))
    copy = folder / "locked.db"
    shutil.copy(db_path, copy)
    copy.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield copy
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_reading_a_file_the_user_cannot_write(locked_copy: Path) -> None:
    bound = os.geteuid() == 0
    if bound and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    before = locked_copy.read_bytes()
    listed = _capture("failures", "-f", "json", "--limit", "100", "--db", locked_copy, bound=bound)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    # mix=500:25,404:10 over 40 requests: 25 500s, 10 404s, 5 200s.
    assert sorted(r["status"] for r in rows) == [404] * 10 + [500] * 25
    summary = _capture("summary", "--db", locked_copy, bound=bound)
    assert summary.returncode == 0, summary.stderr
    assert "requests 40, failed 35 (87.5%)" in summary.stdout
    info = _capture("db", "info", "--db", locked_copy, bound=bound)
    assert info.returncode == 0 and "requests         40" in info.stdout
    assert locked_copy.read_bytes() == before
    assert sorted(p.name for p in locked_copy.parent.iterdir()) == ["locked.db"]
    assert stat.S_IMODE(locked_copy.stat().st_mode) == 0o444


def test_a_left_over_wal_in_a_locked_directory_is_one_clear_line(locked_copy: Path) -> None:
    bound = os.geteuid() == 0
    if bound and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be enforced")
    work = Path(tempfile.mkdtemp(prefix="capture-wal-"))
    try:
        shutil.copy(locked_copy, work / "w.db")
        conn = sqlite3.connect(work / "w.db")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("UPDATE runs SET name = 'renamed'")  # a commit that stays in the -wal
        conn.commit()
        folder = locked_copy.parent
        folder.chmod(0o755)
        for suffix in ("", "-wal"):
            shutil.copy(work / f"w.db{suffix}", folder / f"w.db{suffix}")
        folder.chmod(0o555)
        conn.close()
    finally:
        shutil.rmtree(work)
    result = _capture("runs", "--db", folder / "w.db", bound=bound)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1 and "write-ahead log (w.db-wal)" in result.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["locked.db", "w.db", "w.db-wal"]


# Holds every request after the 75th until the test creates the gate file, so the test
# reads the file mid-run however slowly its reads start on a busy machine.
_GATE_HOOKS = """
import os, time

def build_request(ctx):
    if ctx.seq > 75:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.environ["CAPTURE_TEST_GATE"]) and time.monotonic() < deadline:
            time.sleep(0.01)
    return None
"""


def test_reading_while_a_run_writes(server: FaultServer, db_path: Path, tmp_path: Path) -> None:
    # 150 failures paced at 50/s, held after the 75th until a read has seen the first ones.
    url = f"{server.url}/slow?status=503"
    hooks, gate = tmp_path / "gate_hooks.py", tmp_path / "gate"
    hooks.write_text(_GATE_HOOKS)
    args = [sys.executable, "-m", "capture", "run", url, "-n", "150", "--qps", "50"]
    writer = subprocess.Popen(
        [*args, "-c", "2", "--hooks", str(hooks), "--db", str(db_path), "--quiet"],
        cwd=ROOT,
        env={**os.environ, "CAPTURE_TEST_GATE": str(gate)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 60
        while writer.poll() is None and time.monotonic() < deadline:
            runs = _capture("runs", "-f", "json", "--db", db_path)
            if runs.returncode == 0 and json.loads(runs.stdout):
                (run,) = json.loads(runs.stdout)
                listed = _capture("failures", "-f", "json", "--limit", "1000", "--db", db_path)
                assert listed.returncode == 0, listed.stderr
                rows = json.loads(listed.stdout)
                # each read is one snapshot: every listed row is a stored 503
                assert {r["status"] for r in rows} <= {503}
                if run["status"] == "running":
                    seen.append(len(rows))
                    if rows:  # a mid-run snapshot with rows in it: let the run finish
                        gate.touch()
            time.sleep(0.05)
        assert writer.wait(timeout=30) == 0, writer.stderr.read() if writer.stderr else ""
    finally:
        gate.touch()
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert any(0 < n <= 76 for n in seen), seen  # read mid-run, before the gate opened
    assert seen == sorted(seen)  # growing
    assert query(db_path, "select count(*), sum(failed) from requests") == [(150, 150)]
    final = json.loads(
        _capture("failures", "-f", "json", "--limit", "1000", "--db", db_path).stdout
    )
    assert len(final) == 150


@pytest.mark.parametrize(
    ("db", "expected"),
    [
        ("capture.db", Path("capture.db").absolute()),
        ("sqlite:///rel/capture.db", Path("rel/capture.db").absolute()),
        ("sqlite:////abs/capture.db", Path("/abs/capture.db")),
        ("sqlite+pysqlite:////abs/x.db", Path("/abs/x.db")),
    ],
)
def test_sqlite_paths_and_urls(db: str, expected: Path) -> None:
    assert sqlite_path(db) == expected


def test_other_database_urls_are_refused_without_their_password(tmp_path: Path) -> None:
    refused = _capture("runs", "--db", "mysql://me:SEKRIT@127.0.0.1/x")
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "capture: error: --db 'mysql://me:***@127.0.0.1/x': capture files are SQLite files"
    )
    memory = _capture("runs", "--db", "sqlite:///:memory:")
    assert memory.returncode == 2 and "expected sqlite:///path" in memory.stderr
    assert hide_password("sqlite:///capture.db") == "sqlite:///capture.db"


def test_reading_commands_do_not_load_the_run_stack(locked_copy: Path) -> None:
    """The start-up budget of reading commands (issue 3) rests on never importing
    SQLAlchemy, Alembic or requests; this checks the imports, not a time."""
    probe = (
        "import sys; from capture.cli import main\n"
        "for args in sys.argv[1:]:\n"
        f"    assert main([*args.split(), '--db', {str(locked_copy)!r}]) == 0, args\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'requests', 'urllib3', 'psycopg')"
        " if m in sys.modules))"
    )
    commands = ["failures -f json", "failures", "runs", "summary", "sockets", "show 1", "db info"]
    done = subprocess.run(
        [sys.executable, "-c", probe, *commands], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_reading_a_finished_file_leaves_no_wal_or_shm(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    """A finished run's file is WAL-mode with no -wal: reading it must not leave one."""
    done = cli(
        "run", f"{server.url}/x?status=500", "-n", "5", "-c", "1", "--db", db_path, "--quiet"
    )
    assert done.exit_code == 0, done.stderr
    assert query(db_path, "pragma journal_mode") == [("wal",)]
    alone = [db_path.name]
    assert sorted(p.name for p in db_path.parent.iterdir()) == alone
    before = db_path.read_bytes()
    reads = [
        (("show", "999999"), 4),
        (("show", "1"), 0),
        (("runs",), 0),
        (("failures",), 0),
        (("summary",), 0),
        (("sockets",), 0),
        (("db", "info"), 0),
        (("export", "-f", "jsonl"), 0),
    ]
    for args, code in reads:
        result = cli(*args, "--db", db_path)
        assert result.exit_code == code, (args, result.stderr)
        assert sorted(p.name for p in db_path.parent.iterdir()) == alone, args
    assert db_path.read_bytes() == before
