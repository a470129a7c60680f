"""One request being answered by the test target: its query parameters, checked, and the
bytes written so far, counted and hashed for the ledger. The handlers in target.faults
decide what to write; this writes it."""

from __future__ import annotations

import hashlib
import math
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from urllib.parse import parse_qsl

from capture.target.shared import Shared

__all__ = [
    "NO_BODY_STATUSES",
    "PATTERN",
    "BadParam",
    "Exchange",
    "Header",
    "Reply",
    "Stopped",
    "pattern_body",
    "status_text",
]

PATTERN = b"capture target body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDE\n"
DEFAULT_CTYPE = b"text/plain; charset=utf-8"

_REASONS = {s.value: s.phrase for s in HTTPStatus}
NO_BODY_STATUSES = frozenset({204, 304})

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
        shared: Shared | None = None,
        conn_no: int = 0,
        idle_before_s: float = 0.0,
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
        self.shared = shared if shared is not None else Shared()
        self.conn_no = conn_no  # which connection of the server's, from 1
        self.idle_before_s = idle_before_s  # since this connection's previous response
        self.extra: list[Header] = []  # headers every response of this exchange carries
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
        lines.extend(name + b": " + value for name, value in (*self.extra, *extra))
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
        bodiless = status in NO_BODY_STATUSES
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
