"""SQLite's SQL, as the read queries write it, rewritten for PostgreSQL. Pure.

Each distinct text is translated once (a cache): placeholders (? to %s, % doubled), and
the SQLite constructs the read queries use, so that PostgreSQL returns what SQLite does:
GLOB (a regex), CAST(x AS INTEGER) (truncates), instr on a blob, json_each and
json_extract on header JSON, group_concat, COLLATE BINARY (byte order), INDEXED BY
and NOT INDEXED (dropped), and SQLite's NULL order in every ORDER BY.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any

from capture.store.columns import TABLES
from capture.store.filters import glob_regex

__all__ = ["translate"]

# Strings, quoted names, words, spaces, then any other single character.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\w+|\s+|.", re.S)
_ORDER_END = frozenset({"LIMIT", "OFFSET", "UNION", "EXCEPT", "INTERSECT", ")", ";"})


@functools.lru_cache(maxsize=256)
def translate(sql: str) -> tuple[str, tuple[tuple[int, Callable[[Any], Any]], ...]]:
    """Returns SQLite SQL rewritten for PostgreSQL, and the parameters to convert on the
    way (their position, the conversion): a GLOB pattern becomes a regex, LIMIT -1 NULL."""
    tokens = _TOKENS.findall(sql)
    tokens = _rewrite_calls(tokens)
    tokens = _nulls_like_sqlite(tokens)
    out: list[str] = []
    converts: list[tuple[int, Callable[[Any], Any]]] = []
    params = 0
    for i, token in enumerate(tokens):
        upper = token.upper()
        if token == "?":
            before = _previous_word(tokens, i)
            if before == "GLOB":
                converts.append((params, glob_regex))
            elif before == "LIMIT":
                converts.append((params, _no_limit))
            params += 1
            out.append("%s")
        elif upper == "GLOB":
            out.append("~")
        elif upper == "BINARY" and _previous_word(tokens, i) == "COLLATE":
            out.append('"C"')  # byte order, whatever the database's collation
        else:
            out.append(token.replace("%", "%%"))
    text = re.sub(r"\s+(?:INDEXED\s+BY\s+\w+|NOT\s+INDEXED\b)", "", "".join(out), flags=re.I)
    return text, tuple(converts)


def _no_limit(value: Any) -> Any:
    """SQLite's LIMIT -1 is PostgreSQL's LIMIT NULL: no limit."""
    return None if isinstance(value, int) and value < 0 else value


def _previous_word(tokens: Sequence[str], i: int) -> str:
    """Returns the upper-cased token before tokens[i], spaces skipped."""
    for token in reversed(tokens[:i]):
        if not token.isspace():
            return token.upper()
    return ""


def _closing(tokens: Sequence[str], start: int) -> int:
    """Returns the index of the ')' matching the '(' at tokens[start]."""
    depth = 0
    for i in range(start, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[i], 0)
        if depth == 0:
            return i
    raise ValueError("unbalanced parentheses in SQL")


def _arguments(tokens: Sequence[str]) -> list[str]:
    """Splits a call's argument tokens at its top-level commas; returns each as text."""
    args: list[list[str]] = [[]]
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 0:
            args.append([])
        else:
            args[-1].append(token)
    return ["".join(a).strip() for a in args]


def _rewrite_calls(tokens: list[str]) -> list[str]:
    """Rewrites the SQLite-only functions the read queries call into PostgreSQL's."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        name = tokens[i].lower()
        if name in _CALLS and i + 1 < len(tokens) and tokens[i + 1] == "(":
            end = _closing(tokens, i + 1)
            inner = "".join(_rewrite_calls(tokens[i + 2 : end]))
            out.extend(_TOKENS.findall(_CALLS[name](inner)))
            i = end + 1
            continue
        out.append(tokens[i])
        i += 1
    return out


def _cast(inner: str) -> str:
    """CAST(x AS INTEGER) truncates in SQLite; PostgreSQL's rounds."""
    expr, sep, kind = inner.rpartition(" AS ")
    if not sep or kind.strip().upper() != "INTEGER":
        return f"CAST({inner})"
    return f"trunc({expr})::bigint"


def _instr(inner: str) -> str:
    haystack, needle = _arguments(_TOKENS.findall(inner))
    return f"position({needle} in {haystack})"


def _json_extract(inner: str) -> str:
    value, path = _arguments(_TOKENS.findall(inner))
    found = re.fullmatch(r"'\$\[(\d+)\]'", path)
    if found is None:
        raise ValueError(f"json_extract path {path} is not translated")
    return f"(({value})::jsonb ->> {found.group(1)})"


_CALLS: dict[str, Callable[[str], str]] = {
    "cast": _cast,
    "instr": _instr,
    "json_extract": _json_extract,
    # jsonb_array_elements' column is called value, as json_each's is.
    "json_each": lambda inner: f"jsonb_array_elements(({inner})::jsonb)",
    "group_concat": lambda inner: f"string_agg(({inner})::text, ',')",
}


def _nulls_like_sqlite(tokens: list[str]) -> list[str]:
    """Gives every ORDER BY term SQLite's NULL order: first ascending, last descending."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        out.append(tokens[i])
        i += 1
        if out[-1].upper() != "BY" or _previous_word(out, len(out) - 1) != "ORDER":
            continue
        depth, clause = 0, []
        while i < len(tokens) and not (depth == 0 and tokens[i].upper() in _ORDER_END):
            depth += {"(": 1, ")": -1}.get(tokens[i], 0)
            clause.append(tokens[i])
            i += 1
        terms = _arguments(clause)
        out.append(" " + ", ".join(_with_nulls(t) for t in terms) + " ")
    return _TOKENS.findall("".join(out))


def _never_null() -> frozenset[str]:
    """Returns the column names that are NOT NULL in every table that has them."""
    names = {c.name for t in TABLES for c in t.columns}
    nullable = {c.name for t in TABLES for c in t.columns if c.nullable}
    return frozenset(names - nullable)


# ORDER BY id DESC NULLS LAST cannot walk an index (a descending scan puts NULLs first):
# a column that holds no NULL keeps its plain term, and its index.
_NEVER_NULL = _never_null()
_COLUMN_TERM = re.compile(r"(?:\w+\.)?(\w+)(?:\s+(?:ASC|DESC))?", re.I)


def _with_nulls(term: str) -> str:
    words = term.upper().split()
    if not words or "NULLS" in words:
        return term
    column = _COLUMN_TERM.fullmatch(term.strip())
    if column is not None and column.group(1) in _NEVER_NULL:
        return term
    return f"{term} NULLS LAST" if words[-1] == "DESC" else f"{term} NULLS FIRST"
