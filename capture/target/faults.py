"""What the test target sends back: one handler per fault, writing exact bytes.

A handler validates its parameters before it writes anything, so a bad one becomes a clean
400. It writes any streamed part itself and returns a Reply whose head and body are the last
bytes to write. The server records the ledger entry *before* writing them, so a client that
has seen the outcome always finds the entry already in the ledger.

Body oracle: every generated body is a prefix of PATTERN repeated, so tests can rebuild it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from email.utils import formatdate
from functools import cache

from capture.target.exchange import (
    NO_BODY_STATUSES,
    PATTERN,
    BadParam,
    Exchange,
    Header,
    Reply,
    Stopped,
    pattern_body,
    status_text,
)
from capture.target.load_faults import plan

__all__ = ["FAULT_NAMES", "PATTERN", "answer", "gzip_bomb", "malformed", "pattern_body"]

_CHUNK = PATTERN * 1024  # 64 KiB, a whole number of patterns, so streamed chunks line up
DEFAULT_BODY_BYTES = 100
BIG_BODY_BYTES = 10_000_000
MAX_BODY_BYTES = 1 << 40
MAX_WAIT_S = 3600.0
GZIP_BOMB_BYTES = 100 << 20
LONG_HEADER_BYTES = 70 * 1024  # above http.client's 65 536-byte line limit
MANY_HEADERS = 101  # above http.client's 100-header limit
RETRY_AFTER_DATE_AHEAD_S = 60

BINARY_BODY = b"binary\x00body \x1b[31mred\x1b[0m \xff\xfe\xc3\x28 end\n"
GZIP_GARBAGE_BODY = b"this is not gzip data, whatever the header says\n"
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
BAD_STATUS = b"HTTQ/9 xyz\r\nContent-Length: 0\r\n\r\n"
WEIRD_HEADERS = ((b"X-Weird", b"caf\xc3\xa9 \xff\xfe"), (b"X-Escape", b"\x1b[31mred\x1b[0m"))
DUP_HEADERS = (
    (b"Set-Cookie", b"a=1; Path=/"),
    (b"Set-Cookie", b"b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/"),
    (b"Set-Cookie", b"c=3; HttpOnly"),
    (b"X-Dup", b"first"),
    (b"X-Dup", b"second"),
)
_GZIP = (b"Content-Encoding", b"gzip")


@cache
def gzip_bomb() -> bytes:
    """Return a gzip member that inflates to GZIP_BOMB_BYTES zeros (about 100 KB, built once)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip wrapper, mtime 0
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(GZIP_BOMB_BYTES >> 20)]
    return b"".join([*parts, compressor.flush()])


def answer(ex: Exchange) -> Reply:
    """Run the handler the query asks for; never raises for client or parameter trouble."""
    try:
        ex.ctype = ex.header_param("ctype")
        ex.retry_after = _retry_after(ex.params.get("retry_after"))
        if "idle_close" in ex.params:
            ex.idle_s = ex.float_param("idle_close", 0.0, 0.001, MAX_WAIT_S)
        close_after = ex.int_param("close_after", 0, 1, 1 << 30)
        if ex.params.get("close") == "1" or (close_after and ex.request_no >= close_after):
            ex.close = True
        name = ex.params.get("fault")
        handler = _normal if name is None else _FAULTS.get(name)
        if handler is None:
            raise BadParam(f"unknown fault {name!r}")
        delay_s = ex.float_param("delay", 0.0, 0.0, MAX_WAIT_S)
        load = plan(ex)
        ex.fault = name or "ok"
        ex.wait(delay_s)
        return handler(ex) if load is None else load.run(ex, handler)
    except BadParam as exc:
        ex.fault, ex.ctype, ex.retry_after = "invalid", None, None
        return ex.respond(400, f"400 Bad Request: {exc}\n".encode())
    except Stopped:
        return Reply("stopped")
    except OSError:
        return Reply("client_gone")


def malformed(ex: Exchange, reason: str) -> Reply:
    """Answer a request that is not valid HTTP/1.x with 400, then close."""
    ex.fault, ex.close = "malformed", True
    return ex.respond(400, f"400 Bad Request: {reason}\n".encode())


def _retry_after(raw: str | None) -> bytes | None:
    if raw is None:
        return None
    if raw == "date":
        return formatdate(time.time() + RETRY_AFTER_DATE_AHEAD_S, usegmt=True).encode()
    if raw.isascii() and raw.isdigit():
        return raw.encode()
    raise BadParam(f"retry_after={raw!r} is neither SECONDS nor 'date'")


def _normal(ex: Exchange) -> Reply:
    location = ex.header_param("redirect_to")
    for label in ("status", "mix", "redirect_to"):  # the last one present wins
        if label in ex.params:
            ex.fault = label
    status = ex.pick_status(302 if location else 200)
    extra = [(b"Location", location)] if location else []
    if "body" in ex.params:
        return ex.respond(status, ex.params["body"].encode(), extra=extra)
    if "size" in ex.params:
        return _pattern(ex, status, ex.int_param("size", 0, 0, MAX_BODY_BYTES), extra)
    body = pattern_body(DEFAULT_BODY_BYTES) if ex.fault == "ok" else status_text(status)
    return ex.respond(status, body, extra=extra)


def _pattern(ex: Exchange, status: int, size: int, extra: Iterable[Header] = ()) -> Reply:
    """Send a pattern body of any size, streaming big ones instead of building them."""
    if size <= len(_CHUNK) or status in NO_BODY_STATUSES:
        return ex.respond(status, pattern_body(min(size, len(_CHUNK))), extra=extra)
    head = ex.head(status, length=size, extra=extra)
    if ex.method == "HEAD":
        return ex.end(head)
    ex.send(head, len(head))
    left = size
    while left > len(_CHUNK):
        ex.send(_CHUNK)
        left -= len(_CHUNK)
    return ex.end(body=_CHUNK[:left])


