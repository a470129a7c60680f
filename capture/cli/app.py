"""The Typer application object and the options several commands share."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Annotated

import typer

from capture.version import __version__

__all__ = ["DbOpt", "app", "invoked_args"]

# The arguments main() is parsing (not sys.argv, which is wrong for in-process calls).
ARGS: ContextVar[tuple[str, ...]] = ContextVar("capture_args", default=())


def invoked_args() -> Sequence[str]:
    """Returns the arguments of the command being run, for runs.command_line."""
    return ARGS.get()


app = typer.Typer(
    name="capture",
    help="Drive HTTP load at a service and keep every failed response in SQLite.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DbOpt = Annotated[
    str,
    typer.Option(
        "--db",
        envvar="CAPTURE_DB",
        metavar="FILE",
        help="SQLite file to write or read (or a sqlite:/// URL). Env: CAPTURE_DB.",
    ),
]


def _version(value: bool) -> None:
    if value:
        print(f"capture {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Drive HTTP load at a service and keep every failed response in SQLite."""
