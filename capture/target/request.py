"""Reading one HTTP/1.x request off a connection: the request line, the headers and the
body (discarded), refusing what is malformed rather than guessing."""

from __future__ import annotations

import io
import re
import socket
from dataclasses import dataclass

__all__ = ["READ_BUFFER_BYTES", "Malformed", "Request", "read_request"]

MAX_LINE_BYTES = 16 * 1024
MAX_REQUEST_HEADERS = 100
READ_BUFFER_BYTES = 64 * 1024
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read: its line, its headers and how the connection goes on."""

    method: str
    target: str
    headers: dict[str, str]  # lower-case name -> value decoded as latin-1 (last one wins)
    keep_alive: bool
    http10: bool


class Malformed(ValueError):
    """The bytes read are not a valid HTTP/1.x request."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.method, self.target = "", ""  # filled in once the request line parsed


def read_request(rfile: io.BufferedReader, sock: socket.socket) -> Request | None:
    """Read one request and discard its body. Returns None when the client went away."""
    line = rfile.readline(MAX_LINE_BYTES + 1)
    for _ in range(8):  # RFC 9112 §2.2: ignore a few empty lines before a request line
        if line not in (b"\r\n", b"\n"):
            break
        line = rfile.readline(MAX_LINE_BYTES + 1)
    if not line.endswith(b"\n"):
        if len(line) > MAX_LINE_BYTES:
            raise Malformed("request line too long")
        return None
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not _TOKEN_RE.fullmatch(parts[0]) or not parts[1]:
        raise Malformed("bad request line")
    method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
    try:
        if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            raise Malformed("unsupported HTTP version")
        headers = _read_headers(rfile)
        http10 = parts[2] == b"HTTP/1.0"
        if headers is None or not _read_body(rfile, sock, headers, http10):
            return None
    except Malformed as bad:  # answer it with what was parsed so far
        bad.method, bad.target = method, target
        raise
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = "keep-alive" in tokens if http10 else "close" not in tokens
    return Request(method, target, headers, keep_alive, http10)


def _read_headers(rfile: io.BufferedReader) -> dict[str, str] | None:
    """Read header lines up to the blank line. Returns None when the client went away."""
    headers: dict[str, str] = {}
    for _ in range(MAX_REQUEST_HEADERS + 1):
        line = rfile.readline(MAX_LINE_BYTES + 1)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):
            if len(line) > MAX_LINE_BYTES:
                raise Malformed("header line too long")
            return None
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_RE.fullmatch(name):  # also refuses obsolete line folding
            raise Malformed("bad header line")
        key, text = name.decode("latin-1").lower(), value.strip().decode("latin-1")
        if key == "content-length" and headers.get(key, text) != text:
            raise Malformed("conflicting Content-Length")  # a request-smuggling smell
        headers[key] = text
    raise Malformed("too many headers")


def _read_body(
    rfile: io.BufferedReader, sock: socket.socket, headers: dict[str, str], http10: bool
) -> bool:
    """Discard the request body. Returns False when the client went away midway."""
    length, chunked = headers.get("content-length"), headers.get("transfer-encoding")
    if chunked is not None and (length is not None or chunked.lower() != "chunked"):
        raise Malformed("unsupported Transfer-Encoding")
    if length is not None and not (length.isascii() and length.isdigit()):
        raise Malformed("bad Content-Length")
    if chunked is None and not int(length or 0):
        return True
    if not http10 and headers.get("expect", "").lower() == "100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if chunked is None:
        return _discard(rfile, int(length or 0))
    while True:
        size_line = rfile.readline(MAX_LINE_BYTES + 1)
        if not size_line.endswith(b"\n"):
            return False
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Malformed("bad chunk size") from None
        if size == 0:
            break
        if not _discard(rfile, size + 2):  # the chunk and its CRLF
            return False
    for _ in range(MAX_REQUEST_HEADERS + 1):  # trailer fields, up to the blank line
        line = rfile.readline(MAX_LINE_BYTES + 1)
        if line in (b"\r\n", b"\n", b""):
            return line != b""
    raise Malformed("too many trailer lines")


def _discard(rfile: io.BufferedReader, count: int) -> bool:
    while count > 0:
        data = rfile.read(min(count, READ_BUFFER_BYTES))
        if not data:
            return False
        count -= len(data)
    return True
