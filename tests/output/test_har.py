"""HAR building: a stored row in, the HAR 1.2 entry's exact fields out.

HAR 1.2: http://www.softwareishard.com/blog/har-12-spec/ ("time ... is the sum of all
timings available in the timings object (i.e. not including -1 values)").
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from capture import __version__
from capture.output.har import har_document

FAILURE: dict[str, Any] = {
    "id": 9,
    "started_at": "2024-05-01T12:00:00.250000+00:00",
    "method": "POST",
    "url": "http://127.0.0.1:8080/api/orders?id=42&empty=",
    "request_headers": json.dumps([["Content-Type", "application/json"], ["X-Trace", "t1"]]),
    "request_body": b'{"a": 1}',
    "status": 503,
    "reason": "Service Unavailable",
    "http_version": "HTTP/1.1",
    "response_headers": json.dumps([["Retry-After", "7"]]),
    "body": b"down",
    "body_size": 4,
    "body_truncated": 0,
    "content_type": "text/plain",
    "error_kind": None,
    "error_message": None,
    "wait_ms": 2.0,  # waited for a free session
    "connect_ms": 5.0,  # opened a connection: part of ttfb and latency
    "ttfb_ms": 20.0,
    "latency_ms": 30.0,
    "remote_addr": "127.0.0.1:8080",
    "local_addr": "127.0.0.1:51234",
    "connection_id": 12,  # the TCP connection, not the client port (which may repeat)
}
RESET: dict[str, Any] = {
    "id": 10,
    "started_at": "2024-05-01T12:00:01+00:00",
    "method": "GET",
    "url": "http://[::1]:8080/",
    "request_headers": None,
    "request_body": None,
    "status": None,
    "reason": None,
    "http_version": None,
    "response_headers": None,
    "body": None,
    "body_size": None,
    "body_truncated": None,
    "content_type": None,
    "error_kind": "reset",
    "error_message": "Connection reset by peer",
    "wait_ms": None,
    "connect_ms": None,  # a kept-alive connection: no connect on this request
    "ttfb_ms": None,
    "latency_ms": 3.0,
    "remote_addr": "[::1]:8080",
    "local_addr": "[::1]:40000",
    "connection_id": 3,
}
BINARY_CUT = FAILURE | {
    "id": 11,
    "request_headers": None,
    "request_body": None,
    "body": b"\xff\x00\xfe",
    "body_size": 1000,
    "body_truncated": 1,
    "content_type": "application/octet-stream",
    "error_kind": "body_reset",
    "error_message": "cut",
    "connect_ms": None,
    "wait_ms": 0.0,
}

EXPECTED = {
    "failure": (
        FAILURE,
        {
            "startedDateTime": "2024-05-01T12:00:00.250000+00:00",
            "time": 32.0,  # 2 blocked + 5 connect + 15 wait + 10 receive
            "request": {
                "method": "POST",
                "url": "http://127.0.0.1:8080/api/orders?id=42&empty=",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": [
                    {"name": "Content-Type", "value": "application/json"},
                    {"name": "X-Trace", "value": "t1"},
                ],
                "queryString": [{"name": "id", "value": "42"}, {"name": "empty", "value": ""}],
                "headersSize": -1,
                "bodySize": 8,
                "postData": {"mimeType": "application/json", "text": '{"a": 1}'},
            },
            "response": {
                "status": 503,
                "statusText": "Service Unavailable",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": [{"name": "Retry-After", "value": "7"}],
                "content": {"size": 4, "mimeType": "text/plain", "text": "down"},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": 4,
            },
            "cache": {},
            "timings": {
                "blocked": 2.0,
                "dns": -1,
                "connect": 5.0,
                "ssl": -1,
                "send": 0,
                "wait": 15.0,  # first byte minus the connect already counted
                "receive": 10.0,
            },
            "serverIPAddress": "127.0.0.1",
            "connection": "12",
            "comment": "capture id 9",
        },
    ),
    "no response": (
        RESET,
        {
            "startedDateTime": "2024-05-01T12:00:01+00:00",
            "time": 3.0,
            "request": {
                "method": "GET",
                "url": "http://[::1]:8080/",
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": [],
                "queryString": [],
                "headersSize": -1,
                "bodySize": 0,
            },
            "response": {
                "status": 0,
                "statusText": "",
                "httpVersion": "",
                "cookies": [],
                "headers": [],
                "content": {"size": 0, "mimeType": ""},
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": -1,
                "_error": "reset",
            },
            "cache": {},
            "timings": {
                "blocked": 0.0,
                "dns": -1,
                "connect": -1,
                "ssl": -1,
                "send": 0,
                "wait": 3.0,
                "receive": 0.0,
            },
            "serverIPAddress": "::1",
            "connection": "3",
            "comment": "capture id 10 reset Connection reset by peer",
        },
    ),
}


@pytest.mark.parametrize(("row", "entry"), EXPECTED.values(), ids=EXPECTED.keys())
def test_entry_fields(row: dict[str, Any], entry: dict[str, Any]) -> None:
    assert har_document([row])["log"]["entries"] == [entry]


def test_binary_truncated_body_is_base64_with_a_comment() -> None:
    (entry,) = har_document([BINARY_CUT])["log"]["entries"]
    assert entry["response"]["content"] == {
        "size": 1000,
        "mimeType": "application/octet-stream",
        "text": base64.b64encode(b"\xff\x00\xfe").decode("ascii"),
        "encoding": "base64",
        "comment": "truncated: 3 of 1000 bytes stored",
    }
    assert entry["response"]["_error"] == "body_reset"
    assert entry["comment"] == "capture id 11 body_reset cut"


def test_log_header() -> None:
    log = har_document([])["log"]
    assert log == {
        "version": "1.2",
        "creator": {"name": "capture", "version": __version__},
        "pages": [],
        "entries": [],
    }


# HAR 1.2's required fields of each object, and their JSON types.
_REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "entry": {
        "startedDateTime": str,
        "time": (int, float),
        "request": dict,
        "response": dict,
        "cache": dict,
        "timings": dict,
    },
    "request": {
        "method": str,
        "url": str,
        "httpVersion": str,
        "cookies": list,
        "headers": list,
        "queryString": list,
        "headersSize": int,
        "bodySize": int,
    },
    "response": {
        "status": int,
        "statusText": str,
        "httpVersion": str,
        "cookies": list,
        "headers": list,
        "content": dict,
        "redirectURL": str,
        "headersSize": int,
        "bodySize": int,
    },
    "content": {"size": int, "mimeType": str},
    "timings": {"send": (int, float), "wait": (int, float), "receive": (int, float)},
}
_TIMINGS = ("blocked", "dns", "connect", "ssl", "send", "wait", "receive")


def _check(kind: str, obj: dict[str, Any]) -> None:
    for name, types in _REQUIRED[kind].items():
        assert isinstance(obj.get(name), types), f"{kind}.{name}: {obj.get(name)!r}"


ROWS = {"failure": FAILURE, "no response": RESET, "binary, cut": BINARY_CUT}


@pytest.mark.parametrize("row", ROWS.values(), ids=ROWS.keys())
def test_entry_is_valid_har_1_2(row: dict[str, Any]) -> None:
    (entry,) = har_document([row])["log"]["entries"]
    _check("entry", entry)
    _check("request", entry["request"])
    _check("response", entry["response"])
    _check("content", entry["response"]["content"])
    timings = entry["timings"]
    _check("timings", timings)
    assert set(timings) == set(_TIMINGS)
    # Optional timings are -1 when they do not apply; the others are never negative.
    assert all(
        timings[k] >= 0 or (timings[k] == -1 and k not in ("send", "wait", "receive"))
        for k in _TIMINGS
    )
    assert entry["time"] == pytest.approx(sum(v for v in timings.values() if v != -1))
    for header in entry["request"]["headers"] + entry["response"]["headers"]:
        assert set(header) == {"name", "value"}


def test_a_connect_that_failed_is_connect_time_not_wait() -> None:
    # Refused after 6.5 ms: no connect_ms is stored (no connection was made), but the
    # time went to connecting; shown as wait it would read as the server taking 6.5 ms.
    refused = RESET | {
        "error_kind": "connect_refused",
        "latency_ms": 6.5,
        "wait_ms": 0.25,
        "local_addr": None,
        "remote_addr": None,
        "connection_id": None,
    }
    (entry,) = har_document([refused])["log"]["entries"]
    assert entry["timings"] == {
        "blocked": 0.25,
        "dns": -1,
        "connect": 6.5,
        "ssl": -1,
        "send": 0,
        "wait": 0.0,
        "receive": 0.0,
    }
    assert entry["time"] == 6.75
