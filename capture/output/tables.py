"""Row listings of the inspection commands (failures, runs, sockets): Rich tables for a
terminal, json, jsonl or csv lines for programs; and the one Format enum. Pure.

Every untrusted value (URL, header, body, error message) goes through safe.visible
before it can reach a terminal, and Rich tables get Text cells so markup inside data
is shown literally.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from capture.escape import visible
from capture.output.cells import POSITION_HEADER, cut_end, cut_middle, outcome, short_url
from capture.output.rowtext import csv_records, jsonl_encoder
from capture.output.units import ms, rate, seconds, size
from capture.store.hosts import hosts_cell

if TYPE_CHECKING:
    from capture.store.rows import FailureRow, RunRow, SocketRow

__all__ = [
    "EXPORT_FORMATS",
    "LISTING_FORMATS",
    "Column",
    "Cut",
    "FittedTable",
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


def _text(value: object) -> str:
    return visible("" if value is None else str(value), one_line=True)


class Cut(StrEnum):
    """How a column's values may be shortened when the table is too wide."""

    never = "never"  # ids, sockets, statuses, numbers: shown whole or not at all
    middle = "middle"  # URLs: both ends stay readable, '/api/…/orders/17'
    end = "end"  # free text: 'a long na…'


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a fitted table. drop > 0: the column may be left out when the width
    is short, the highest number first; drop 0: always shown."""

    name: str
    justify: JustifyMethod = "left"
    drop: int = 0
    cut: Cut = Cut.never
    min_width: int = 0  # for a column that may be cut: the narrowest it gets


_GAP = 2  # box=None, pad_edge=False: one space of padding either side between columns


class FittedTable:
    """A table that fits the width it is printed in: it never cuts a value of a Cut.never
    column; it cuts URLs in the middle and free text at the end, and when that is not
    enough it leaves out whole columns, in the order their drop numbers say."""

    def __init__(self, columns: list[Column], rows: Iterable[list[object]]) -> None:
        self.columns = columns
        self.rows = [[_text(c) for c in row] for row in rows]

    def natural(self, index: int) -> int:
        """Returns the width column index wants: its header or its widest value."""
        widths = [cell_len(row[index]) for row in self.rows]
        return max([cell_len(self.columns[index].name), *widths])

    def _narrowest(self, index: int) -> int:
        column = self.columns[index]
        if column.cut is Cut.never:
            return self.natural(index)
        return min(self.natural(index), max(column.min_width, cell_len(column.name)))

    def layout(self, width: int) -> list[tuple[int, int]]:
        """Returns (column index, width) of the columns shown at this width, in order."""
        shown = list(range(len(self.columns)))
        droppable = sorted((c.drop, i) for i, c in enumerate(self.columns) if c.drop > 0)

        def needed(indexes: list[int]) -> int:
            return sum(self._narrowest(i) for i in indexes) + _GAP * (len(indexes) - 1)

        while needed(shown) > width and droppable:
            shown.remove(droppable.pop()[1])
        widths = {i: self._narrowest(i) for i in shown}
        spare = width - needed(shown)
        for i in shown:  # what is left goes to the cut columns, in their order
            grow = min(spare, self.natural(i) - widths[i]) if spare > 0 else 0
            widths[i] += grow
            spare -= grow
        return [(i, widths[i]) for i in shown]

    def table(self, width: int, *, bold: bool = True) -> Table:
        """Returns the Rich table laid out for width (bold=False: not even a bold header)."""
        table = Table(box=None, pad_edge=False, header_style="bold" if bold else None)
        layout = self.layout(width)
        for i, w in layout:
            column = self.columns[i]
            table.add_column(column.name, justify=column.justify, width=w, no_wrap=True)
        for row in self.rows:
            table.add_row(*(Text(_fit(row[i], self.columns[i].cut, w)) for i, w in layout))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # NO_COLOR means no escape at all (no-color.org): Rich alone would still bold.
        yield self.table(options.max_width, bold=not console.no_color)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        total = sum(w for _, w in self.layout(options.max_width))
        return Measurement(total, total + _GAP * (len(self.columns) - 1))


def _fit(text: str, cut: Cut, width: int) -> str:
    if cut is Cut.middle:
        return cut_middle(text, width)
    if cut is Cut.end:
        return cut_end(text, width)
    return text


# The columns each table leaves out first when the terminal is narrow (highest drop
# first; README "Reading a capture" lists them): ids, sockets and statuses stay whole.
def failures_table(rows: list[FailureRow], *, all_runs: bool = False) -> FittedTable:
    """Returns the failures list as a table; narrow, it leaves out body, offset, method,
    position on the connection, connection and latency, in that order, and cuts URLs in
    the middle."""
    columns = [
        Column("id", "right"),
        *([Column("run", "right")] if all_runs else []),
        Column("offset", "right", drop=5),
        Column("method", drop=4),
        Column("url", cut=Cut.middle, min_width=16),
        Column("outcome"),
        Column("latency", "right", drop=1),
        Column("body", "right", drop=6),
        Column("socket"),
        # Narrow, the connection outlasts the position on it: a position read beside a
        # client port alone invites taking the port for the connection.
        Column("connection", "right", drop=2),
        Column(POSITION_HEADER, "right", drop=3),
    ]
    return FittedTable(
        columns,
        (
            [
                row["id"],
                *([row["run_id"]] if all_runs else []),
                seconds(row["offset_ms"] / 1000, 3),
                row["method"],
                short_url(row["url"], width=1 << 16),  # cut to the column's width, later
                outcome(row),
                ms(row["latency_ms"]),
                size(row.get("body_size")),
                row.get("local_addr") or "-",
                row.get("connection_id") or "-",
                row.get("connection_request_no") or "-",
            ]
            for row in rows
        ),
    )


def runs_table(rows: list[RunRow]) -> FittedTable:
    """Returns the runs list as a table (an abandoned column if any run abandoned requests);
    narrow, it cuts names and leaves out rate, started, abandoned and duration, in order."""
    abandoned = any(r["aborted"] for r in rows)
    hosts = any(r.get("hosts") for r in rows)
    return FittedTable(
        [
            Column("id", "right"),
            Column("name", cut=Cut.end, min_width=8),
            Column("started", drop=3),
            Column("duration", "right", drop=1),
            Column("requests", "right"),
            Column("failures", "right"),
            Column("rate", "right", drop=4),
            # Kept longer than rate and started: only shown when it says something.
            *([Column("abandoned", "right", drop=2)] if abandoned else []),
            Column("status"),
            *([Column("hosts")] if hosts else []),  # a --hosts run: '3 finished, 1 lost'
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
                *([r["aborted"] or ""] if abandoned else []),  # blank: most runs abandon none
                r["status"],
                *([hosts_cell(r.get("hosts") or [])] if hosts else []),
            ]
            for r in rows
        ),
    )


def sockets_table(rows: list[SocketRow], *, all_runs: bool = False) -> FittedTable:
    """Returns one row per TCP connection as a table (with a run column for all runs);
    narrow, it cuts the failed-at list and leaves out first, last, server socket,
    process and, last of all, the failed-at list."""
    return FittedTable(
        [
            *([Column("run", "right")] if all_runs else []),
            Column("connection", "right"),
            Column("process", "right", drop=2),
            Column("client socket"),
            Column("server socket", drop=3),
            Column("requests", "right"),
            Column("failures", "right"),
            Column("first", "right", drop=5),
            Column("last", "right", drop=4),
            Column("failed at request #", cut=Cut.end, min_width=12, drop=1),
        ],
        (
            [
                *([r["run_id"]] if all_runs else []),
                "-" if r["connection_id"] is None else r["connection_id"],
                "-" if r["process"] is None else r["process"],
                r["local_addr"] or "(no connection)",
                r["remote_addr"] or "-",
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


def machine_lines(rows: Iterable[Mapping[str, object]], fmt: Format) -> Iterator[str]:
    """Yields rows as json (one document), jsonl (one per line) or csv lines, each row as
    it comes: memory does not grow with the number of rows. The encoding is export's
    (output/rowtext.py), so a row reads the same in `failures`, `runs` and `export`."""
    if fmt not in (Format.json, Format.jsonl, Format.csv):
        raise ValueError(fmt)
    items = iter(rows)
    first = next(items, None)
    if first is None:
        if fmt is Format.json:
            yield "[]"
        return
    names = list(first)
    tuples = (tuple(row.get(n) for n in names) for row in itertools.chain([first], items))
    if fmt is Format.csv:
        yield from csv_records(names, ([t] for t in tuples))  # one record per yield
        return
    encode = jsonl_encoder(names)
    lines = (encode(t) for t in tuples)
    yield from (lines if fmt is Format.jsonl else _json_array(lines))


def _json_array(items: Iterator[str]) -> Iterator[str]:
    """Yields a JSON array of the given JSON texts, one per line, without holding them."""
    previous: str | None = None
    for item in items:
        yield ("[" if previous is None else previous + ",")
        previous = "  " + item
    yield "[]" if previous is None else previous + "\n]"
