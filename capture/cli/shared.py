"""What the read commands (cli.inspect) share: the options for the run, the output
format and the filters of `failures` and `export`, each with a metavar so that help
names what a value is, not a Python type; the failures table's page note; and the
iterator that counts the rows an export writes."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType

from capture.config import DEFAULT_DB
from capture.escape import visible
from capture.output.tables import EXPORT_FORMATS, LISTING_FORMATS, Format

__all__ = [
    "TABLE_PAGE",
    "BodyOpt",
    "ConnectionOpt",
    "ErrorOpt",
    "ExportFormatOpt",
    "FormatOpt",
    "HostOpt",
    "MethodOpt",
    "PositionOpt",
    "ResponseHeaderOpt",
    "RunOpt",
    "SessionOpt",
    "SinceOpt",
    "SlowerOpt",
    "SocketOpt",
    "StatusOpt",
    "SummaryFormatOpt",
    "UntilOpt",
    "UrlOpt",
    "console",
    "emit",
    "page_note",
    "program_prefix",
    "show_one",
]


def _format_option(allowed: tuple[Format, ...], help_text: str) -> Any:
    """Returns a --format option that lists and takes only the formats a command writes."""

    def check(value: Format) -> Format:
        if value not in allowed:
            choices = ", ".join(f"'{f}'" for f in allowed)
            raise typer.BadParameter(f"'{value}' is not one of {choices}.")
        return value

    metavar = "<" + "|".join(allowed) + ">"
    return typer.Option("--format", "-f", metavar=metavar, help=help_text, callback=check)


RunOpt = Annotated[
    str | None,
    typer.Option(
        "--run", "-r", metavar="RUN", help="Run id or name, or 'all' (default: the latest run)."
    ),
]
FormatOpt = Annotated[Format, _format_option(LISTING_FORMATS, "Output format.")]
ExportFormatOpt = Annotated[Format, _format_option(EXPORT_FORMATS, "har, jsonl or csv.")]
StatusOpt = Annotated[
    str | None,
    typer.Option(
        "--status", "-s", metavar="STATUS", help="Status filter: 5xx, 503, 500-504, 4xx,429."
    ),
]
ErrorOpt = Annotated[
    str | None,
    typer.Option("--error", "-e", metavar="KIND", help="Error kind(s), comma separated."),
]
UrlOpt = Annotated[
    str | None, typer.Option("--url", metavar="GLOB", help="URL glob, e.g. '*/api/*'.")
]
MethodOpt = Annotated[str | None, typer.Option("--method", metavar="METHOD", help="HTTP method.")]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", metavar="WHEN", help="From an offset into the run (30s) or a time."),
]
UntilOpt = Annotated[
    str | None,
    typer.Option("--until", metavar="WHEN", help="Up to an offset into the run (2m) or a time."),
]
SlowerOpt = Annotated[
    str | None,
    typer.Option(
        "--slower-than", metavar="DURATION", help="Only requests slower than this (500ms)."
    ),
]
BodyOpt = Annotated[
    str | None,
    typer.Option("--body-contains", metavar="TEXT", help="Only bodies containing this text."),
]
# A response header: --header/-H is the request header of run and replay.
ResponseHeaderOpt = Annotated[
    str | None,
    typer.Option(
        "--response-header",
        metavar="'NAME: VALUE'",
        help="Only responses with this header and value.",
    ),
]
SocketOpt = Annotated[
    str | None,
    typer.Option(
        "--socket", metavar="ADDR", help="Client or server socket ip:port, or a client port."
    ),
]
SessionOpt = Annotated[
    int | None,
    typer.Option("--session", metavar="N", help="Session number (pool slot; unique per run)."),
]
SummaryFormatOpt = Annotated[
    Format,
    _format_option((Format.table, Format.json), "table (text), or json: every section."),
]
ConnectionOpt = Annotated[
    int | None,
    typer.Option(
        "--connection", metavar="ID", help="One TCP connection: its id (capture sockets)."
    ),
]
PositionOpt = Annotated[
    int | None,
    typer.Option(
        "--position",
        metavar="N",
        help="The N-th request on its connection (1: a fresh one; capture diagnose).",
    ),
]
HostOpt = Annotated[
    int | None,
    typer.Option(
        "--host",
        metavar="SLOT",
        help="Only what this host slot sent, in a --hosts or merged run (capture runs).",
    ),
]
TABLE_PAGE = 50  # rows the failures table shows unless --limit or --all says otherwise


def page_note(shown: int, total: int, offset: int = 0) -> str:
    """Returns the stderr line under the failures table: which of how many matched, and
    how to see more only when there are more after them."""
    if not total:
        return "no failures match"
    if offset and shown:
        more = "; --offset N for more" if offset + shown < total else ""
        return f"rows {offset + 1:,}-{offset + shown:,} of {total:,} shown{more}"
    if offset:
        return f"none of {total:,} after --offset {offset:,}"
    if shown < total:
        return f"{shown:,} of {total:,} shown; --limit N or --all for more"
    from capture.output.hints import program

    return f"{total:,} shown; full exchange: {program()} show ID"


def console() -> Console:
    """Returns the console read commands print tables on."""
    # Off a terminal Rich would wrap tables at 80 columns; a file or pipe gets room.
    # NO_COLOR (no-color.org) means no escape at all: Rich alone would still print bold.
    width = None if sys.stdout.isatty() else 200
    if os.environ.get("NO_COLOR"):
        return Console(highlight=False, width=width, color_system=None)
    return Console(highlight=False, width=width)


def emit(lines: Iterable[str]) -> None:
    """Prints machine-format lines, made inert on a terminal."""
    # CSV carries raw text; JSON is escaped already. Neither may drive a terminal.
    escape = sys.stdout.isatty()
    for line in lines:
        print(visible(line) if escape else line)


def show_one(renderable: RenderableType) -> None:
    """Prints one table or panel on the console."""
    console().print(renderable)


def program_prefix(db: str) -> tuple[str, str]:
    """Returns how a printed hint runs: this capture, and the --db to put after the
    command unless it is the default. A server URL's password is never printed: libpq
    takes it from PGPASSWORD/.pgpass."""
    from capture.output.hints import program
    from capture.store.location import is_postgres
    from capture.store.source import without_password

    shown = without_password(db) if is_postgres(db) else db
    return program(), "" if db == DEFAULT_DB else f" --db {shlex.quote(shown)}"
