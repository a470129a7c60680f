"""Table rendering: given rows in, the exact lines a terminal or a pipe shows."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType

from capture.output.tables import failures_table, runs_table, sockets_table

ROW: dict[str, Any] = {
    "id": 7,
    "run_id": 1,
    "offset_ms": 1234.5,
    "method": "GET",
    "url": "http://127.0.0.1:8080/api/orders?id=42",
    "status": 503,
    "error_kind": None,
    "latency_ms": 12.04,
    "body_size": 2048,
    "local_addr": "127.0.0.1:51234",
    "connection_id": 7,
    "connection_request_no": 3,
}
LONG = "http://h/" + "a" * 30 + "/" + "b" * 30 + "?q=1"
NO_SOCKET = {
    "local_addr": None,
    "connection_id": None,
    "connection_request_no": None,
    "body_size": None,
}
RUNS = [
    {
        "id": 1,
        "name": "smoke",
        "started_at": "2024-05-01T12:00:00.123456+00:00",
        "duration_s": 30.04,
        "requests": 1000,
        "failures": 12,
        "rate": 33.3,
        "status": "completed",
        "aborted": 0,
    },
    {
        "id": 2,
        "name": None,
        "started_at": "2024-05-01T13:00:00+00:00",
        "duration_s": 0.0,
        "requests": 0,
        "failures": 0,
        "rate": None,
        "status": "running",
        "aborted": 0,
    },
]
# A run cut by a double Ctrl-C: 4 requests abandoned in flight (runs.aborted_total).
ABANDONED = [RUNS[0], {**RUNS[1], "status": "interrupted", "aborted": 4}]
SOCKETS = [
    {
        "run_id": 3,
        "connection_id": 7,
        "process": 1,
        "session": 0,
        "local_addr": "127.0.0.1:5000",
        "remote_addr": "127.0.0.1:8080",
        "requests": 20,
        "failures": 14,
        "first_ms": 12.0,
        "last_ms": 2500.0,
        "failed_at": ",".join(str(n) for n in range(14, 0, -1)),  # group_concat: any order
    },
    {
        "run_id": 3,
        "connection_id": None,
        "process": 1,
        "session": 1,
        "local_addr": None,
        "remote_addr": None,
        "requests": 2,
        "failures": 2,
        "first_ms": 0.0,
        "last_ms": 1.0,
        "failed_at": "2,1",
    },
]


def _render(table: RenderableType, width: int, *, terminal: bool = False) -> list[str]:
    """Returns the lines Rich prints, without the padding it adds after the last column."""
    out = io.StringIO()
    Console(file=out, width=width, highlight=False, force_terminal=terminal).print(table)
    return [line.rstrip() for line in out.getvalue().splitlines()]


CASES = {
    "failure": (
        lambda: failures_table([ROW]),
        200,
        [
            "id   offset  method  url                outcome  latency     body  socket      "
            "     connection  req# on conn",
            " 7  1.234 s  GET     /api/orders?id=42  503      12.0 ms  2.0 KiB  127.0.0.1:512"
            "34           7             3",
        ],
    ),
    "narrow terminal: whole columns left out (body, offset, method, position), the socket "
    "and the connection kept whole": (
        lambda: failures_table([ROW]),
        80,
        [
            "id  url                outcome  latency  socket           connection",
            " 7  /api/orders?id=42  503      12.0 ms  127.0.0.1:51234           7",
        ],
    ),
    "60 columns: fewer columns, the URL cut in the middle": (
        lambda: failures_table([ROW | {"url": LONG}]),
        60,
        [
            "id  url                    outcome  latency  socket",
            " 7  /aaaaaaaaa…bbbbbb?q=1  503      12.0 ms  127.0.0.1:51234",
        ],
    ),
    "long URL whole when there is room, all runs, no socket": (
        lambda: failures_table(
            [
                ROW
                | NO_SOCKET
                | {"id": 12345, "url": LONG, "status": 200, "error_kind": "body_reset"}
            ],
            all_runs=True,
        ),
        200,
        [
            "   id  run   offset  method  url                                                    "
            "             outcome         latency  body  socket  connection  req# on conn",
            "12345    1  1.234 s  GET     /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbb"
            "bbbbbb?q=1  200 body_reset  12.0 ms     -  -                -             -",
        ],
    ),
    "markup and escapes in data are shown, not obeyed": (
        lambda: failures_table(
            [
                ROW
                | {
                    "url": "http://h/[red]x[/red]\x1b[31m",
                    "status": None,
                    "error_kind": "reset",
                    "latency_ms": 0.5,
                    "body_size": 5 * 1024**2,
                }
            ]
        ),
        200,
        [
            "id   offset  method  url                    outcome  latency     body  socket    "
            "       connection  req# on conn",
            " 7  1.234 s  GET     /[red]x[/red]\\x1b[31m  reset    0.50 ms  5.0 MiB  127.0.0.1:"
            "51234           7             3",
        ],
    ),
    "runs": (
        lambda: runs_table(RUNS),
        200,
        [
            "id  name   started              duration  requests  failures    rate  status",
            " 1  smoke  2024-05-01 12:00:00    30.0 s      1000        12  33.3/s  completed",
            " 2         2024-05-01 13:00:00     0.0 s         0         0       -  running",
        ],
    ),
    "runs at 60 columns: rate and started left out, the status whole": (
        lambda: runs_table(RUNS),
        60,
        [
            "id  name   duration  requests  failures  status",
            " 1  smoke    30.0 s      1000        12  completed",
            " 2            0.0 s         0         0  running",
        ],
    ),
    "runs with an abandoned one: the abandoned column, blank for none": (
        lambda: runs_table(ABANDONED),
        200,
        [
            "id  name   started              duration  requests  failures    rate  abandoned  "
            "status",
            " 1  smoke  2024-05-01 12:00:00    30.0 s      1000        12  33.3/s             "
            "completed",
            " 2         2024-05-01 13:00:00     0.0 s         0         0       -          4  "
            "interrupted",
        ],
    ),
    "runs with an abandoned one at 80 columns: rate and started left out, abandoned kept": (
        lambda: runs_table(ABANDONED),
        80,
        [
            "id  name   duration  requests  failures  abandoned  status",
            " 1  smoke    30.0 s      1000        12             completed",
            " 2            0.0 s         0         0          4  interrupted",
        ],
    ),
    "connections of all runs, request numbers sorted and cut after 12": (
        lambda: sockets_table(SOCKETS, all_runs=True),
        200,
        [
            "run  connection  process  client socket    server socket   requests  failures"
            "   first    last  failed at request #",
            "  3           7        1  127.0.0.1:5000   127.0.0.1:8080        20        14"
            "  0.01 s  2.50 s  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, … (14)",
            "  3           -        1  (no connection)  -                      2         2"
            "  0.00 s  0.00 s  1, 2",
        ],
    ),
}


@pytest.mark.parametrize(("table", "width", "lines"), CASES.values(), ids=CASES.keys())
def test_table_lines(table: Any, width: int, lines: list[str]) -> None:
    assert _render(table(), width) == lines


@pytest.mark.parametrize(("table", "width", "lines"), CASES.values(), ids=CASES.keys())
def test_no_color_terminal_gets_the_same_lines_and_no_escape_at_all(
    monkeypatch: pytest.MonkeyPatch, table: Any, width: int, lines: list[str]
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # no-color.org: not even a bold header
    assert _render(table(), width, terminal=True) == lines
