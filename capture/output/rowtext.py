"""Stored rows, as sqlite3 tuples, to JSON lines and CSV records: the one encoder of
`capture export` and of the machine formats of `failures`, `runs` and `sockets`
(tables.machine_lines). Pure.

The text is what json.dumps of the row as a dict gives, with bytes decoded and JSON text
columns parsed, byte for byte (tests/output/test_export_bytes.py holds that older path
frozen and compares). It is built a value at a
time from the tuple, with no dict per row, and the stored header JSON, which repeats
from row to row, is parsed and encoded again once per distinct text, not once per row.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

__all__ = ["FORMULA_START", "csv_records", "jsonl_encoder"]

Row = Sequence[Any]

# Header lists repeat (a target's request headers; a server's error replies within one
# second of Date): their JSON is parsed and encoded again once per distinct text. The
# cache holds at most _CACHED texts of at most _CACHED_CHARS each, so its memory does
# not grow with the number of rows.
_CACHED = 512
_CACHED_CHARS = 4096


def _reencode(text: str) -> str | None:
    """Returns json.dumps(json.loads(text)), or None when text is not JSON."""
    try:
        return json.dumps(json.loads(text))
    except ValueError:
        return None


_reencode_cached = functools.lru_cache(maxsize=_CACHED)(_reencode)


def _json_text(text: str) -> str | None:
    """Returns a JSON-array-looking text ('[...]') encoded again, None if not JSON."""
    if len(text) > _CACHED_CHARS:
        return _reencode(text)
    return _reencode_cached(text)


def _looks_like_array(text: str) -> bool:
    """Tells whether a stored text is taken for JSON (stored headers are: '[[...]]')."""
    return text[:1] == "[" and text[-1:] == "]"


def _bytes_value(value: bytes | memoryview) -> str | dict[str, str]:
    """Returns bytes as UTF-8 text, or as {"base64": ...} when they are not UTF-8."""
    raw = bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode("ascii")}


# --- JSON lines ---------------------------------------------------------------------


def _json_str(value: str) -> str:
    if value[:1] == "[" and value[-1:] == "]":  # _looks_like_array, inline: 12 a row
        encoded = _json_text(value)
        if encoded is not None:
            return encoded
    return _quote(value)


def _json_bytes(value: bytes | memoryview) -> str:
    decoded = _bytes_value(value)
    if isinstance(decoded, str):
        return _quote(decoded)
    return '{"base64": ' + _quote(decoded["base64"]) + "}"


def _json_float(value: float) -> str:
    # As json.dumps writes them (allow_nan): SQLite can hold an infinity.
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


class _ByType(dict[type, Callable[[Any], str]]):
    """The JSON text of one value, found by its type; json.dumps for any other type."""

    def __missing__(self, kind: type) -> Callable[[Any], str]:
        return json.dumps


_JSON_VALUE = _ByType(
    {
        type(None): "null".format,  # format ignores its argument: "null" without a call
        int: int.__repr__,  # what json.dumps uses for an int
        float: _json_float,
        str: _json_str,
        bytes: _json_bytes,
        memoryview: _json_bytes,
    }
)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to write the rows whose values have one sequence of types: a %-template with
    the keys, the nulls and a %s or %r for each other value, which values it takes, and
    which of those are strings, bytes or floats to convert or check first."""

    template: str
    take: Callable[[Row], list[Any]]
    texts: tuple[int, ...]  # positions in take's list
    binaries: tuple[int, ...]
    floats: tuple[int, ...]


_PLAIN = {int: "%s", float: "%r", str: "%s", bytes: "%s", memoryview: "%s"}


