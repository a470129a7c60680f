"""A real nginx on 127.0.0.1 with /ok (200, ~100 bytes) and /fail (500, 1 KiB)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from measure import free_port, stop, wait_for_port

CONF_TEMPLATE = Path(__file__).with_name("nginx.conf")
OK_BODY = "ok " + "o" * 96 + "\n"  # 100 bytes
FAIL_BODY = "fail " + "f" * 1018 + "\n"  # 1024 bytes


class NginxError(RuntimeError):
    """nginx is missing, would not start, or does not answer as configured."""


class Nginx:
    """Runs nginx in the foreground from a temporary prefix; a context manager.

    Example: with Nginx() as ngx: print(ngx.url("/ok"))
    """

    def __init__(self, binary: str = "nginx") -> None:
        self.binary = binary
        self.port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Returns the server's process id (0 when not running)."""
        return self._proc.pid if self._proc is not None else 0

    def url(self, path: str) -> str:
        """Receives a path. Returns its URL on this nginx."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Nginx:
        exe = shutil.which(self.binary) or shutil.which(self.binary, path="/usr/sbin:/sbin")
        if exe is None:
            raise NginxError("nginx is not installed")
        self._tmp = tempfile.TemporaryDirectory(prefix="capture-bench-nginx-")
        prefix = Path(self._tmp.name)
        self.port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(render(prefix, self.port))
        # -e: nginx opens its error log before reading the config; keep it in the prefix too.
        cmd = [exe, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
        with (prefix / "stderr.log").open("wb") as err:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=err)
        if not wait_for_port(self.port):
            detail = (prefix / "stderr.log").read_text(errors="replace").strip()
            self.__exit__(None, None, None)
            raise NginxError(f"nginx did not start: {' '.join(cmd)}: {detail}")
        try:
            self._check()
        except NginxError:
            self.__exit__(None, None, None)
            raise
        return self

    def _check(self) -> None:
        for path, status, body in (("/ok", 200, OK_BODY), ("/fail", 500, FAIL_BODY)):
            try:
                with urllib.request.urlopen(self.url(path), timeout=5) as resp:
                    got = (resp.status, resp.read())
            except urllib.error.HTTPError as exc:
                got = (exc.code, exc.read())
            if got != (status, body.encode()):
                raise NginxError(f"{path}: got {got[0]} with {len(got[1])} bytes")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            stop(self._proc, signal.SIGQUIT)  # graceful shutdown
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def render(prefix: Path, port: int) -> str:
    """Receives a prefix directory and a port. Returns the nginx config text."""
    text = CONF_TEMPLATE.read_text()
    for name, value in {
        "PREFIX": str(prefix),
        "PORT": str(port),
        "OK_BODY": OK_BODY,
        "FAIL_BODY": FAIL_BODY,
    }.items():
        text = text.replace(f"@{name}@", value)
    return text


def version(binary: str = "nginx") -> str:
    """Returns nginx's version string, e.g. 'nginx/1.22.1', or 'absent'."""
    exe = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin")
    if exe is None:
        return "absent"
    out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=10, check=False)
    return out.stderr.strip().removeprefix("nginx version: ")
