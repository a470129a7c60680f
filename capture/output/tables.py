"""Row listings of the inspection commands (failures, runs, sockets): Rich tables for a
terminal, json, jsonl or csv lines for programs; and the one Format enum. Pure.

Every untrusted value (URL, header, body, error message) goes through safe.visible
before it can reach a terminal, and Rich tables get Text cells so markup inside data
is shown literally.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from capture.escape import visible
from capture.output.cells import outcome, short_url
from capture.output.units import ms, rate, seconds, size

if TYPE_CHECKING:
    from capture.store.rows import FailureRow, RunRow, SocketRow

__all__ = [
    "EXPORT_FORMATS",
    "LISTING_FORMATS",
    "Format",
    "failures_table",
    "machine_lines",
    "runs_table",
    "sockets_table",
]


class Format(StrEnum):
    """Every output format; each command takes the ones in its tuple below."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    har = "har"


LISTING_FORMATS = (Format.table, Format.json, Format.jsonl, Format.csv)  # failures, runs, sockets
EXPORT_FORMATS = (Format.har, Format.jsonl, Format.csv)  # export: every stored byte


def _cell(value: object) -> Text:
    return Text(visible("" if value is None else str(value), one_line=True))


def failures_table(rows: list[FailureRow], *, all_runs: bool = False) -> Table:
    """Returns the failures list as a table."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ["id", *(["run"] if all_runs else []), "offset", "method", "url", "outcome"]
    columns += ["latency", "body", "socket", "conn#"]
    for name in columns:
        justify = "right" if name in ("id", "run", "offset", "latency", "body", "conn#") else "left"
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        cells = [str(row["id"]), *([str(row["run_id"])] if all_runs else [])]
        cells += [seconds(row["offset_ms"] / 1000, 3), row["method"], short_url(row["url"])]
        cells += [outcome(row), ms(row["latency_ms"]), size(row.get("body_size"))]
        cells += [row.get("local_addr") or "-", str(row.get("connection_request_no") or "-")]
        table.add_row(*(_cell(c) for c in cells))
    return table


def runs_table(rows: list[RunRow]) -> Table:
    """Returns the runs list as a table."""
    return _table(
        [
            ("id", "right"),
            ("name", "left"),
            ("started", "left"),
            ("duration", "right"),
            ("requests", "right"),
            ("failures", "right"),
            ("rate", "right"),
            ("status", "left"),
        ],
        (
            [
                r["id"],
                r["name"] or "",
                r["started_at"][:19].replace("T", " "),
                seconds(r["duration_s"]),
                r["requests"],
                r["failures"],
                rate(r["rate"]),
                r["status"],
            ]
            for r in rows
        ),
    )


def _table(columns: list[tuple[str, str]], rows: Iterable[list[object]]) -> Table:
    """Returns a plain table with these (name, justify) columns and rows of cells."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for cells in rows:
        table.add_row(*(_cell(c) for c in cells))
    return table


def sockets_table(rows: list[SocketRow], *, all_runs: bool = False) -> Table:
    """Returns the per-socket histogram as a table (with a run column for all runs)."""
    return _table(
        [
            *([("run", "right")] if all_runs else []),
            ("client socket", "left"),
            ("remote", "left"),
            ("session", "right"),
            ("requests", "right"),
            ("failures", "right"),
            ("first", "right"),
            ("last", "right"),
            ("failed at request #", "left"),
        ],
        (
            [
                *([r["run_id"]] if all_runs else []),
                r["local_addr"] or "(no connection)",
                r["remote_addr"] or "-",
                r["session"],
                r["requests"],
                r["failures"],
                seconds(r["first_ms"] / 1000, 2),
                seconds(r["last_ms"] / 1000, 2),
                failed_at(r["failed_at"]),
            ]
            for r in rows
        ),
    )


def failed_at(text: str | None, most: int = 12) -> str:
    """Turns '3,1,2' (group_concat) into '1, 2, 3', shortened after most numbers."""
    if not text:
        return ""
    numbers = sorted(int(x) for x in text.split(",") if x)
    shown = ", ".join(str(n) for n in numbers[:most])
    return shown + (f", … ({len(numbers)})" if len(numbers) > most else "")


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, str) and value[:1] == "[" and value[-1:] == "]":
        try:  # headers are stored as JSON text; emit them as JSON, not a string
            return json.loads(value)
        except ValueError:
            return value
    return value


def _jsonable_row(row: Mapping[str, object]) -> dict[str, Any]:
    """Returns a copy of row with bytes and JSON text converted by _jsonable."""
    # The hot loop of an export (36 values a row): a type test first, so that numbers
    # and plain strings, most of a row, cost no call and no store.
    out = dict(row)
    for key, value in row.items():
        kind = type(value)
        if kind is str:
            if value[:1] == "[":  # type: ignore[index]
                out[key] = _jsonable(value)
        elif kind is bytes or kind is memoryview:
            out[key] = _jsonable(value)
    return out


def machine_lines(rows: Iterable[Mapping[str, object]], fmt: Format) -> Iterator[str]:
    """Yields rows as json (one document), jsonl (one per line) or csv lines, each row as
    it comes: memory does not grow with the number of rows."""
    dumps = json.dumps
    if fmt is Format.jsonl:
        for row in rows:
            yield dumps(_jsonable_row(row))
    elif fmt is Format.json:
        yield from _json_array(dumps(_jsonable_row(row)) for row in rows)
    elif fmt is Format.csv:
        yield from _csv_lines(rows)
    else:
        raise ValueError(fmt)


def _csv_lines(rows: Iterable[Mapping[str, object]]) -> Iterator[str]:
    """Yields a header line, then one CSV record per row."""
    buffer = io.StringIO()
    # "\r\n" only so that a field with a bare CR is quoted too (the csv module quotes
    # the characters of lineterminator); it is cut off by _take.
    writer = csv.writer(buffer, lineterminator="\r\n")
    names: list[str] | None = None
    for row in rows:
        if names is None:
            names = list(row)
            writer.writerow(names)
            yield _take(buffer)
        writer.writerow([_csv_value(row.get(name)) for name in names])
        # One record per yield, kept whole: splitting would rewrite line breaks
        # (\r\n, \u2028) inside quoted fields.
        yield _take(buffer)


def _json_array(items: Iterator[str]) -> Iterator[str]:
    """Yields a JSON array of the given JSON texts, one per line, without holding them."""
    previous: str | None = None
    for item in items:
        yield ("[" if previous is None else previous + ",")
        previous = "  " + item
    yield "[]" if previous is None else previous + "\n]"


def _take(buffer: io.StringIO) -> str:
    """Returns the one CSV record in buffer, without its terminator, and empties buffer."""
    text = buffer.getvalue().removesuffix("\r\n")
    buffer.seek(0)
    buffer.truncate()
    return text


# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets
# (OWASP "CSV Injection"): a quote in front makes it text, as they advise.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float or value is None:
        return value
    converted = _jsonable(value)
    if isinstance(converted, list | dict):
        converted = json.dumps(converted)
    if isinstance(converted, str) and converted.startswith(_FORMULA_START):
        return "'" + converted
    return converted
