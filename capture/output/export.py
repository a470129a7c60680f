"""`capture export`'s output: failures as HAR, JSON lines or CSV, one string per batch of
rows read, so that memory does not grow with their number. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from capture.output.har import har_chunks
from capture.output.rowtext import Row, csv_records, jsonl_encoder
from capture.output.tables import Format

__all__ = ["Tally", "export_chunks"]


@dataclass
class Tally:
    """How many rows an export has taken so far."""

    rows: int = 0


def _counted(batches: Iterable[Sequence[Row]], tally: Tally) -> Iterator[Sequence[Row]]:
    """Passes the batches through, adding their rows to tally."""
    for batch in batches:
        tally.rows += len(batch)
        yield batch


def _jsonl(names: Sequence[str], batches: Iterable[Sequence[Row]]) -> Iterator[str]:
    """Yields each batch's JSON lines joined by line breaks."""
    encode = jsonl_encoder(names)
    for batch in batches:
        if batch:
            yield "\n".join([encode(row) for row in batch])


def _dicts(names: Sequence[str], batches: Iterable[Sequence[Row]]) -> Iterator[list[Any]]:
    """Yields each batch as a list of dicts, keyed by names."""
    for batch in batches:
        yield [dict(zip(names, row, strict=True)) for row in batch]


def export_chunks(
    names: Sequence[str], batches: Iterable[Sequence[Row]], fmt: Format, tally: Tally
) -> Iterator[str]:
    """Yields the export of the rows (tuples in names' order) in fmt, a string of whole
    lines per batch (each to be followed by a line break), counting rows in tally."""
    rows = _counted(batches, tally)
    if fmt is Format.jsonl:
        return _jsonl(names, rows)
    if fmt is Format.csv:
        return csv_records(names, rows)
    if fmt is Format.har:
        return har_chunks(_dicts(names, rows))
    raise ValueError(fmt)
