"""What the test target sends back: one handler per fault, writing exact bytes.

A handler validates its parameters before it writes anything, so a bad one becomes a clean
400. It writes any streamed part itself and returns a Reply whose head and body are the last
bytes to write. The server records the ledger entry *before* writing them, so a client that
has seen the outcome always finds the entry already in the ledger.

Body oracle: every generated body is a prefix of PATTERN repeated, so tests can rebuild it.
"""

from __future__ import annotations

import hashlib
import math
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from functools import cache
from http import HTTPStatus
from urllib.parse import parse_qsl

__all__ = ["FAULT_NAMES", "PATTERN", "Exchange", "Reply", "answer", "malformed", "pattern_body"]

PATTERN = b"capture target body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDE\n"
_CHUNK = PATTERN * 1024  # 64 KiB, a whole number of patterns, so streamed chunks line up
DEFAULT_BODY_BYTES = 100
BIG_BODY_BYTES = 10_000_000
MAX_BODY_BYTES = 1 << 40
MAX_WAIT_S = 3600.0
GZIP_BOMB_BYTES = 100 << 20
LONG_HEADER_BYTES = 70 * 1024  # above http.client's 65 536-byte line limit
MANY_HEADERS = 101  # above http.client's 100-header limit
RETRY_AFTER_DATE_AHEAD_S = 60
DEFAULT_CTYPE = b"text/plain; charset=utf-8"

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
_REASONS = {s.value: s.phrase for s in HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})

Header = tuple[bytes, bytes]


class BadParam(ValueError):
    """A query parameter the target cannot act on; answered with 400."""


class Stopped(Exception):
    """The server is stopping while a handler waits."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The last bytes to write for one request, and what to do with the connection then."""

    action: str  # keep, close, reset, stall, idle_close, client_gone, stopped
    head: bytes = b""
    body: bytes = b""
    wait_s: float = 0.0  # stall: seconds before closing; idle_close: idle limit


def pattern_body(size: int) -> bytes:
    """Return the first size bytes of PATTERN repeated."""
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def status_text(status: int) -> bytes:
    """Return the short text body for a status, e.g. b'404 Not Found\\n'."""
    return f"{status} {_REASONS.get(status, 'Unknown')}\n".encode()


