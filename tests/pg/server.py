"""A real PostgreSQL server for the tests: initdb and pg_ctl in a temporary directory.

Started once per test session (tests/conftest.py, fixture pg_server), listening on
127.0.0.1 at a free port and on a Unix socket in its own directory, stopped at the end.
Host connections need a password (scram-sha-256), so the tests see a real password in
every URL and can check it is never stored or printed. Debian's package `postgresql`
provides the binaries; tests/system-packages.sh installs it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PASSWORD", "USER", "PgServer", "find_bindir"]

USER = "capture"
PASSWORD = "pw-S3cret-41"  # a value no output may contain (tests grep for it)


def find_bindir() -> Path | None:
    """Returns the newest installed PostgreSQL bin directory, or None."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    """One running server; url(name) gives a database URL with the password in it."""

    bindir: Path
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "run"

    def _as_owner(self, *args: str) -> list[str]:
        # initdb and postgres refuse to run as root: run them as the package's user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def start(self) -> None:
        """Creates the cluster and starts the server; raises on any failure."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        pwfile = self.root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.root, self.sockets, pwfile):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self.port = _free_port()
        subprocess.run(
            self._as_owner(
                str(self.bindir / "initdb"), "-D", str(self.data), "-U", USER,
                f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            ),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.sockets} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            self._as_owner(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start",
            ),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip

    def stop(self) -> None:
        """Stops the server at once and removes its files."""
        subprocess.run(
            self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                           "-w", "stop"),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str, *, password: bool = True) -> str:
        """Returns postgresql://capture:PASSWORD@127.0.0.1:PORT/dbname."""
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Runs sql through psql on the Unix socket; returns its output (unaligned)."""
        done = subprocess.run(
            [str(self.bindir / "psql"), "-h", str(self.sockets), "-p", str(self.port),
             "-U", USER, "-d", dbname, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    def create_database(self, name: str) -> str:
        """Creates an empty database; returns its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)
