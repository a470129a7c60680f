"""HAR 1.2 export of failures (http://www.softwareishard.com/blog/har-12-spec/). Pure."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from capture.verdict.kinds import CONNECT_PHASE
from capture.version import __version__

if TYPE_CHECKING:
    from capture.store.rows import FailureDetail

__all__ = ["har_chunks", "har_document", "har_lines"]

# Header lists repeat from row to row (see rowtext): each distinct stored text is parsed
# once. The lists are shared between entries and only read. At most _CACHED texts of at
# most _CACHED_CHARS each: memory does not grow with the number of rows.
_CACHED = 512
_CACHED_CHARS = 4096


def _parse_headers(raw: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in json.loads(raw)]


_parse_headers_cached = functools.lru_cache(maxsize=_CACHED)(_parse_headers)


def _headers(raw: str | None) -> list[dict[str, str]]:
    if not raw:
        return []
    return _parse_headers(raw) if len(raw) > _CACHED_CHARS else _parse_headers_cached(raw)


def _content(row: FailureDetail) -> dict[str, Any]:
    body = bytes(row.get("body") or b"")
    content: dict[str, Any] = {
        "size": row.get("body_size") if row.get("body_size") is not None else len(body),
        "mimeType": row.get("content_type") or "",
    }
    if body:
        try:
            content["text"] = body.decode("utf-8")
        except UnicodeDecodeError:
            content["text"] = base64.b64encode(body).decode("ascii")
            content["encoding"] = "base64"
    if row.get("body_truncated"):
        content["comment"] = f"truncated: {len(body)} of {content['size']} bytes stored"
    return content


def _us(value: float | None) -> int | None:
    """Returns milliseconds as whole microseconds (None stays None)."""
    return None if value is None else round(float(value) * 1000)


def _phases_us(row: FailureDetail) -> dict[str, int]:
    """Splits a request's time into HAR phases in whole microseconds; -1 where a phase
    did not happen. Those that happened add up to the session wait plus the latency."""
    latency = _us(row["latency_ms"]) or 0
    connect = _us(row.get("connect_ms"))
    if connect is None and row.get("error_kind") in CONNECT_PHASE:
        connect = latency  # it ended while connecting: all of it was the connect, no wait
    ttfb = _us(row.get("ttfb_ms"))
    # ttfb and latency both count the connect from the request's start; HAR counts
    # each phase once, so wait is what came after the connect. No response: all of it
    # after the connect was waiting.
    first_byte = min(ttfb if ttfb is not None else latency, latency)
    opened = None if connect is None else min(connect, first_byte)
    return {
        "blocked": _us(row.get("wait_ms")) or 0,  # waiting for a free session
        "dns": -1,
        "connect": -1 if opened is None else opened,
        "ssl": -1,  # inside connect when TLS was used
        "send": 0,
        "wait": first_byte - (opened or 0),
        "receive": latency - first_byte,
    }


def _timings(phases: dict[str, int]) -> tuple[dict[str, float], float]:
    """Returns HAR's timings in milliseconds and its "time", the sum of the phases that
    happened (ssl is inside connect), as HAR 1.2 defines it."""
    # Added up in whole microseconds, so that "time" is the sum exactly and no value
    # carries float noise (0.06300000000000061): n / 1000 prints with 3 decimals at most.
    total = sum(us for name, us in phases.items() if us >= 0 and name != "ssl")
    return {name: -1 if us == -1 else us / 1000 for name, us in phases.items()}, total / 1000


def _entry(row: FailureDetail) -> dict[str, Any]:
    timings, total = _timings(_phases_us(row))
    request: dict[str, Any] = {
        "method": row["method"],
        "url": row["url"],
        "httpVersion": row.get("http_version") or "HTTP/1.1",
        "cookies": [],
        "headers": _headers(row.get("request_headers")),
        "queryString": [
            {"name": k, "value": v}
            for k, v in parse_qsl(urlsplit(row["url"]).query, keep_blank_values=True)
        ],
        "headersSize": -1,
        "bodySize": len(bytes(row.get("request_body") or b"")),
    }
    request_body = row.get("request_body")
    if request_body:
        request["postData"] = {
            "mimeType": next(
                (h["value"] for h in request["headers"] if h["name"].lower() == "content-type"),
                "",
            ),
            "text": bytes(request_body).decode("utf-8", "replace"),
        }
    response = {
        "status": row.get("status") or 0,  # 0: no response arrived (as browsers export it)
        "statusText": row.get("reason") or "",
        "httpVersion": row.get("http_version") or "",
        "cookies": [],
        "headers": _headers(row.get("response_headers")),
        "content": _content(row),
        "redirectURL": "",
        "headersSize": -1,
        "bodySize": row.get("body_size") if row.get("body_size") is not None else -1,
    }
    if row.get("error_kind"):
        response["_error"] = row["error_kind"]
    remote = row.get("remote_addr") or ""
    entry: dict[str, Any] = {
        "startedDateTime": row["started_at"],
        "time": total,  # as HAR 1.2 defines it
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
        "serverIPAddress": remote.rsplit(":", 1)[0].strip("[]"),
        # HAR's "connection": the parent TCP connection's id (the client port is not
        # one: the kernel may give it to two connections of a run).
        "connection": "" if row.get("connection_id") is None else str(row["connection_id"]),
        "comment": " ".join(
            str(x)
            for x in (f"capture id {row['id']}", row.get("error_kind"), row.get("error_message"))
            if x
        ),
    }
    return entry


def har_document(rows: Iterable[FailureDetail]) -> dict[str, Any]:
    """Returns failures as a HAR 1.2 log."""
    return {"log": {**_log_header(), "entries": [_entry(row) for row in rows]}}


def _log_header() -> dict[str, Any]:
    """Returns the members of a HAR log before its entries."""
    return {
        "version": "1.2",
        "creator": {"name": "capture", "version": __version__},
        "pages": [],
    }


def har_lines(rows: Iterable[FailureDetail]) -> Iterator[str]:
    """Yields a HAR 1.2 document as lines: the header, one entry per line as it is read,
    then the footer, so that memory does not grow with the number of rows."""
    yield _header_text()
    previous: str | None = None
    for row in rows:
        if previous is not None:
            yield previous + ","
        previous = "      " + json.dumps(_entry(row))
    if previous is not None:
        yield previous
    yield _FOOTER


_FOOTER = "    ]\n  }\n}"
# json.dumps's own settings, made once; no circular check: an entry holds no cycle.
_encode = json.JSONEncoder(check_circular=False).encode


def _header_text() -> str:
    """Returns the document's text up to the entries' "[": what json.dumps writes."""
    head = json.dumps({"log": {**_log_header(), "entries": []}}, indent=2)
    return head[: head.rindex("[]") + 1]


def har_chunks(batches: Iterable[list[FailureDetail]]) -> Iterator[str]:
    """Yields the text of har_lines, one string per batch of rows (lines joined by line
    breaks, each string to be followed by one), so that memory holds one batch."""
    yield _header_text()
    previous: str | None = None
    for batch in batches:
        if not batch:
            continue
        if previous is not None:
            yield previous + ","
        previous = ",\n".join(["      " + _encode(_entry(row)) for row in batch])
    if previous is not None:
        yield previous
    yield _FOOTER
