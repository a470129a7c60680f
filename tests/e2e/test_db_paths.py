"""Every path capture takes may be a special file: a FIFO or a device never hangs it and
is never opened blindly, a directory gets a clear line, and a SQLite file that is not
capture's is left byte for byte as it was (issue "Trust first", items 5, 6 and 10)."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
HANG_S = 20  # far longer than any of these commands takes; a hang fails, not blocks


def _capture(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs `capture ARGS` in a child process that may not outlive HANG_S."""
    return subprocess.run(
        [sys.executable, "-m", "capture", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=HANG_S,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
    )


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "thing")
    return folder / "thing"


def _directory(folder: Path) -> Path:
    (folder / "thing").mkdir()
    return folder / "thing"


def _symlink_to_fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe")
    (folder / "thing").symlink_to(folder / "pipe")
    return folder / "thing"


def _socket(folder: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "thing"))
    sock.close()  # the socket file stays
    return folder / "thing"


def _fifo_wal_beside(folder: Path) -> Path:
    conn = sqlite3.connect(folder / "thing")  # a real SQLite file, a FIFO as its -wal
    conn.execute("create table t (x)")
    conn.close()
    os.mkfifo(folder / "thing-wal")
    return folder / "thing"


def _device(name: str) -> Callable[[Path], Path]:
    return lambda _folder: Path(name)


KINDS: dict[str, Callable[[Path], Path]] = {
    "fifo": _fifo,
    "directory": _directory,
    "symlink-to-fifo": _symlink_to_fifo,
    "socket": _socket,
    "dev-null": _device("/dev/null"),
    "dev-zero": _device("/dev/zero"),
    "fifo-wal-beside": _fifo_wal_beside,
}

# failures, show, summary... open the file as runs does (reader.open_readonly).
# {url} is the fault server, {path} the special path; {db} a finished run's file.
DB_COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("run", "{url}", "-n", "1", "--quiet", "--db", "{path}"),
    "runs": ("runs", "--db", "{path}"),
    "db-info": ("db", "info", "--db", "{path}"),
    "db-upgrade": ("db", "upgrade", "--db", "{path}"),
    "export": ("export", "--db", "{path}"),
}


@dataclass(frozen=True)
class Case:
    """One command with one special path; the exit code and a part of the message."""

    args: tuple[str, ...]
    code: int
    expect: str


def _db_cases() -> Iterator[object]:
    for command, args in DB_COMMANDS.items():
        for kind in KINDS:
            thing = "thing-wal" if kind == "fifo-wal-beside" else ""
            what = {
                "directory": "is a directory",
                "socket": "is a socket",
                "dev-null": "is a character device",
                "dev-zero": "is a character device",
            }.get(kind, "is a FIFO")
            yield pytest.param(
                kind, Case(args, ExitCode.USAGE, f"{thing}' {what}"), id=f"{command}-{kind}"
            )


OTHER_CASES = {
    "export-o-fifo-nobody-reads": (
        "fifo",
        Case(
            ("export", "--db", "{db}", "-o", "{path}"), ExitCode.USAGE, "a FIFO that nobody reads"
        ),
    ),
    "export-o-directory": (
        "directory",
        Case(("export", "--db", "{db}", "-o", "{path}"), ExitCode.USAGE, "is a directory"),
    ),
    "export-o-socket": (
        "socket",
        Case(("export", "--db", "{db}", "-o", "{path}"), ExitCode.USAGE, "is a socket"),
    ),
    "export-o-dev-full": (
        "dev-null",
        Case(("export", "--db", "{db}", "-o", "/dev/full"), ExitCode.STORAGE, "No space left"),
    ),
    "hooks-fifo": (
        "fifo",
        Case(("run", "{url}", "-n", "1", "--hooks", "{path}.py"), ExitCode.USAGE, "--hooks"),
    ),
    "hooks-directory": (
        "directory",
        Case(("run", "{url}", "-n", "1", "--hooks", "{path}"), ExitCode.USAGE, "--hooks"),
    ),
    "targets-directory": (
        "directory",
        Case(("run", "-n", "1", "--targets", "{path}"), ExitCode.USAGE, "is a directory"),
    ),
    "data-directory": (
        "directory",
        Case(("run", "{url}", "-n", "1", "--data", "@{path}"), ExitCode.USAGE, "is a directory"),
    ),
}
# --targets and --data @FILE once opened a FIFO blindly and waited for a writer.
FIFO_CASES = {
    "targets-fifo": (
        "fifo",
        Case(("run", "-n", "1", "--targets", "{path}"), ExitCode.USAGE, "FIFO"),
    ),
    "data-fifo": (
        "fifo",
        Case(("run", "{url}", "-n", "1", "--data", "@{path}"), ExitCode.USAGE, "FIFO"),
    ),
}


