"""The Typer application object and the options several commands share."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Annotated, Any

import typer
from typer.core import TyperArgument

from capture.version import __version__

__all__ = ["DbOpt", "app", "invoked_args"]

# The arguments main() is parsing (not sys.argv, which is wrong for in-process calls).
ARGS: ContextVar[tuple[str, ...]] = ContextVar("capture_args", default=())


def invoked_args() -> Sequence[str]:
    """Returns the arguments of the command being run, for runs.command_line."""
    return ARGS.get()


_typer_argument_type = TyperArgument.display_type_rich


def _argument_type(self: TyperArgument, ctx: Any) -> str | None:
    """Returns what --help prints after an argument: nothing when it has a metavar."""
    return None if self.metavar else _typer_argument_type(self, ctx)


# Typer prints `ID <int>` for an argument even with a metavar (an option's metavar
# replaces its type): help speaks to users, not in Python types. Only capture's own
# commands are built from this module, but the class is Typer's: a program that imports
# capture.cli gets the same help for its own arguments that have a metavar.
TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]

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
        metavar="FILE|URL",
        help=(
            "SQLite file to write or read (or a sqlite:/// URL), or a PostgreSQL database "
            "(postgresql://user@host/dbname; pip install 'capture[postgres]'). Env: CAPTURE_DB."
        ),
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
