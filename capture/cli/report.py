"""`capture report`: one self-contained HTML page (or its JSON) of one or more runs."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from capture.cli.app import DbOpt, app
from capture.cli.shared import emit
from capture.config import DEFAULT_DB
from capture.errors import UsageError

__all__ = ["ReportFormat"]


class ReportFormat(enum.StrEnum):
    """What `capture report` writes."""

    html = "html"
    json = "json"


@app.command()
def report(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="RUN",
            help="Run ids or names (default: the latest); the first is the baseline of the others.",
            show_default=False,
        ),
    ] = None,
    *,
    db: DbOpt = DEFAULT_DB,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (default: stdout)."),
    ] = None,
    fmt: Annotated[
        ReportFormat,
        typer.Option("--format", help="html: one self-contained page; json: its data."),
    ] = ReportFormat.html,
) -> None:
    """Write a report of a run: charts over time, latency, URLs, failures, connections.

    Two runs or more are overlaid, each against the first (before and after a fix).

    Example: capture report -o report.html     capture report before after -o fix.html
    """
    from capture.output.report_doc import build_report
    from capture.safe import write_output
    from capture.store.location import is_postgres
    from capture.store.reader import SIDECARS, open_readonly, sidecar, sqlite_path

    if output is None and fmt is ReportFormat.html and sys.stdout.isatty():
        raise UsageError("report: give -o FILE for the HTML page (or --format json)")
    written: list[str] = []

    def page() -> Iterator[str]:
        """Builds the report once write_output has looked at the path (a refused -o
        costs no read of the database)."""
        document = build_report(open_readonly(db), runs or [], db=db)
        if fmt is ReportFormat.json:
            text = json.dumps(document, indent=1, ensure_ascii=False)
        else:
            from capture.output.report_html import report_html

            text = report_html(document).rstrip("\n")
        written.append(", ".join(str(r["run"]["id"]) for r in document["runs"]))
        written.append(f"{len(text.encode()) + 1:,}")
        yield text

    if output is None:
        emit(page())
        return
    database = None if is_postgres(db) else sqlite_path(db)
    protect = [] if database is None else [database, *(sidecar(database, s) for s in SIDECARS)]
    write_output(output, page(), protect=protect)
    print(f"report of run {written[0]} written to {output} ({written[1]} bytes)", file=sys.stderr)
