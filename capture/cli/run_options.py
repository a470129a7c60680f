"""Options of `capture run` that need more than a line: --hosts, --slot,
--barrier-timeout (a run sent from many hosts), --procs N|auto, --backend-header, and
the rate: --qps RATE or FROM:TO and --stages."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from capture.config import DEFAULT_BACKEND_HEADERS
from capture.errors import UsageError
from capture.parse import MAX_PROCS, parse_duration
from capture.schedule import Schedule, parse_qps

__all__ = [
    "BackendHeaderOpt",
    "BarrierTimeoutOpt",
    "HostsOpt",
    "QpsOpt",
    "SlotOpt",
    "StagesOpt",
    "backend_headers",
    "procs_count",
    "run_rates",
]

QpsOpt = Annotated[
    str | None,
    typer.Option(
        "-q",
        "--qps",
        metavar="RATE|FROM:TO",
        help="Global rate in requests/s, or FROM:TO rising linearly over -d"
        " (default: as fast as possible).",
    ),
]
StagesOpt = Annotated[
    str | None,
    typer.Option(
        "--stages",
        metavar="DUR:RATE,...",
        help="Rate steps, as k6's stages: 30s:100,1m:500,30s:0 (0: a pause);"
        " DUR:FROM:TO ramps within one. The run lasts their sum.",
    ),
]

HostsOpt = Annotated[
    int | None,
    typer.Option(
        "--hosts",
        metavar="N",
        help="Join the run --name with N hosts in all (a postgresql:// --db).",
    ),
]
SlotOpt = Annotated[
    int | None,
    typer.Option(
        "--slot",
        metavar="I",
        help="With --hosts: take slot I, 0 to N-1 (default: the first free one).",
    ),
]
BarrierTimeoutOpt = Annotated[
    str,
    typer.Option(
        "--barrier-timeout",
        metavar="DURATION",
        help="With --hosts: how long to wait for the other hosts.",
    ),
]
BackendHeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--backend-header",
        metavar="NAME",
        help="Response header naming the backend, stored per request; repeatable, the first "
        "present wins; 'none': store none (default: X-Served-By ... Via, Server).",
    ),
]


def backend_headers(names: list[str] | None) -> tuple[str, ...]:
    """Turns --backend-header values into RunConfig.backend_headers: the default list when
    none is given, () for 'none'."""
    if not names:
        return DEFAULT_BACKEND_HEADERS
    if any(n.strip().lower() == "none" for n in names):
        if len(names) > 1:
            raise UsageError("--backend-header none turns the recording off: give it alone")
        return ()
    return tuple(n.strip() for n in names)


def procs_count(text: str) -> int:
    """Turns --procs N or 'auto' (one per core) into a count."""
    if text.strip().lower() == "auto":
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    try:
        count = int(text)
    except ValueError:
        raise UsageError(f"--procs {text!r}: expected a number or 'auto'") from None
    if count < 1:
        raise UsageError("--procs must be greater than zero")
    if count > MAX_PROCS:
        raise UsageError(f"--procs must be at most {MAX_PROCS}")
    return count


def run_rates(
    duration: str | None, qps: str | None, stages: str | None
) -> tuple[float | None, float | None, Schedule | None]:
    """Returns (duration_s, qps, schedule) from -d, --qps RATE|FROM:TO and --stages."""
    duration_s = None if duration is None else parse_duration(duration, option="--duration")
    if stages is None:
        rate, schedule = (None, None) if qps is None else parse_qps(qps, duration_s)
        return duration_s, rate, schedule
    if qps is not None:
        raise UsageError("--stages cannot go with --qps: give each stage its rate")
    if duration is not None:
        raise UsageError("--stages cannot go with -d/--duration: the run lasts its stages")
    schedule = Schedule.parse_stages(stages)
    return schedule.duration_s, None, schedule
