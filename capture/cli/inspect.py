"""The commands that read a capture file: failures, show, runs, summary, sockets,
export, replay, db. Each opens the database read-only (db upgrade excepted)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from capture.cli.app import DbOpt, app
from capture.cli.db import db_app  # registers `capture db` on app
from capture.cli.shared import (
    TABLE_PAGE,
    BodyOpt,
    ConnectionOpt,
    ErrorOpt,
    ExportFormatOpt,
    FormatOpt,
    HostOpt,
    MethodOpt,
    PositionOpt,
    ResponseHeaderOpt,
    RunOpt,
    SessionOpt,
    SinceOpt,
    SlowerOpt,
    SocketOpt,
    StatusOpt,
    SummaryFormatOpt,
    UntilOpt,
    UrlOpt,
    emit,
    page_note,
    program_prefix,
    show_one,
)
from capture.config import DEFAULT_DB
from capture.errors import UsageError
from capture.output.tables import Format

__all__ = ["db_app"]


@app.command()
def failures(
    *,
    db: DbOpt = DEFAULT_DB,
    run: RunOpt = None,
    status: StatusOpt = None,
    error: ErrorOpt = None,
    url: UrlOpt = None,
    method: MethodOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    slower_than: SlowerOpt = None,
    body_contains: BodyOpt = None,
    response_header: ResponseHeaderOpt = None,
    socket: SocketOpt = None,
    session: SessionOpt = None,
    connection: ConnectionOpt = None,
    position: PositionOpt = None,
    host: HostOpt = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            help=f"At most N rows (default: every row; the table shows {TABLE_PAGE}).",
        ),
    ] = None,
    old_n: Annotated[
        str | None, typer.Option("-n", hidden=True, help="Not a row limit: see --limit.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every matching row in the table too.")
    ] = False,
    offset: Annotated[
        int, typer.Option("--offset", metavar="N", help="Skip this many rows first.")
    ] = 0,
    oldest: Annotated[bool, typer.Option("--oldest", help="Oldest first.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """List the failures of a run, newest first.

    Example: capture failures --status 5xx --url '*/api/*' --since 30s --format jsonl | jq .
    """
    from capture.output.tables import failures_table, machine_lines
    from capture.store import queries as query
    from capture.store.filters import FailureQuery
    from capture.store.reader import open_readonly

    if old_n is not None:  # -n is run's request count; say what failures takes instead
        raise UsageError("failures takes --limit N for at most N rows (-n counts requests in run)")
    if limit is not None and show_all:
        raise UsageError("--limit and --all: give one of them")
    table = fmt is Format.table
    page = limit if limit is not None or not table or show_all else TABLE_PAGE
    q = FailureQuery.build(
        status=status,
        error=error,
        url=url,
        method=method,
        since=since,
        until=until,
        slower_than=slower_than,
        body_contains=body_contains,
        header=response_header,
        socket=socket,
        session=session,
        connection=connection,
        position=position,
        host=host,
        limit=page,
        offset=offset,
        oldest=oldest,
    )
    source = open_readonly(db)
    if not table:
        emit(machine_lines(query.iter_failure_rows(source, q, run), fmt))
        return
    rows = query.failure_rows(source, q, run)
    # Counted only when the page may have cut something: a COUNT reads every match.
    cut = offset > 0 or (page is not None and len(rows) == page)
    total = query.failure_count(source, q, run) if cut else len(rows)
    if rows:
        show_one(failures_table(rows, all_runs=(run or "").lower() == "all"))
    print(page_note(len(rows), total, offset), file=sys.stderr)


@app.command()
def show(
    request_id: Annotated[
        int,
        typer.Argument(
            metavar="ID", help="Request id (the id column of failures, or any request's)."
        ),
    ],
    *,
    db: DbOpt = DEFAULT_DB,
    body: Annotated[
        bool, typer.Option("--body", help="Write the raw stored body bytes to stdout.")
    ] = False,
    curl: Annotated[
        bool, typer.Option("--curl", help="Print a curl command that repeats the request.")
    ] = False,
) -> None:
    """Show one exchange in full: request, response, body, timings, sockets.

    Example: capture show 1234            capture show 1234 --body > body.bin
    """
    from capture.errors import NotFoundError
    from capture.escape import visible_bytes
    from capture.output.exchange import curl_command, exchange_lines, has_detail
    from capture.store import queries as query
    from capture.store.filters import check_id
    from capture.store.reader import open_readonly

    check_id(request_id, option="ID")  # before the file is opened: bad input is usage
    row = query.exchange(open_readonly(db), request_id)
    if (body or curl) and not has_detail(row):
        # No failures row: the headers and body --body and --curl need were never kept.
        raise NotFoundError(
            f"request {request_id} did not fail (or its failure was dropped): only the light"
            " row is stored, with no headers and no body; capture show ID prints what there is"
        )
    if body:
        data = bytes(row.get("body") or b"")
        if sys.stdout.isatty():
            # Raw bytes from a server must not reach a terminal: show them escaped instead.
            print(visible_bytes(data))
            print("(escaped for the terminal; redirect stdout for the raw bytes)", file=sys.stderr)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        return
    if curl:
        command, redacted = curl_command(row)
        print(command)
        if redacted:
            print(
                f"# {redacted} header value(s) were stored redacted: replace REDACTED",
                file=sys.stderr,
            )
        return
    emit(exchange_lines(row))


@app.command()
def runs(*, db: DbOpt = DEFAULT_DB, fmt: FormatOpt = Format.table) -> None:
    """List every run in the database.

    Example: capture runs --db capture.db
    """
    from capture.output.tables import machine_lines, runs_table
    from capture.store import queries as query
    from capture.store.hosts import hosts_text
    from capture.store.reader import open_readonly

    rows = query.run_rows(open_readonly(db))
    if fmt is Format.table:
        show_one(runs_table(rows))
    elif fmt is Format.csv:  # one cell per run: '3 finished, 1 lost'
        emit(machine_lines(({**r, "hosts": hosts_text(r["hosts"])} for r in rows), fmt))
    else:
        emit(machine_lines(rows, fmt))


@app.command()
def summary(
    *,
    db: DbOpt = DEFAULT_DB,
    run: Annotated[
        str | None,
        typer.Option(
            "--run", "-r", metavar="RUN", help="Run id or name (default: the latest); not 'all'."
        ),
    ] = None,
    fmt: SummaryFormatOpt = Format.table,
) -> None:
    """Summarize a run: statuses, latency, per-URL, status over time, pacing, client, failures.

    Example: capture summary -r 3            capture summary --format json | jq .urls
    """
    from capture.output.summary import report_json, report_lines
    from capture.store.reader import open_readonly
    from capture.store.report import run_report

    if run is not None and run.strip().lower() == "all":
        # A summary's timeline and offsets are relative to one run's start.
        raise UsageError("summary reads one run, not 'all': give a run id or name (capture runs)")
    report = run_report(open_readonly(db), run)
    if fmt is not Format.table:
        emit([report_json(report)])
        return
    program, where = program_prefix(db)
    emit(report_lines(report, show=f"{program} show{where}", prefix=(program, where)))


@app.command()
def sockets(
    *,
    db: DbOpt = DEFAULT_DB,
    run: RunOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show every TCP connection of a run: sockets, requests, failures, where on it they failed.

    Example: capture sockets --format csv > sockets.csv
    """
    from capture.output.tables import machine_lines, sockets_table
    from capture.store.reader import open_readonly
    from capture.store.sockets import socket_rows

    run_ids, rows = socket_rows(open_readonly(db), run)
    if fmt is Format.table:
        show_one(sockets_table(rows, all_runs=run_ids is None))
        used = sum(1 for r in rows if r["local_addr"])
        which = "all runs" if run_ids is None else f"run {run_ids[0]}"
        print(f"{which}: {used} connections", file=sys.stderr)
    else:
        emit(machine_lines(rows, fmt))


