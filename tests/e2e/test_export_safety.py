"""`capture export -o FILE` never replaces the database it reads, nor any other SQLite
file, and writes through a temporary file so a failed export leaves no half file
(issue "Trust first", items 4 and 10)."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from capture.errors import ExitCode
from capture.target.server import FaultServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def finished(server: FaultServer, db_path: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    """A finished run's file holding 12 failures, alone in its directory."""
    done = cli(
        "run", f"{server.url}/x?status=500", "-n", "12", "-c", "2", "--db", db_path, "--quiet"
    )
    assert done.exit_code == 0, done.stderr
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]
    return db_path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _same(db: Path) -> Path:
    return db


def _symlink(db: Path) -> Path:
    (db.parent / "link.db").symlink_to(db.name)
    return db.parent / "link.db"


def _hard_link(db: Path) -> Path:
    os.link(db, db.parent / "hard.db")
    return db.parent / "hard.db"


def _relative(db: Path) -> Path:
    return db.parent / "." / ".." / db.parent.name / db.name


def _wal(db: Path) -> Path:
    return db.with_name(db.name + "-wal")


def _shm(db: Path) -> Path:
    return db.with_name(db.name + "-shm")


@pytest.mark.parametrize(
    "aim", [_same, _symlink, _hard_link, _relative, _wal, _shm], ids=lambda f: f.__name__[1:]
)
def test_export_never_replaces_the_database_it_reads(
    finished: Path,
    cli,  # type: ignore[no-untyped-def]
    aim: Callable[[Path], Path],
) -> None:
    output = aim(finished)
    before = _digest(finished)
    names = sorted(p.name for p in finished.parent.iterdir())
    result = cli("export", "-o", output, "--db", finished)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr == (
        f"capture: error: --output {str(output)!r} is the database being read "
        f"({aim(finished).name if aim in (_wal, _shm) else finished.name})\n"
    )
    assert _digest(finished) == before
    assert sorted(p.name for p in finished.parent.iterdir()) == names  # no -wal/-shm, no temp
    assert cli("runs", "--db", finished).exit_code == 0  # still a capture file


def test_export_refuses_to_overwrite_another_sqlite_file(finished: Path, cli) -> None:  # type: ignore[no-untyped-def]
    other = finished.with_name("other.db")
    shutil.copy(finished, other)
    before = _digest(other)
    result = cli("export", "-o", other, "--db", finished)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert result.stderr == (
        f"capture: error: --output {str(other)!r} is a SQLite database: refusing to overwrite it\n"
    )
    assert _digest(other) == before


def test_export_replaces_a_regular_file_whole(finished: Path, cli) -> None:  # type: ignore[no-untyped-def]
    output = finished.with_name("out.har")
    output.write_text("old contents\n")
    output.chmod(0o644)
    result = cli("export", "-o", output, "--db", finished)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"12 failures written to {output}\n"
    assert len(json.loads(output.read_text())["log"]["entries"]) == 12
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # bodies and headers: owner only
    assert sorted(p.name for p in finished.parent.iterdir()) == [finished.name, "out.har"]


def _small_files() -> None:
    # A file-size limit makes a write fail half-way (EFBIG), like a disk that fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


def test_a_failed_export_leaves_the_old_file_and_no_half_file(
    server: FaultServer,
    db_path: Path,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    url = f"{server.url}/x?status=500"
    assert cli("run", url, "-n", "80", "-c", "2", "--db", db_path, "--quiet").exit_code == 0
    output = db_path.with_name("out.har")
    output.write_text("the previous export\n")
    done = subprocess.run(
        [sys.executable, "-m", "capture", "export", "-o", str(output), "--db", str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        preexec_fn=_small_files,
    )
    assert done.returncode == ExitCode.STORAGE, done.stderr
    assert done.stderr == (
        f"capture: error: --output {str(output)!r}: cannot write (File too large)\n"
    )
    assert output.read_text() == "the previous export\n"
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name, "out.har"]


def test_export_to_a_character_device_writes_into_it(finished: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("export", "-o", "/dev/null", "--db", finished)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # not replaced by a rename
    full = cli("export", "-o", "/dev/full", "--db", finished)
    assert full.exit_code == ExitCode.STORAGE
    assert (
        full.stderr
        == "capture: error: --output '/dev/full': cannot write (No space left on device)\n"
    )


def test_export_into_a_pipe_of_the_shell(finished: Path) -> None:
    # -o >(cmd): the shell hands capture /dev/fd/N, a pipe that cmd already reads.
    script = '"$0" -m capture export -f jsonl -o >(cat) --db "$1"'
    done = subprocess.run(
        ["bash", "-c", script, sys.executable, str(finished)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("12 failures written to /dev/fd/"), done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == [500] * 12
