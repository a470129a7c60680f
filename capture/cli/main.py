"""The capture command line: the one place where errors become a line and an exit code.

Commands live in cli.run (send and serve) and cli.inspect (read a capture file); each
is thin: parse, call the core, render, exit.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import typer
from typer._click.exceptions import ClickException  # typer vendors click: catch its class

from capture.cli import diagnose as cli_diagnose  # noqa: F401  (they register their commands on app)
from capture.cli import inspect as cli_inspect  # noqa: F401  (they register their commands on app)
from capture.cli import merge as cli_merge  # noqa: F401  (they register their commands on app)
from capture.cli import report as cli_report  # noqa: F401  (they register their commands on app)
from capture.cli import run as cli_run  # noqa: F401  (they register their commands on app)
from capture.cli.app import ARGS, app
from capture.errors import CaptureError, ExitCode, OutputError

__all__ = ["app", "entry_point", "main"]

_T = TypeVar("_T")


class _ClosedStdout(io.TextIOBase):
    """Stands for a standard output the shell closed (`>&-`): Python then has None."""

    def write(self, text: str) -> int:
        """Fails as a write to a closed descriptor does."""
        raise OSError(errno.EBADF, "it is closed")

    def isatty(self) -> bool:
        """A closed descriptor is no terminal."""
        return False


class _GuardedStdout:
    """sys.stdout for one command: a failed write is an OutputError, not a traceback."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: Any) -> int:
        """Writes text (or bytes, through .buffer) to the real stream."""
        written: int = _guarded(self._stream.write, text)
        return written

    def writelines(self, lines: Iterable[Any]) -> None:
        """Writes each of lines."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flushes the real stream."""
        _guarded(self._stream.flush)

    @property
    def buffer(self) -> _GuardedStdout:
        """The binary stream under it (show writes a raw body there), guarded too."""
        return _GuardedStdout(getattr(self._stream, "buffer", self._stream))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _guarded(call: Callable[..., _T], *args: Any) -> _T:
    try:
        return call(*args)
    except BrokenPipeError:
        raise  # the reader went away (`| head`): quiet, see main()
    except OSError as exc:  # ENOSPC (/dev/full, a full disk), EIO, EBADF (closed)
        raise OutputError(f"cannot write to standard output ({exc.strerror or exc})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; the one place where errors become a line on stderr and an exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    token = ARGS.set(tuple(args))
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout if stdout is not None else _ClosedStdout())
    try:
        rc = app(args=args, standalone_mode=False)
        sys.stdout.flush()  # here, not at exit: a failure still gets its line and code
    except CaptureError as exc:
        print(f"capture: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except ClickException as exc:
        print(f"capture: error: {exc.format_message()}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except (KeyboardInterrupt, typer.Abort):
        print("capture: interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return int(ExitCode.OK)  # `capture ... | head` closed the pipe: not an error
    except Exception as exc:
        if os.environ.get("CAPTURE_DEBUG"):
            raise
        print(
            f"capture: internal error: {type(exc).__name__}: {exc} (CAPTURE_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)
    finally:
        sys.stdout = stdout
        ARGS.reset(token)
    return int(rc or 0)


def entry_point() -> None:
    """The console script: exits with main()'s code."""
    code = main()
    if code == ExitCode.OUTPUT:
        _discard_stdout()
    sys.exit(code)


def _discard_stdout() -> None:
    """Points file descriptor 1 at /dev/null, so the interpreter's flush at exit cannot
    fail again with a second message and exit code 120."""
    if sys.stdout is None:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no descriptor behind it: nothing will flush there
        pass
