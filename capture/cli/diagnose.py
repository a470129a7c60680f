"""`capture diagnose`: the ranked findings of one run (docs/diagnose.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from capture.cli.app import DbOpt, app
from capture.cli.shared import SummaryFormatOpt, emit, program_prefix
from capture.config import DEFAULT_DB
from capture.errors import UsageError
from capture.output.tables import Format

__all__ = ["diagnose"]


@app.command()
def diagnose(
    run_arg: Annotated[
        str | None,
        typer.Argument(metavar="[RUN]", help="Run id or name (default: the latest)."),
    ] = None,
    *,
    db: DbOpt = DEFAULT_DB,
    run: Annotated[
        str | None, typer.Option("--run", "-r", metavar="RUN", help="The same as RUN.")
    ] = None,
    fmt: SummaryFormatOpt = Format.table,
) -> None:
    """Say what stands out in a run's failures: ranked findings with their evidence.

    Each finding gives one sentence with numbers, a small table, example request ids and
    the command that lists its rows; docs/diagnose.md gives each detector's criterion.

    Example: capture diagnose 3            capture diagnose --format json | jq .findings
    """
    from capture import api
    from capture.output.diagnose import diagnosis_json, diagnosis_lines

    if run_arg is not None and run is not None and run_arg != run:
        raise UsageError(f"two runs given: {run_arg!r} and -r {run!r}; diagnose reads one")
    spec = run_arg if run_arg is not None else run
    if spec is not None and spec.strip().lower() == "all":
        raise UsageError("diagnose reads one run, not 'all': give a run id or name (capture runs)")
    report = api.open_db(db).summary(spec)
    run_id, failed = report["run"]["id"], report["failed"]
    if fmt is not Format.table:
        emit([diagnosis_json(run_id, report["requests"], failed, report["findings"])])
        return
    total = report["requests"]
    head = f"run {run_id}: {total:,} requests, {failed:,} failed"
    emit([head, "", *diagnosis_lines(report["findings"], failed, prefix=program_prefix(db))])
