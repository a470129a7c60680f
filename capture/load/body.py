"""Reading and decoding a response body under caps and deadlines. Pure helpers of the
exchange; nothing here touches the pool or the store."""

from __future__ import annotations

import zlib
from time import perf_counter
from typing import Any

import requests

__all__ = [
    "HTTP_VERSIONS",
    "TotalTimeout",
    "decode",
    "decode_fails",
    "header_pairs",
    "is_encoded",
    "last_hop",
    "read_body",
    "read_redirect_body",
]

_READ_CHUNK = 64 * 1024
HTTP_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}


class TotalTimeout(Exception):
    """The --max-time deadline passed while the body was still arriving."""


def read_body(raw: Any, kept: list[bytes], cap: int, deadline: float | None) -> int:
    """Reads the whole body as wire bytes, keeping the first cap bytes. Returns bytes read."""
    read1 = raw.read1
    total = 0
    room = cap
    while True:
        # read1 returns what one recv gives, so a trickling body cannot hide a deadline.
        chunk = read1(_READ_CHUNK, decode_content=False)
        if not chunk:
            return total
        total += len(chunk)
        if room > 0:
            piece = chunk if len(chunk) <= room else chunk[:room]
            kept.append(piece)
            room -= len(piece)
        if deadline is not None and perf_counter() > deadline:
            raise TotalTimeout(f"body still arriving after --max-time ({total} bytes read)")


def read_redirect_body(response: requests.Response, cap: int) -> None:
    """A response hook for --follow-redirects: reads a redirect's body, at most cap bytes.

    requests reads each hop's body whole (`response.content`) before it follows the
    Location, with no limit; a redirect with an endless or huge body would hold a worker
    and fill memory. This hook runs first, on every hop: it keeps at most cap bytes (raw,
    not decoded) as the hop's content, and when more is left, or the read fails, closes
    the connection instead of draining it, so the next hop gets a fresh one.
    """
    if not response.is_redirect:
        return
    raw = response.raw
    kept: list[bytes] = []
    size = 0
    complete = False
    try:
        while size <= cap:
            chunk = raw.read1(_READ_CHUNK, decode_content=False)
            if not chunk:
                complete = True
                break
            kept.append(chunk)
            size += len(chunk)
    except Exception:  # a broken redirect body: the Location is all that matters
        complete = False
    if not complete:
        raw.close()
    response._content = b"".join(kept)[:cap]
    response._content_consumed = True  # type: ignore[attr-defined]


def last_hop(exc: Exception, kept: list[bytes], cap: int) -> requests.Response | None:
    """Receives an exception from send. Returns the response it carries, its body kept."""
    response = getattr(exc, "response", None)
    if not isinstance(response, requests.Response):
        return None
    try:
        body = response.content  # requests read it while following; this is its copy
    except (RuntimeError, requests.RequestException):  # the hop's body broke; drained
        body = b""
    if body:
        kept.append(body[:cap])
    return response


def is_encoded(headers: Any) -> bool:
    """Tells whether response headers announce a Content-Encoding other than identity."""
    encoding = headers.get("Content-Encoding") or ""
    return encoding.strip().lower() not in ("", "identity")


_WBITS = {"gzip": 47, "x-gzip": 47, "deflate": 15}  # 47: zlib or gzip header, auto-detected


def decode(body: bytes, encoding: str, cap: int) -> tuple[bytes | None, bool]:
    """Decodes body (gzip/deflate) to at most cap bytes. Returns (bytes or None, truncated)."""
    wbits = _WBITS.get(encoding.strip().lower())
    if wbits is None:
        return None, False
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(body, cap)
    except zlib.error:
        if wbits == 15:  # some servers send raw deflate without the zlib header
            try:
                decoder = zlib.decompressobj(-15)
                out = decoder.decompress(body, cap)
            except zlib.error:
                return None, False
        else:
            return None, False
    return out, bool(decoder.unconsumed_tail)


def decode_fails(body: bytes, encoding: str) -> bool:
    decoded, _ = decode(body, encoding, 1)
    return decoded is None and encoding.strip().lower() in _WBITS


def header_pairs(raw: Any) -> list[tuple[str, str]]:
    """Returns response headers in wire order with duplicates, values as latin-1 text."""
    # http.client's message keeps order and repeats; requests' dict merges Set-Cookie.
    original = getattr(raw, "_original_response", None)
    if original is not None:
        return [(str(k), str(v)) for k, v in original.msg.items()]
    return [(str(k), str(v)) for k, v in raw.headers.items()]