def _plan(names: Sequence[str], types: tuple[type, ...]) -> _Plan | None:
    """Returns the plan for rows of these value types; None when a type is not one
    SQLite returns (a value at a time then, as json.dumps would)."""
    parts, taken, kinds = [], [], []
    for i, (name, kind) in enumerate(zip(names, types, strict=True)):
        key = ("{" if i == 0 else ", ") + _quote(name).replace("%", "%%") + ": "
        if kind is type(None):
            parts.append(key + "null")
        elif kind in _PLAIN:  # exact types: int.__repr__ and float.__repr__ as json's
            parts.append(key + _PLAIN[kind])
            taken.append(i)
            kinds.append(kind)
        else:
            return None
    return _Plan(
        template="".join(parts) + "}" if parts else "{}",
        take=_taker(tuple(taken)),
        texts=tuple(k for k, kind in enumerate(kinds) if kind is str),
        binaries=tuple(k for k, kind in enumerate(kinds) if kind in (bytes, memoryview)),
        floats=tuple(k for k, kind in enumerate(kinds) if kind is float),
    )


def _taker(indexes: tuple[int, ...]) -> Callable[[Row], list[Any]]:
    """Returns a function giving the values of a row at indexes, as a list."""
    if len(indexes) >= 2:
        get = operator.itemgetter(*indexes)  # one C call for the row
        return lambda row: list(get(row))
    return lambda row: [row[i] for i in indexes]


def jsonl_encoder(names: Sequence[str]) -> Callable[[Row], str]:
    """Returns a function from a row tuple (columns in names' order) to its JSON line."""
    plans = functools.lru_cache(maxsize=256)(functools.partial(_plan, tuple(names)))
    by_value = _value_by_value(names)

    def encode(row: Row) -> str:
        plan = plans(tuple(map(type, row)))
        if plan is None:
            return by_value(row)
        values = plan.take(row)
        for k in plan.floats:
            if not math.isfinite(values[k]):  # NaN, Infinity: as json.dumps spells them
                return by_value(row)
        for k in plan.texts:
            text = values[k]  # most are no JSON array: straight to the C quoting
            values[k] = _json_str(text) if text[:1] == "[" else _quote(text)
        for k in plan.binaries:
            values[k] = _json_bytes(values[k])
        return plan.template % tuple(values)

    return encode


def _value_by_value(names: Sequence[str]) -> Callable[[Row], str]:
    """Returns a function from a row tuple to its JSON line, one call per value."""
    # '{"id": ', ', "run_id": ', ...: json.dumps's separators around each key.
    keys = [("{" if i == 0 else ", ") + _quote(name) + ": " for i, name in enumerate(names)]
    value = _JSON_VALUE

    def encode(row: Row) -> str:
        if not keys:
            return "{}"
        return "".join([key + value[type(v)](v) for key, v in zip(keys, row, strict=True)]) + "}"

    return encode


# --- CSV ----------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets
# (OWASP "CSV Injection"): a quote in front makes it text, as they advise.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_value(value: Any) -> Any:
    """Returns one value as the CSV writer gets it: JSON for lists, formulas defused."""
    kind = type(value)
    if kind is int or kind is float or value is None:
        return value
    if kind is str:
        if _looks_like_array(value):
            encoded = _json_text(value)
            return value if encoded is None else encoded  # '[' is no formula start
        text = value
    elif kind is bytes or kind is memoryview:
        decoded = _bytes_value(value)
        text = decoded if isinstance(decoded, str) else json.dumps(decoded)
    else:
        return value
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_records(names: Sequence[str], batches: Iterable[Sequence[Row]]) -> Iterator[str]:
    """Yields the header record once a row exists, then each batch's records joined by
    line breaks, one string per batch."""
    buffer = io.StringIO()
    # "\r\n" only so that a field with a bare CR is quoted too (the csv module quotes
    # the characters of lineterminator); it is cut off by _take.
    writer = csv.writer(buffer, lineterminator="\r\n")
    started = False
    for batch in batches:
        if not batch:
            continue
        if not started:
            started = True
            writer.writerow(names)
            yield _take(buffer)
        records = []
        for row in batch:
            # One record at a time, kept whole: splitting the buffer would rewrite line
            # breaks (\r\n, \u2028) inside quoted fields.
            writer.writerow([_csv_value(v) for v in row])
            records.append(_take(buffer))
        yield "\n".join(records)


def _take(buffer: io.StringIO) -> str:
    """Returns the one CSV record in buffer, without its terminator, and empties buffer."""
    text = buffer.getvalue().removesuffix("\r\n")
    buffer.seek(0)
    buffer.truncate()
    return text