@app.command()
def export(
    *,
    run: RunOpt = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="File to write; '-' for stdout.")
    ] = Path("-"),
    fmt: ExportFormatOpt = Format.har,
    db: DbOpt = DEFAULT_DB,
    status: StatusOpt = None,
    error: ErrorOpt = None,
    url: UrlOpt = None,
    method: MethodOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    slower_than: SlowerOpt = None,
    body_contains: BodyOpt = None,
    response_header: ResponseHeaderOpt = None,
    socket: SocketOpt = None,
    session: SessionOpt = None,
    connection: ConnectionOpt = None,
    position: PositionOpt = None,
    host: HostOpt = None,
) -> None:
    """Export failures in full (bodies and headers) as HAR 1.2, JSON lines or CSV.

    Rows are written as they are read: memory does not grow with their number.

    Example: capture export --format har -o failures.har --status 5xx
    """
    from capture.output.export import Tally, export_chunks
    from capture.safe import write_output
    from capture.store import queries as query
    from capture.store.filters import FailureQuery
    from capture.store.reader import SIDECARS, open_readonly, sidecar

    q = FailureQuery.build(
        status=status,
        error=error,
        url=url,
        method=method,
        since=since,
        until=until,
        slower_than=slower_than,
        body_contains=body_contains,
        header=response_header,
        socket=socket,
        session=session,
        connection=connection,
        position=position,
        host=host,
        limit=None,
        oldest=True,
    )
    source = open_readonly(db)
    names, batches = query.failure_batches(source, q, run)
    tally = Tally()
    # One string of whole lines per batch of rows: a write per batch, not per row.
    chunks = export_chunks(names, batches, fmt, tally)
    if str(output) in ("-", "/dev/stdout"):
        emit(chunks)
        return
    # A SQLite file and its sidecars must not be overwritten by its own export.
    protect = (
        [] if source.path is None else [source.path, *(sidecar(source.path, s) for s in SIDECARS)]
    )
    write_output(output, chunks, protect=protect)
    print(f"{tally.rows:,} failures written to {output}", file=sys.stderr)


