"""`capture run` and `capture target`: the commands that send or serve traffic."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from capture.cli import run_options as opts
from capture.cli.app import DbOpt, app, invoked_args
from capture.cli.run_options import (
    BackendHeaderOpt,
    BarrierTimeoutOpt,
    HostsOpt,
    SlotOpt,
    backend_headers,
    procs_count,
)
from capture.config import (
    DEFAULT_BARRIER_TIMEOUT_S,
    DEFAULT_DB,
    DEFAULT_FAIL_STATUS,
    DEFAULT_MAX_TIME_S,
    RunConfig,
    Target,
)
from capture.errors import ExitCode, OutputError, UsageError
from capture.parse import StatusSpec, parse_duration, parse_header, parse_queue_size, parse_size
from capture.redact import Redactor, run_redactor
from capture.store.location import is_postgres
from capture.store.reader import hide_password
from capture.store.source import without_password
from capture.targets import load_targets, parse_body

__all__ = ["run", "target"]


@app.command()
def run(
    urls: Annotated[
        list[str] | None, typer.Argument(metavar="URL...", help="URL(s) to send to, round-robin.")
    ] = None,
    *,
    requests: Annotated[
        int | None,
        typer.Option("-n", "--requests", metavar="N", help="Stop after this many requests."),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "-d", "--duration", metavar="DURATION", help="Stop after this long: 30s, 5m, 1h."
        ),
    ] = None,
    qps: opts.QpsOpt = None,
    stages: opts.StagesOpt = None,
    connections: Annotated[
        int,
        typer.Option(
            "-c", "--connections", metavar="N", help="Sessions in the pool, one socket each."
        ),
    ] = 10,
    workers: Annotated[
        int | None,
        typer.Option("-w", "--workers", metavar="N", help="Worker threads (default: connections)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option("-X", "--method", metavar="METHOD", help="HTTP method (default GET)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("-H", "--header", metavar="'NAME: VALUE'", help="'Name: value', repeatable."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data", metavar="TEXT|@FILE", help="Request body: TEXT, or @FILE to read it."
        ),
    ] = None,
    targets: Annotated[
        Path | None,
        typer.Option(
            "--targets", metavar="FILE", help="Targets file: vegeta http format or JSON lines."
        ),
    ] = None,
    id_header: Annotated[
        str | None,
        typer.Option(
            "--id-header",
            metavar="NAME",
            help="Send a unique KEY-SEQ value (run key, sequence) in this header, and store it.",
        ),
    ] = None,
    backend_header: BackendHeaderOpt = None,
    timeout: Annotated[
        str,
        typer.Option("--timeout", metavar="DURATION", help="Connect and read timeout per request."),
    ] = "10s",
    max_time: Annotated[
        str,
        typer.Option(
            "--max-time",
            metavar="DURATION",
            help="Total deadline per request, body included; 'off' for none.",
        ),
    ] = f"{DEFAULT_MAX_TIME_S:g}s",
    fail_status: Annotated[
        str | None,
        typer.Option(
            "--fail-status",
            metavar="STATUSES",
            help="Statuses that count as failures (default: >= 400).",
        ),
    ] = None,
    slow: Annotated[
        str | None,
        typer.Option(
            "--slow", metavar="DURATION", help="Also count responses slower than this as failed."
        ),
    ] = None,
    stop_after_failures: Annotated[
        int | None,
        typer.Option("--stop-after-failures", metavar="K", help="Stop once K failures occurred."),
    ] = None,
    max_body: Annotated[
        str,
        typer.Option(
            "--max-body", metavar="SIZE", help="Bytes of each failed response body to store."
        ),
    ] = "64KiB",
    max_queue: Annotated[
        str,
        typer.Option(
            "--max-queue", metavar="SIZE", help="Bytes of records waiting for the writer, at most."
        ),
    ] = "64MiB",
    grace: Annotated[
        str,
        typer.Option(
            "--grace", metavar="DURATION", help="On Ctrl-C, how long in-flight requests may finish."
        ),
    ] = "5s",
    name: Annotated[
        str | None, typer.Option("--name", metavar="NAME", help="A name for this run.")
    ] = None,
    hosts: HostsOpt = None,
    slot: SlotOpt = None,
    barrier_timeout: BarrierTimeoutOpt = f"{DEFAULT_BARRIER_TIMEOUT_S:g}s",
    trust_env: Annotated[
        bool, typer.Option("--trust-env", help="Use proxies and .netrc from the environment.")
    ] = False,
    follow_redirects: Annotated[
        bool, typer.Option("--follow-redirects", help="Follow redirects (default: a 3xx is kept).")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("-k", "--insecure", help="Do not verify TLS certificates.")
    ] = False,
    keep_cookies: Annotated[
        bool, typer.Option("--keep-cookies", help="Carry cookies from one request to the next.")
    ] = False,
    keep_secrets: Annotated[
        bool,
        typer.Option("--keep-secrets", help="Store Authorization, Cookie, tokens... unredacted."),
    ] = False,
    hooks: Annotated[
        str | None,
        typer.Option(
            "--hooks",
            metavar="FILE.py|MODULE",
            help="Hook functions: FILE.py, a module, or module:object.",
        ),
    ] = None,
    procs: Annotated[
        str,
        typer.Option(
            "--procs",
            metavar="N|auto",
            help="Processes, each with its own pool: N, or 'auto' (cores).",
        ),
    ] = "1",
    no_pin: Annotated[
        bool,
        typer.Option("--no-pin", help="Let the OS move each process between cores."),
    ] = False,
    fail_if_body: Annotated[
        list[str] | None,
        typer.Option("--fail-if-body", metavar="REGEX", help="Failure when the body matches."),
    ] = None,
    expect_body: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-body",
            metavar="REGEX",
            help="Failure when the body does not match this regex.",
        ),
    ] = None,
    expect_header: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-header",
            metavar="'NAME: REGEX'",
            help="'Name: REGEX': failure when missing or different.",
        ),
    ] = None,
    fail_if_json: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if-json",
            metavar="PATH[=VALUE]",
            help="PATH or PATH=VALUE in a JSON body (docs/api.md).",
        ),
    ] = None,
    db: DbOpt = DEFAULT_DB,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress and no summary.")] = False,
    json_summary: Annotated[
        bool, typer.Option("--json", help="Print the end summary as JSON on stdout.")
    ] = False,
    fail_exit: Annotated[
        bool, typer.Option("--fail-exit", help="Exit 1 when any failure was stored (for CI).")
    ] = False,
) -> None:
    """Send load to URL(s) and store every failed exchange.

    Example: capture run http://127.0.0.1:8080/ -c 10 -d 30s --qps 200
    """
    from capture import api
    from capture.load.hooks import load_hooks
    from capture.output.live import Display
    from capture.output.run_summary import summary_json, summary_lines
    from capture.results import RunStatus

    duration_s, qps_rate, schedule = opts.run_rates(duration, qps, stages)
    config = RunConfig(
        targets=_targets(urls or [], targets, method, header or [], data),
        requests=requests,
        duration_s=duration_s,
        connections=connections,
        workers=workers,
        qps=qps_rate,
        schedule=schedule,
        timeout_s=parse_duration(timeout, option="--timeout"),
        max_time_s=(
            None
            if max_time.strip().lower() == "off"
            else parse_duration(max_time, option="--max-time")
        ),
        fail_status=(
            DEFAULT_FAIL_STATUS
            if fail_status is None
            else StatusSpec.parse(fail_status, option="--fail-status")
        ),
        slow_s=None if slow is None else parse_duration(slow, option="--slow"),
        stop_after_failures=stop_after_failures,
        max_body_bytes=parse_size(max_body, option="--max-body"),
        max_queue_bytes=parse_queue_size(max_queue),
        id_header=id_header,
        backend_headers=backend_headers(backend_header),
        trust_env=trust_env,
        follow_redirects=follow_redirects,
        insecure=insecure,
        keep_cookies=keep_cookies,
        keep_secrets=keep_secrets,
        grace_s=parse_duration(grace, option="--grace"),
        fail_if_body=tuple(fail_if_body or ()),
        expect_body=tuple(expect_body or ()),
        expect_header=tuple(expect_header or ()),
        fail_if_json=tuple(fail_if_json or ()),
        procs=procs_count(procs),
        pin_cpu=not no_pin,
        hooks_spec=hooks,
        name=name,
        hosts=hosts,
        host_slot=slot,
        barrier_timeout_s=parse_duration(barrier_timeout, option="--barrier-timeout"),
    )
    if hosts is not None and not is_postgres(db):
        # Before anything opens --db: a usage error creates no file.
        raise UsageError("--hosts needs a postgresql:// --db: the hosts meet in its server")
    # The run's key is the config's (generated once, there): the command line must
    # redact a secret to the same text as the requests and failures rows do.
    redactor = run_redactor(config.keep_secrets, config.redaction_key)
    config = dataclasses.replace(
        config, command_line=_command_line(invoked_args(), header or [], db, redactor)
    )
    loaded = None if hooks is None else load_hooks(hooks)
    with Display(quiet=quiet or json_summary) as display:
        summary = api.run(config, db=db, hooks=loaded, on_tick=display.on_tick)
    # The summary's hints quote --db to paste: no password (PGPASSWORD or ~/.pgpass).
    shown_db = without_password(db)
    try:
        if json_summary:
            print(summary_json(summary, db=shown_db))
        elif not quiet:
            for line in summary_lines(summary, db=shown_db):
                print(line)
        if run_line := summary.extra.get("run_line"):  # the last host of a --hosts run
            if json_summary:
                print(f"capture: {run_line}", file=sys.stderr)
            elif not quiet:
                print(run_line)
        sys.stdout.flush()  # now: the message below must say the run itself is stored
    except OutputError as exc:
        raise OutputError(
            f"run {summary.run_id} {summary.status} and is recorded in --db "
            f"{hide_password(db)!r}; only its summary was not printed: {exc.message}"
        ) from None
    if summary.status is RunStatus.FAILED:
        lost = summary.extra.get("process_lost", False)
        raise typer.Exit(ExitCode.PROCESS_LOST if lost else ExitCode.STORAGE)
    if summary.status is RunStatus.INTERRUPTED:
        raise typer.Exit(ExitCode.INTERRUPTED)
    if fail_exit and summary.failed:
        raise typer.Exit(ExitCode.FAILURES)


def _command_line(argv: Sequence[str], headers: Sequence[str], db: str, redactor: Redactor) -> str:
    """Returns the command as typed for runs.command_line, secrets redacted like headers.

    Each -H value and the --db value is a suffix of its argument however it was spelled
    (-H V, -HV, --header=V, -kH V), so replacing that suffix covers every spelling.
    """
    hidden: list[tuple[str, str]] = []
    for raw in headers:
        name, value = parse_header(raw)
        shown = redactor.value(name, value)
        if shown != value:
            hidden.append((raw, f"{name}: {shown}"))
    if (masked := hide_password(db)) != db:
        hidden.append((db, masked))
    out = []
    for arg in argv:
        for raw, shown in hidden:
            if arg.endswith(raw):
                arg = arg[: -len(raw)] + shown
                break
        else:
            if _looks_like_url(arg):
                arg = redactor.url(arg)  # ?api_key=... in a target URL
        out.append(arg)
    return shlex.join(["capture", *out])


def _looks_like_url(arg: str) -> bool:
    """Tells whether arg is an http(s) URL however spelled (' HTTP://...' included)."""
    return arg.strip().lower().startswith(("http://", "https://"))


def _targets(
    urls: Sequence[str],
    targets_file: Path | None,
    method: str | None,
    headers: Sequence[str],
    data: str | None,
) -> tuple[Target, ...]:
    if targets_file is not None:
        if urls:
            raise UsageError("give URLs or --targets FILE, not both")
        given = [opt for opt, v in (("-X", method), ("-H", headers), ("--data", data)) if v]
        if given:
            # Silently ignoring them would send requests other than the ones asked for.
            raise UsageError(
                f"{'/'.join(given)} apply to URLs; with --targets, put them in the file"
            )
        return load_targets(targets_file)
    pairs = tuple(parse_header(h) for h in headers)
    body = parse_body(data)
    return tuple(Target.build(method or "GET", url, pairs, body) for url in urls)


@app.command()
def target(
    *,
    port: Annotated[
        int, typer.Option("--port", "-p", metavar="PORT", help="Port to listen on (0: any free).")
    ] = 8080,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
) -> None:
    """Start the built-in fault-injecting test server (see docs/target.md).

    Example: capture target --port 8080   # then: curl 'http://127.0.0.1:8080/?status=503'
    """
    from capture.target.server import serve

    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port")
    try:
        serve(host, port)
    except OSError as exc:  # bind: port in use, no permission, address not on this host
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