@cache
def gzip_bomb() -> bytes:
    """Return a gzip member that inflates to GZIP_BOMB_BYTES zeros (about 100 KB, built once)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip wrapper, mtime 0
    zeros = bytes(1 << 20)
    parts = [compressor.compress(zeros) for _ in range(GZIP_BOMB_BYTES >> 20)]
    return b"".join([*parts, compressor.flush()])


@cache
def _parse_mix(spec: str) -> tuple[tuple[int, int], ...]:
    """Turn '500:10,503:5' into cumulative slots ((500, 10), (503, 15))."""
    slots, end = [], 0
    for part in spec.split(","):
        status, sep, pct = part.partition(":")
        if not (sep and status.isascii() and status.isdigit() and pct.isascii() and pct.isdigit()):
            raise BadParam(f"mix: {part!r} is not STATUS:PERCENT")
        end += int(pct)
        slots.append((_check_status(int(status)), end))
    if end > 100:
        raise BadParam(f"mix: percentages add up to {end}, more than 100")
    return tuple(slots)


def _check_status(status: int) -> int:
    # 1xx final responses would desync any client; early_hints covers interim responses.
    if not 200 <= status <= 999:
        raise BadParam(f"status {status} is outside 200..999")
    return status


class Exchange:
    """One request being answered: what was asked, and what has been written so far."""

    def __init__(
        self,
        sock: socket.socket,
        stop: threading.Event,
        *,
        method: str,
        target: str,
        id_value: str | None,
        request_no: int,
        close: bool,
        keep_alive_header: bool,
        mix_next: Callable[[str], int],
        request_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.sock = sock
        self.stop = stop
        self.method = method
        self.target = target
        self.params = dict(parse_qsl(target.partition("?")[2], keep_blank_values=True))
        self.id_value = id_value
        self.request_no = request_no
        self.close = close
        self.keep_alive_header = keep_alive_header  # an HTTP/1.0 client asked for keep-alive
        self.mix_next = mix_next
        self.request_headers = request_headers  # for the ledger: what the client sent
        self.fault = "ok"
        self.status: int | None = None
        self.ctype: bytes | None = None
        self.retry_after: bytes | None = None
        self.idle_s: float | None = None
        self.wire_bytes = 0
        self.body_bytes = 0
        self._sha = hashlib.sha256()

    def int_param(self, name: str, default: int, lo: int, hi: int) -> int:
        """Return a whole-number parameter within [lo, hi], or default when absent."""
        raw = self.params.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:
            raise BadParam(f"{name}={raw!r} is not a whole number in {lo}..{hi}")
        return int(raw)

    def float_param(self, name: str, default: float, lo: float, hi: float) -> float:
        """Return a number-of-seconds parameter within [lo, hi], or default when absent."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not lo <= value <= hi:  # also rejects nan
            raise BadParam(f"{name}={raw!r} is not a number in {lo:g}..{hi:g}")
        return value

    def header_param(self, name: str) -> bytes | None:
        """Return a parameter bound for a header value, refusing control characters."""
        raw = self.params.get(name)
        if raw is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
            raise BadParam(f"{name} contains control characters")
        return None if raw is None else raw.encode()

    def pick_status(self, default: int) -> int:
        """Return the status from mix, else status=, else default (call once per request)."""
        mix = self.params.get("mix")
        if mix is not None:
            slots = _parse_mix(mix)
            slot = self.mix_next(mix) % 100
            for status, end in slots:
                if slot < end:
                    return status
        return _check_status(self.int_param("status", default, 0, 999))

    def head(
        self,
        status: int,
        *,
        length: int | None,
        ctype: bytes | None = None,
        extra: Iterable[Header] = (),
        version: bytes = b"HTTP/1.1",
    ) -> bytes:
        """Build a status line and headers, ending with the blank line."""
        self.status = status
        reason = _REASONS.get(status, "Unknown").encode()
        lines = [b"%s %d %s" % (version, status, reason)]
        lines.append(b"Content-Type: " + (self.ctype or ctype or DEFAULT_CTYPE))
        if length is not None:
            lines.append(b"Content-Length: %d" % length)
        if self.id_value is not None:
            lines.append(b"X-Fault-Id: " + self.id_value.encode("latin-1"))
        if self.retry_after is not None:
            lines.append(b"Retry-After: " + self.retry_after)
        lines.extend(name + b": " + value for name, value in extra)
        if self.close:
            lines.append(b"Connection: close")
        elif self.keep_alive_header:
            lines.append(b"Connection: keep-alive")
        lines.append(b"\r\n")
        return b"\r\n".join(lines)

    def respond(
        self, status: int, body: bytes, *, ctype: bytes | None = None, extra: Iterable[Header] = ()
    ) -> Reply:
        """Return a complete, well-framed response (no body for HEAD, 204 and 304)."""
        bodiless = status in _NO_BODY_STATUSES
        head = self.head(status, length=None if bodiless else len(body), ctype=ctype, extra=extra)
        return self.end(head, b"" if bodiless or self.method == "HEAD" else body)

    def end(self, head: bytes = b"", body: bytes = b"") -> Reply:
        """Return a Reply that keeps the connection unless this request must close it."""
        if self.close:
            return Reply("close", head, body)
        if self.idle_s is not None:
            return Reply("idle_close", head, body, self.idle_s)
        return Reply("keep", head, body)

    def send(self, data: bytes, body_from: int = 0) -> None:
        """Write data now; bytes from index body_from on count as body in the ledger."""
        view = memoryview(data)
        sent = 0
        try:
            while sent < len(view):
                sent += self.sock.send(view[sent:])
        finally:  # count what reached the socket even when the peer went away midway
            self.wire_bytes += sent
            if sent > body_from:
                self.body_bytes += sent - body_from
                self._sha.update(view[body_from:sent])

    def totals(self, more_body: bytes = b"") -> tuple[int, str | None]:
        """Return (body bytes, hex sha256) as they will be once more_body is written."""
        count = self.body_bytes + len(more_body)
        if count == 0:
            return 0, None
        sha = self._sha.copy()
        sha.update(more_body)
        return count, sha.hexdigest()

    def wait(self, seconds: float) -> None:
        """Sleep, but raise Stopped at once when the server stops."""
        if seconds > 0 and self.stop.wait(seconds):
            raise Stopped


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
        ex.fault = name or "ok"
        ex.wait(delay_s)
        return handler(ex)
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
    if size <= len(_CHUNK) or status in _NO_BODY_STATUSES:
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
    "bad_status": lambda ex: Reply("close", BAD_STATUS),
    "http10": _http10,
    "early_hints": _early_hints,
    "redirect_loop": _redirect_loop,
    "close_reused": _close_reused,
}
FAULT_NAMES = tuple(_FAULTS)