@pytest.fixture(scope="module")
def finished_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run's file with failures in it."""
    folder = tmp_path_factory.mktemp("finished")
    with FaultServer("127.0.0.1", 0) as srv:
        done = _capture(
            "run",
            f"{srv.url}/x?status=500",
            "-n",
            "3",
            "-c",
            "1",
            "--db",
            "f.db",
            "--quiet",
            cwd=folder,
        )
    assert done.returncode == 0, done.stderr
    return folder / "f.db"


def _check(case: Case, kind: str, tmp_path: Path, server: FaultServer, db: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = KINDS[kind](work)
    fill = {"{url}": f"{server.url}/x", "{path}": str(path), "{db}": str(db)}
    args = []
    for arg in case.args:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        args.append(arg)
    before = sorted(p.name for p in work.iterdir())
    result = _capture(*args, cwd=work)
    assert result.returncode == case.code, result.stderr
    assert result.stderr.startswith("capture: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert case.expect in result.stderr, result.stderr
    assert sorted(p.name for p in work.iterdir()) == before  # nothing created beside it
    assert server.entries() == []  # refused before a request was sent


@pytest.mark.parametrize(("kind", "case"), list(_db_cases()))
def test_special_db_paths_are_refused_without_opening_them(
    kind: str, case: Case, tmp_path: Path, server: FaultServer, finished_db: Path
) -> None:
    _check(case, kind, tmp_path, server, finished_db)


@pytest.mark.parametrize(("kind", "case"), OTHER_CASES.values(), ids=OTHER_CASES.keys())
def test_special_paths_of_other_options_are_refused(
    kind: str, case: Case, tmp_path: Path, server: FaultServer, finished_db: Path
) -> None:
    _check(case, kind, tmp_path, server, finished_db)


@pytest.mark.parametrize(
    ("kind", "case"),
    FIFO_CASES.values(),
    ids=FIFO_CASES.keys(),
)
def test_special_paths_read_by_config(
    kind: str, case: Case, tmp_path: Path, server: FaultServer
) -> None:
    _check(case, kind, tmp_path, server, tmp_path / "unused.db")


def _foreign(path: Path) -> None:
    """Another application's Alembic-managed file: revision 0001 and a users table."""
    conn = sqlite3.connect(path)
    conn.execute("create table alembic_version (version_num varchar(32) not null primary key)")
    conn.execute("insert into alembic_version values ('0001')")
    conn.execute("create table users (id integer primary key, name text)")
    conn.execute("insert into users (name) values ('ada')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "command",
    [
        ("run", "{url}", "-n", "1", "--quiet"),
        ("runs",),
        ("db", "info"),
        ("db", "upgrade"),
        ("failures",),
        ("export",),
    ],
    ids=lambda c: "-".join(c[:2]).replace("-{url}", ""),
)
def test_another_applications_database_is_left_untouched(
    command: tuple[str, ...], tmp_path: Path, server: FaultServer
) -> None:
    db = tmp_path / "app.db"
    _foreign(db)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    args = [a.replace("{url}", f"{server.url}/x") for a in command]
    result = _capture(*args, "--db", db, cwd=tmp_path)
    assert result.returncode == ExitCode.DATA, result.stderr
    assert result.stderr == (
        f"capture: error: --db {str(db)!r} is not a capture file: "
        "has table users, alembic revision 0001 is not capture's\n"
    )
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest  # no WAL switch, no migration
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal, no -shm
    assert server.entries() == []  # refused before sending anything
