"""The export writers take rows one at a time: each line is written after reading only
the rows it needs, so memory does not depend on how many rows there are (issue 11, item
4). Checked by counting the rows pulled, not by time or memory (bench/export.py measures
those)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

import pytest

from capture.output.har import har_document, har_lines
from capture.output.tables import Format, machine_lines


def _row(i: int) -> dict[str, Any]:
    """A failure row as the store returns it, with every key HAR reads."""
    return {
        "id": i,
        "started_at": f"2026-11-25T00:00:{i % 60:02d}.000000Z",
        "method": "GET",
        "url": f"http://127.0.0.1:8080/a?i={i}",
        "status": 500,
        "reason": "Internal Server Error",
        "http_version": "HTTP/1.1",
        "request_headers": '[["Accept", "*/*"]]',
        "response_headers": '[["Content-Type", "text/plain"]]',
        "request_body": None,
        "body": f"500 for {i}\n".encode(),
        "body_size": 12,
        "body_truncated": 0,
        "content_type": "text/plain",
        "error_kind": None,
        "error_message": None,
        "latency_ms": 1.25 + i / 7,
        "ttfb_ms": 1.0 + i / 7,
        "connect_ms": 0.3 if i % 3 == 0 else None,
        "wait_ms": 0.01,
        "local_addr": "127.0.0.1:40000",
        "remote_addr": "127.0.0.1:8080",
    }


class Pulled:
    """A source of 10,000 rows that counts how many were taken from it."""

    def __init__(self) -> None:
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.count < 10_000:
            self.count += 1
            yield _row(self.count)


def test_json_lines_read_one_row_per_line() -> None:
    source = Pulled()
    lines = machine_lines(source, Format.json)
    assert next(lines) == "[" and source.count == 1
    rows = [json.loads(line.rstrip(",")) for line in islice(lines, 3)]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert source.count == 4  # a row is written once it is known whether a comma follows


def test_har_lines_read_one_entry_per_line() -> None:
    source = Pulled()
    lines = har_lines(source)
    head = next(lines)
    assert head.endswith('"entries": [') and source.count == 0
    entries = list(islice(lines, 3))
    assert source.count == 4  # one entry ahead, for its comma
    assert [json.loads(e.rstrip(","))["comment"] for e in entries] == [
        f"capture id {i}" for i in (1, 2, 3)
    ]


@pytest.mark.parametrize("count", [0, 1, 2, 7])
def test_streamed_har_is_the_document(count: int) -> None:
    rows = [_row(i) for i in range(1, count + 1)]
    text = "\n".join(har_lines(iter(rows))) + "\n"
    assert json.loads(text) == har_document(rows)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_streamed_json_is_one_array(count: int) -> None:
    rows = [{"id": i, "body": b"x", "status": 500} for i in range(count)]
    text = "\n".join(machine_lines(iter(rows), Format.json))
    assert json.loads(text) == [{"id": i, "body": "x", "status": 500} for i in range(count)]
