"""`capture report`: one self-contained HTML page (or its JSON) of one or more runs."""

from __future__ import annotations

import enum
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from capture.cli.app import DbOpt, app
from capture.cli.shared import emit
from capture.config import DEFAULT_DB
from capture.errors import OutputError, UsageError

__all__ = ["ReportFormat"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")  # a -wal file's first bytes
_BESIDE = ("-wal", "-shm", "-journal")  # the files SQLite keeps beside a database


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
    from capture.store.reader import open_readonly

    if output is not None:
        _check_output(output, db)
    elif fmt is ReportFormat.html and sys.stdout.isatty():
        raise UsageError("report: give -o FILE for the HTML page (or --format json)")
    document = build_report(open_readonly(db), runs or [], db=db)
    if fmt is ReportFormat.json:
        text = json.dumps(document, indent=1, ensure_ascii=False)
    else:
        from capture.output.report_html import report_html

        text = report_html(document)
    if output is None:
        emit([text])
    else:
        _write(output, text)
        ids = ", ".join(str(r["run"]["id"]) for r in document["runs"])
        print(f"report of run {ids} written to {output} ({output.stat().st_size:,} bytes)",
              file=sys.stderr)  # fmt: skip


def _check_output(output: Path, db: str) -> None:
    """Refuses an output that would overwrite the database, any SQLite file, or the
    files SQLite keeps beside one (a live run's -wal holds its newest rows)."""
    if output.is_dir():
        raise UsageError(f"--output {output} is a directory; give a file name")
    for suffix in _BESIDE:
        if output.name.endswith(suffix) and output.with_name(output.name[: -len(suffix)]).exists():
            raise UsageError(
                f"--output {output} is beside a SQLite database; a report never replaces it"
            )
    if not output.exists():
        return
    try:
        with output.open("rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror}") from None
    if (
        head == _SQLITE_MAGIC
        or head[:4] in _WAL_MAGIC
        or (Path(db).exists() and output.samefile(db))
    ):
        raise UsageError(f"--output {output} is a SQLite database; a report never replaces one")


def _write(output: Path, text: str) -> None:
    """Writes the whole file or nothing: a temporary file beside it, then renamed."""
    parent = output.parent if str(output.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {output}: {exc.strerror}") from None
