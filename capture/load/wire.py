"""Requests whose bytes never vary, sent as built the first time.

urllib3 and http.client build a request header by header on every call: a frozenset of
the names, a validity check per header, a list of lines joined at the end. For a target
with nothing per-request in it (no --id-header, no cookies, no build_request hook) those
bytes are the same each time. The first exchange on a host builds them the usual way and
keeps what went out; later ones send the kept bytes through the same connection object,
after the same state changes putrequest() and endheaders() make, so the response side
(http.client's state, urllib3's response options) cannot tell the difference.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable, Iterable
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3._base_connection import _ResponseOptions  # what request() tells getresponse()

__all__ = ["AVAILABLE", "WireHeaders", "send_request"]

# http.client keeps its state in name-mangled attributes; without them, build every time.
_STATE = "_HTTPConnection__state"
_RESPONSE = "_HTTPConnection__response"
AVAILABLE = all(
    hasattr(http.client.HTTPConnection("127.0.0.1"), name) for name in (_STATE, _RESPONSE)
)

# host, port, the scheme's default port (the Host header leaves it out), method, path, body
Key = tuple[str, "int | None", int, str, str, "bytes | None"]


class WireHeaders(CaseInsensitiveDict[str]):
    """A target's fixed request headers, with the request bytes built from them per host.

    A copy (urllib3 copies the headers of every urlopen) shares the bytes; a change to a
    header drops them, so a changed request is built again.
    """

    def __init__(self, data: Iterable[tuple[str, str]] | None = None, wire: Any = None) -> None:
        self.wire: dict[Key, bytes] | None = None
        super().__init__(data)
        self.wire = {} if wire is None else wire

    def __setitem__(self, key: str, value: str) -> None:
        self.wire = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.wire = None
        super().__delitem__(key)

    def copy(self) -> WireHeaders:
        # The store copied as it is (C-level), not rebuilt key by key through __setitem__:
        # urllib3 copies the headers of every request.
        new = WireHeaders.__new__(WireHeaders)
        new._store = self._store.copy()  # type: ignore[attr-defined]
        new.wire = self.wire
        return new


def send_request(
    conn: Any, build: Callable[..., None], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Sends a request on conn: the kept bytes when its headers are WireHeaders that have
    them for this host, else build() (urllib3's own request(*args, **kwargs)), keeping
    what that sent. args and kwargs are urllib3's: (method, url), body=, headers=..."""
    headers = kwargs.get("headers")
    body = kwargs.get("body")
    wire = getattr(headers, "wire", None) if AVAILABLE else None
    if (
        wire is None
        or len(args) != 2
        or kwargs.get("chunked")
        or not (body is None or isinstance(body, bytes))
    ):
        build(*args, **kwargs)
        return
    method, url = args
    key: Key = (conn.host, conn.port, conn.default_port, method, url, body)
    sent = wire.get(key)
    if sent is None:
        wire_bytes = _built(conn, lambda: build(*args, **kwargs))
        if wire_bytes is not None:
            wire[key] = wire_bytes
        return
    if conn.sock is not None:
        conn.sock.settimeout(conn.timeout)  # as urllib3's request() does on reuse
    conn._response_options = _ResponseOptions(  # what getresponse() reads
        request_method=method,
        request_url=url,
        preload_content=kwargs.get("preload_content", True),
        decode_content=kwargs.get("decode_content", True),
        enforce_content_length=kwargs.get("enforce_content_length", True),
    )
    # putrequest(): forget a finished response, refuse while one is pending.
    previous = getattr(conn, _RESPONSE)
    if previous is not None and previous.isclosed():
        setattr(conn, _RESPONSE, None)
    state = getattr(conn, _STATE)
    if state != http.client._CS_IDLE:  # type: ignore[attr-defined]
        raise http.client.CannotSendRequest(state)
    conn._method = method
    # endheaders(): the request is out; send() connects first when there is no socket.
    setattr(conn, _STATE, http.client._CS_REQ_SENT)  # type: ignore[attr-defined]
    conn.send(sent)


def _built(conn: Any, build: Callable[[], None]) -> bytes | None:
    """Runs build() and returns the bytes it sent (None when a part was not bytes)."""
    parts: list[Any] = []
    send = conn.send

    def keep(data: Any) -> None:
        parts.append(data)
        send(data)

    conn.send = keep
    try:
        build()
    finally:
        del conn.send
    if not all(isinstance(part, bytes) for part in parts):
        return None
    return b"".join(parts)
