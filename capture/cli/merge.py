"""`capture merge`: join the per-host SQLite files of one run into one new file."""

from __future__ import annotations

import json
import shlex
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from capture.cli.app import app, invoked_args
from capture.escape import visible

if TYPE_CHECKING:
    from capture.store.merge import Merged, Source

__all__ = ["merge"]


class MergeFormat(StrEnum):
    """What merge prints: lines for people, or one JSON object."""

    table = "table"
    json = "json"


@app.command()
def merge(
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE[:RUN]",
            help="Capture files, one per host; FILE:RUN takes that run (default: the latest).",
            show_default=False,
        ),
    ],
    *,
    output: Annotated[
        str,  # not a Path: it would fold a postgresql:// URL into a path before the check
        typer.Option("--output", "-o", metavar="FILE", help="The new file to write."),
    ],
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Take the latest run of this name in each."),
    ] = None,
    rename: Annotated[
        str | None,
        typer.Option("--as", metavar="NAME", help="Name of the merged run (default: theirs)."),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete", help="Also merge runs left running (crashed): their rows."
        ),
    ] = False,
    fmt: Annotated[
        MergeFormat,
        typer.Option("--format", "-f", metavar="<table|json>", help="Output format."),
    ] = MergeFormat.table,
) -> None:
    """Merge the runs of several capture files (one per host) into one run in a new file.

    Example: capture merge host1.db host2.db host3.db:2 -o all.db
    """
    from capture.store.merge import MergeOptions, check_sqlite, parse_input
    from capture.store.merge import merge as merge_files

    check_sqlite([*inputs, output])
    options = MergeOptions(
        output=Path(output),
        name=name,
        rename=rename,
        allow_incomplete=allow_incomplete,
        command_line=shlex.join(["capture", *invoked_args()]),
    )
    merged = merge_files([parse_input(arg) for arg in inputs], options)
    lines = [json.dumps(_as_json(merged))] if fmt is MergeFormat.json else _lines(merged)
    for line in lines:
        print(visible(line))


def _lines(merged: Merged) -> list[str]:
    """One line per input, then the merged run."""
    lines = [
        f"host {s.slot}: {s.selection.path} run {s.run['id']} ({s.run['status']}, "
        f"{s.run['hostname']}): {s.requests:,} requests, {s.failed:,} failed, "
        f"{s.sessions:,} sessions"
        for s in merged.sources
    ]
    if merged.renumbered:
        lines.append("sequence numbers overlapped: renumbered 1..N by start time")
    lines.append(
        f"merged run {merged.run_id} in {merged.output}: {merged.requests:,} requests, "
        f"{merged.stored:,} failures, {len(merged.sources)} hosts"
    )
    return lines


def _source_json(source: Source) -> dict[str, object]:
    return {
        "slot": source.slot,
        "file": str(source.selection.path),
        "run_id": source.run["id"],
        "run_key": source.run["run_key"],
        "status": source.run["status"],
        "hostname": source.run["hostname"],
        "requests": source.requests,
        "failed": source.failed,
        "failures": source.stored,
        "sessions": source.sessions,
    }


def _as_json(merged: Merged) -> dict[str, object]:
    return {
        "run_id": merged.run_id,
        "output": str(merged.output),
        "name": merged.name,
        "requests": merged.requests,
        "failed": merged.failed,
        "failures": merged.stored,
        "sockets": merged.sockets,
        "hosts": len(merged.sources),
        "seq_renumbered": merged.renumbered,
        "inputs": [_source_json(s) for s in merged.sources],
    }
