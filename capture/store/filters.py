"""The filters of `capture failures` and `capture export`, parsed from user input. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from capture.errors import UsageError
from capture.parse import MAX_ROW_ID, StatusSpec, parse_duration, parse_header

__all__ = ["FailureQuery", "When", "check_id", "glob_regex", "parse_when"]


def check_id(value: int, *, option: str, lowest: int = 1) -> None:
    """Refuses an id or count outside lowest..MAX_ROW_ID, the integers SQLite holds."""
    if not lowest <= value <= MAX_ROW_ID:
        raise UsageError(f"{option} must be between {lowest} and {MAX_ROW_ID}")


_NEVER = r"[^\s\S]"  # a regex no text matches


def glob_regex(pattern: str) -> str:
    """Returns the PostgreSQL regex (operator ~) that matches what SQLite's GLOB does:
    the whole text, case-sensitively, * any run, ? one character, [...] and [^...] one
    of a set (ranges a-z; ] first and - at either end are plain), no escapes."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            found = _glob_set(pattern, i + 1)
            if found is None:  # an unclosed set: SQLite's GLOB matches nothing
                return _NEVER
            part, i = found
            out.append(part)
            continue
        else:
            out.append(_plain(c))
        i += 1
    out.append("$")
    return "".join(out)


def _plain(c: str) -> str:
    """Returns c escaped for a regex: punctuation gets a backslash, letters stay."""
    return "\\" + c if c.isascii() and not c.isalnum() and c != "_" else c


def _glob_set(pattern: str, i: int) -> tuple[str, int] | None:
    """Returns the regex of the [set] whose body starts at pattern[i], and the index after
    its ]; None when it is never closed."""
    negate = i < len(pattern) and pattern[i] == "^"
    i += negate
    items: list[str] = []
    first = True
    while i < len(pattern):
        c = pattern[i]
        if c == "]" and not first:
            return f"[{'^' if negate else ''}{''.join(items)}]", i + 1
        nxt = pattern[i + 2] if i + 2 < len(pattern) else ""
        if i + 1 < len(pattern) and pattern[i + 1] == "-" and nxt not in ("", "]"):
            items.append(f"{_plain(c)}-{_plain(nxt)}")
            i += 3
        else:
            items.append(_plain(c))
            i += 1
        first = False
    return None


@dataclass(frozen=True, slots=True)
class When:
    """A point in a run: an offset from its start (ms), or a UTC time (ISO text)."""

    offset_ms: float | None = None
    time_iso: str | None = None


def parse_when(text: str, *, option: str) -> When:
    """Turn '30s' / '2m' (offset into the run) or an ISO date-time into a When."""
    if re.fullmatch(r"\s*[\d.]+\s*(ms|s|m|h)?\s*", text):
        return When(offset_ms=parse_duration(text, option=option) * 1000.0)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option}: {text!r} is neither an offset (30s, 5m) nor a time (2026-01-02T03:04:05)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise UsageError(f"{option}: {text!r} is outside the years 1-9999 in UTC") from None
    return When(time_iso=utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


@dataclass(frozen=True, slots=True)
class FailureQuery:
    """Which failures to list; every field narrows the selection."""

    status: StatusSpec | None = None
    errors: tuple[str, ...] = ()
    url_glob: str | None = None
    method: str | None = None
    since: When | None = None
    until: When | None = None
    slower_than_ms: float | None = None
    body_contains: bytes | None = None
    header: tuple[str, str] | None = None
    socket: str | None = None
    session: int | None = None
    connection: int | None = None  # requests.connection_id: one TCP connection
    position: int | None = None  # requests.connection_request_no: n-th on its connection
    host: int | None = None  # requests.host: the slot of a --hosts or merged run
    limit: int | None = 50
    offset: int = 0
    oldest: bool = False

    @classmethod
    def build(
        cls,
        *,
        status: str | None = None,
        error: str | None = None,
        url: str | None = None,
        method: str | None = None,
        since: str | None = None,
        until: str | None = None,
        slower_than: str | None = None,
        body_contains: str | None = None,
        header: str | None = None,
        socket: str | None = None,
        session: int | None = None,
        connection: int | None = None,
        position: int | None = None,
        host: int | None = None,
        limit: int | None = 50,
        offset: int = 0,
        oldest: bool = False,
    ) -> FailureQuery:
        """Parses the CLI's text options into a query; raises UsageError on bad input."""
        if limit is not None:
            check_id(limit, option="--limit", lowest=1)  # 0 rows is never what was meant
        check_id(offset, option="--offset", lowest=0)
        if session is not None:
            check_id(session, option="--session", lowest=0)
        if connection is not None:
            check_id(connection, option="--connection")
        if position is not None:
            check_id(position, option="--position")
        if host is not None:
            check_id(host, option="--host", lowest=0)
        return cls(
            status=None if status is None else StatusSpec.parse(status, option="--status"),
            errors=tuple(e.strip() for e in error.split(",") if e.strip()) if error else (),
            url_glob=url,
            method=method.upper() if method else None,
            since=None if since is None else parse_when(since, option="--since"),
            until=None if until is None else parse_when(until, option="--until"),
            slower_than_ms=(
                None
                if slower_than is None
                else parse_duration(slower_than, option="--slower-than") * 1000.0
            ),
            body_contains=None if body_contains is None else body_contains.encode(),
            header=None if header is None else parse_header(header),
            socket=socket,
            session=session,
            connection=connection,
            position=position,
            host=host,
            limit=limit,
            offset=offset,
            oldest=oldest,
        )
