"""The unit formatter: one spelling per unit, and every view spells a latency the same."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from capture.output import units
from capture.output.exchange import exchange_lines
from capture.output.summary import report_lines
from capture.output.tables import failures_table


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0.0, "0.00 ms"),
        (0.854, "0.85 ms"),
        (9.994, "9.99 ms"),
        (9.996, "10.0 ms"),  # rounds up into the next spelling, not to '10.00 ms'
        (12.0, "12.0 ms"),
        (999.94, "999.9 ms"),
        (999.96, "1.00 s"),  # not '1000.0 ms'
        (1250.0, "1.25 s"),
        (61_000.0, "61.00 s"),
    ],
)
def test_ms(value: float | None, text: str) -> None:
    assert units.ms(value) == text


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (None, 1, "-"),
        (0.0, 1, "0.0 s"),
        (1.2345, 3, "1.234 s"),
        (1.5, 0, "2 s"),
        (30.0, 2, "30.00 s"),
    ],
)
def test_seconds(value: float | None, places: int, text: str) -> None:
    assert units.seconds(value, places) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024**2 - 1, "1.0 MiB"),  # not '1024.0 KiB'
        (64 * 1024**2, "64.0 MiB"),
        (16 * 1024**3, "16.0 GiB"),
        (4096 * 1024**3, "4096.0 GiB"),  # the largest unit keeps counting
    ],
)
def test_size(value: int | None, text: str) -> None:
    assert units.size(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(None, "-"), (0.0, "0.0/s"), (49.96, "50.0/s"), (8191.4, "8191.4/s")]
)
def test_rate(value: float | None, text: str) -> None:
    assert units.rate(value) == text


@pytest.mark.parametrize(
    ("part", "whole", "text"),
    [
        (0, 0, "-"),
        (0, 10, "0.0%"),
        (165, 200, "82.5%"),
        (10, 10, "100.0%"),
        (1, 10_000, "<0.1%"),  # one failure is never shown as none
        (9_999, 10_000, ">99.9%"),  # nor one success as all
        (50.0, 49.0, "102.0%"),  # a rate above the one asked
    ],
)
def test_percent(part: float, whole: float, text: str) -> None:
    assert units.percent(part, whole) == text


ROW: dict[str, Any] = {
    "id": 7,
    "run_id": 1,
    "seq": 3,
    "session": 0,
    "offset_ms": 1234.5,
    "started_at": "2024-01-01T00:00:01.234Z",
    "method": "GET",
    "url": "http://127.0.0.1:8080/a",
    "status": 503,
    "reason": "Service Unavailable",
    "error_kind": None,
    "latency_ms": 12.0,
    "body_size": 0,
    "request_headers": "[]",  # a failure: its failures row is stored
}


def _table_text(row: dict[str, Any]) -> str:
    out = io.StringIO()
    Console(file=out, width=200, highlight=False).print(failures_table([row]))
    return out.getvalue()


def _report(latency_ms: float) -> dict[str, Any]:
    run = {"id": 1, "name": None, "status": "completed", "started_at": "t", "duration_s": 1.0}
    return {
        "run": run,
        "requests": 1,
        "failed": 0,
        "aborted": 0,
        "status_counts": [(200, 1)],
        "error_counts": [],
        "latency_ok": {"p50": latency_ms},
        "latency_failed": {},
    }


@pytest.mark.parametrize(
    "view",
    [
        pytest.param(lambda: _table_text(ROW), id="failures table"),
        pytest.param(lambda: "\n".join(exchange_lines(ROW)), id="show"),
        pytest.param(lambda: "\n".join(report_lines(_report(12.0))), id="summary"),
    ],
)
def test_every_view_spells_a_latency_the_same(view: Any) -> None:
    text = view()
    assert "12.0 ms" in text
    assert "12.0ms" not in text and "12.00 ms" not in text