def _body_stall(ex: Exchange) -> Reply:
    stall_s = ex.float_param("stall", 5.0, 0.0, MAX_WAIT_S)
    head = ex.head(ex.pick_status(200), length=1000)
    return Reply("stall", head, pattern_body(10), stall_s)


def _trickle(ex: Exchange) -> Reply:
    interval_s = ex.float_param("interval", 0.2, 0.0, 60.0)
    size = ex.int_param("bytes", 50, 1, 1_000_000)
    body = pattern_body(size)
    head = ex.head(ex.pick_status(200), length=size)
    ex.send(head, len(head))
    for i in range(size - 1):  # a vanished client makes send fail within two intervals
        ex.wait(interval_s)
        ex.send(body[i : i + 1])
    ex.wait(interval_s)
    return ex.end(body=body[-1:])


def _body_reset(ex: Exchange) -> Reply:
    return Reply("reset", ex.head(ex.pick_status(200), length=1000), pattern_body(100))


def _short_body(ex: Exchange) -> Reply:
    return Reply("close", ex.head(ex.pick_status(200), length=100), pattern_body(3))


def _chunked(wire_body: bytes) -> Callable[[Exchange], Reply]:
    def handler(ex: Exchange) -> Reply:
        # The framing is broken on purpose, so the connection cannot be reused afterwards.
        extra = [(b"Transfer-Encoding", b"chunked")]
        return Reply("close", ex.head(ex.pick_status(200), length=None, extra=extra), wire_body)

    return handler


def _gzip_bomb(ex: Exchange) -> Reply:
    return ex.respond(ex.pick_status(200), gzip_bomb(), extra=[_GZIP])


def _big(ex: Exchange) -> Reply:
    size = ex.int_param("size", BIG_BODY_BYTES, 0, MAX_BODY_BYTES)
    return _pattern(ex, ex.pick_status(200), size)


def _canned(
    default_status: int, extra: Iterable[Header] = (), body: bytes | None = None, ctype: bytes = b""
) -> Callable[[Exchange], Reply]:
    def handler(ex: Exchange) -> Reply:
        status = ex.pick_status(default_status)
        text = status_text(status) if body is None else body
        return ex.respond(status, text, ctype=ctype or None, extra=extra)

    return handler


def _http10(ex: Exchange) -> Reply:
    status = ex.pick_status(200)
    ex.close = True
    return Reply("close", ex.head(status, length=None, version=b"HTTP/1.0"), status_text(status))


def _early_hints(ex: Exchange) -> Reply:
    status = ex.pick_status(200)
    ex.send(EARLY_HINTS, len(EARLY_HINTS))
    return ex.respond(status, status_text(status))


def _redirect_loop(ex: Exchange) -> Reply:
    status = ex.pick_status(302)
    location = ex.target.encode("latin-1")  # the request target as received, query included
    return ex.respond(status, status_text(status), extra=[(b"Location", location)])


def _bad_header_line(line: bytes) -> Callable[[Exchange], Reply]:
    """A 200 whose header block has line, a line that is no header, before X-After and
    Content-Length: a client that stops at it loses the body's framing."""

    def handler(ex: Exchange) -> Reply:
        status = ex.pick_status(200)
        body = status_text(status)
        head = ex.head(status, length=None, extra=[(b"X-Before", b"1")])
        tail = b"%s\r\nX-After: 2\r\nContent-Length: %d\r\n\r\n" % (line, len(body))
        return ex.end(head[:-2] + tail, body)  # head ends with the blank line's CRLF CRLF

    return handler


def _close_reused(ex: Exchange) -> Reply:
    if ex.request_no > 1:
        return Reply("close")
    return ex.respond(ex.pick_status(200), pattern_body(DEFAULT_BODY_BYTES))


_FAULTS: dict[str, Callable[[Exchange], Reply]] = {
    "reset": lambda ex: Reply("reset"),
    "close": lambda ex: Reply("close"),
    "body_stall": _body_stall,
    "trickle": _trickle,
    "body_reset": _body_reset,
    "short_body": _short_body,
    "bad_chunk": _chunked(b"zz\r\nabc\r\n0\r\n\r\n"),
    "no_last_chunk": _chunked(b"5\r\nhello\r\n"),
    "gzip_garbage": _canned(200, [_GZIP], GZIP_GARBAGE_BODY),
    "gzip_bomb": _gzip_bomb,
    "big": _big,
    "binary": _canned(200, (), BINARY_BODY, b"application/octet-stream"),
    "weird_headers": _canned(500, WEIRD_HEADERS),
    "dup_headers": _canned(200, DUP_HEADERS),
    # A bare CR inside Content-Type, which comes before Content-Length in the head.
    "bare_cr_header": _canned(500, ctype=b"text/plain;\rcharset=utf-8"),
    "many_headers": _canned(200, [(b"X-Many-%03d" % i, b"v") for i in range(1, MANY_HEADERS + 1)]),
    "long_header": _canned(200, [(b"X-Long", b"a" * LONG_HEADER_BYTES)]),
    "no_colon_header": _bad_header_line(b"X-No-Colon-Here"),
    "space_before_colon": _bad_header_line(b"X-Spaced : v"),
    "bad_status": lambda ex: Reply("close", BAD_STATUS),
    "http10": _http10,
    "early_hints": _early_hints,
    "redirect_loop": _redirect_loop,
    "close_reused": _close_reused,
}
FAULT_NAMES = tuple(_FAULTS)
