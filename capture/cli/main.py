"""The capture command line: the one place where errors become a line and an exit code.

Commands live in cli.run (send and serve) and cli.inspect (read a capture file); each
is thin: parse, call the core, render, exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer
from typer._click.exceptions import ClickException  # typer vendors click: catch its class

from capture.cli import inspect as cli_inspect  # noqa: F401  (they register their commands on app)
from capture.cli import run as cli_run  # noqa: F401  (they register their commands on app)
from capture.cli.app import ARGS, app
from capture.errors import CaptureError, ExitCode

__all__ = ["app", "entry_point", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; the one place where errors become a line on stderr and an exit code."""
    args = list(argv) if argv is not None else sys.argv[1:]
    token = ARGS.set(tuple(args))
    try:
        rc = app(args=args, standalone_mode=False)
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
        ARGS.reset(token)
    return int(rc or 0)


def entry_point() -> None:
    """The console script: exits with main()'s code."""
    sys.exit(main())
