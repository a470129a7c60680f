"""capture's built-in fault target (FaultServer) in its own process, so it has its own GIL."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType

from measure import free_port, stop, wait_for_port

BIN = Path(sys.executable).parent
OK_PATH = "/"  # ~100-byte 200
FAIL_PATH = "/?status=500&size=1024"  # 500 with a 1 KiB body


class BuiltinTargetError(RuntimeError):
    """`capture target` would not start."""


class BuiltinTarget:
    """Runs `capture target --port P` as a subprocess; a context manager.

    Example: with BuiltinTarget() as target: print(target.url(FAIL_PATH))
    """

    def __init__(self) -> None:
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Returns the server's process id (0 when not running)."""
        return self._proc.pid if self._proc is not None else 0

    def url(self, path: str) -> str:
        """Receives a path with its query. Returns its URL on this target."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> BuiltinTarget:
        self.port = free_port()
        cmd = [str(BIN / "capture"), "target", "--port", str(self.port)]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if not wait_for_port(self.port, limit_s=20.0):
            self.__exit__(None, None, None)
            raise BuiltinTargetError(f"did not start: {' '.join(cmd)}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            stop(self._proc, signal.SIGINT)  # serve_forever stops on KeyboardInterrupt
            self._proc = None