@app.command()
def replay(
    request_id: Annotated[int, typer.Argument(metavar="ID", help="Request id to send again.")],
    *,
    db: DbOpt = DEFAULT_DB,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="'Name: value' to replace a stored header.",
        ),
    ] = None,
    timeout: Annotated[
        str, typer.Option("--timeout", metavar="DURATION", help="Connect and read timeout.")
    ] = "10s",
    insecure: Annotated[bool, typer.Option("-k", "--insecure", help="Skip TLS checks.")] = False,
    reuse_id: Annotated[
        bool,
        typer.Option("--reuse-id", help="Send the stored --id-header value, not a fresh one."),
    ] = False,
) -> None:
    """Send a stored request again and compare the new response with the stored one.

    Example: capture replay 1234 -H 'Authorization: Bearer NEW-TOKEN'
    """
    from capture.config import DEFAULT_MAX_BODY_BYTES
    from capture.load.replay import replay as send_again
    from capture.output.exchange import replay_lines
    from capture.parse import parse_duration, parse_header
    from capture.store import queries as query
    from capture.store.reader import open_readonly
    from capture.store.run_config import id_header

    overrides = [parse_header(h) for h in header or []]
    timeout_s = parse_duration(timeout, option="--timeout")
    source = open_readonly(db)
    row = query.exchange(source, request_id)
    new = send_again(
        row,
        overrides,
        timeout_s=timeout_s,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        insecure=insecure,
        id_header=id_header(source, row["run_id"]),
        reuse_id=reuse_id,
    )
    emit(replay_lines(row, new))
