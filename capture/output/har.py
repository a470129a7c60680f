"""HAR 1.2 export of failures (http://www.softwareishard.com/blog/har-12-spec/). Pure."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from capture.version import __version__

if TYPE_CHECKING:
    from capture.store.rows import FailureDetail

__all__ = ["har_document"]


def _headers(raw: str | None) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in json.loads(raw)] if raw else []


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


def _timings(row: FailureDetail) -> dict[str, float]:
    """Splits a request's time into HAR phases; -1 where a phase did not happen."""
    latency = float(row["latency_ms"])
    connect_ms = row.get("connect_ms")
    connect = float(connect_ms) if connect_ms is not None else -1
    ttfb = row.get("ttfb_ms")
    # ttfb and latency both count the connect from the request's start; HAR counts
    # each phase once. No response: all of it after the connect was waiting.
    first_byte = float(ttfb) if ttfb is not None else latency
    return {
        "blocked": float(row.get("wait_ms") or 0.0),  # waiting for a free session
        "dns": -1,
        "connect": connect,
        "ssl": -1,  # inside connect when TLS was used
        "send": 0,
        "wait": max(0.0, first_byte - max(connect, 0.0)),
        "receive": max(0.0, latency - first_byte),
    }


def _entry(row: FailureDetail) -> dict[str, Any]:
    timings = _timings(row)
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
        "time": sum(v for v in timings.values() if v != -1),  # as HAR 1.2 defines it
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
        "serverIPAddress": remote.rsplit(":", 1)[0].strip("[]"),
        # HAR's "connection" is the parent TCP connection's id: the client port will do.
        "connection": (row.get("local_addr") or "").rsplit(":", 1)[-1],
        "comment": " ".join(
            str(x)
            for x in (f"capture id {row['id']}", row.get("error_kind"), row.get("error_message"))
            if x
        ),
    }
    return entry


def har_document(rows: Iterable[FailureDetail]) -> dict[str, Any]:
    """Returns failures as a HAR 1.2 log."""
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "capture", "version": __version__},
            "pages": [],
            "entries": [_entry(row) for row in rows],
        }
    }
