"""One exchange in full (`capture show`) and a curl command repeating it (`--curl`).
Pure: a row in, lines out, every untrusted byte made visible first."""

from __future__ import annotations

import contextlib
import json
import shlex
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING

from capture.escape import visible, visible_bytes
from capture.output.cells import outcome
from capture.output.units import ms, seconds
from capture.redact import REDACTED_PREFIX

if TYPE_CHECKING:
    from capture.store.rows import ExchangeRow

__all__ = ["curl_command", "exchange_lines", "is_text"]

_HEX_PREVIEW_BYTES = 256
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded", "html")


def _headers(raw: str | None) -> list[tuple[str, str]]:
    if not raw:
        return []
    return [(str(k), str(v)) for k, v in json.loads(raw)]


def _wire_text(value: str) -> str:
    """Shows a stored (latin-1) header value as UTF-8 where its bytes are UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value


def is_text(body: bytes, content_type: str | None) -> bool:
    """Tells whether a body should be shown as text rather than as a hex preview."""
    if content_type and any(t in content_type.lower() for t in _TEXT_TYPES):
        return True
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    printable = sum(c in string.printable or ord(c) > 0x9F for c in decoded)
    return printable >= 0.95 * max(1, len(decoded))


def _body_lines(body: bytes, content_type: str | None) -> Iterator[str]:
    if not body:
        yield "(empty body)"
        return
    if is_text(body, content_type):
        text = body.decode("utf-8", "backslashreplace")
        if content_type and "json" in content_type.lower():
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        yield from visible(text).splitlines()
        return
    yield f"(binary; hex preview of the first {min(len(body), _HEX_PREVIEW_BYTES)} bytes)"
    chunk = body[:_HEX_PREVIEW_BYTES]
    for i in range(0, len(chunk), 16):
        part = chunk[i : i + 16]
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in part)
        yield f"{i:08x}  {part.hex(' '):<47}  {ascii_}"


def exchange_lines(row: ExchangeRow) -> Iterator[str]:
    """Yields one exchange in full: request, response, body, timings, sockets, neighbours."""
    yield f"request {row['id']}  run {row['run_id']}  seq {row['seq']}  {outcome(row)}"
    yield ""
    yield f"> {row['method']} {visible(row['url'], one_line=True)}"
    for name, value in _headers(row.get("request_headers")):
        yield f"> {visible(name, one_line=True)}: {visible(value, one_line=True)}"
    request_body = row.get("request_body")
    if request_body:
        yield ">"
        yield from (f"> {line}" for line in visible_bytes(bytes(request_body)).splitlines())
    yield ""
    if row.get("status") is not None:
        version = row.get("http_version") or "HTTP/?"
        yield f"< {version} {row['status']} {visible(row.get('reason') or '', one_line=True)}"
        for name, value in _headers(row.get("response_headers")):
            yield f"< {visible(name, one_line=True)}: {visible(_wire_text(value), one_line=True)}"
        yield ""
        body = bytes(row.get("body") or b"")
        size = row.get("body_size")
        note = " (truncated: only the first part is stored)" if row.get("body_truncated") else ""
        yield f"body: {size if size is not None else len(body)} bytes received{note}"
        yield from _body_lines(body, row.get("content_type"))
        yield ""
    else:
        yield "< no response"
        yield ""
    if row.get("error_kind"):
        message = visible(row.get("error_message") or "", one_line=True)
        yield f"error: {row['error_kind']}  {row.get('error_class') or ''}"
        if message:
            yield f"  {message}"
        yield ""
    yield f"started   {row['started_at']}  (+{seconds(row['offset_ms'] / 1000, 3)} into the run)"
    timings = [f"latency {ms(row['latency_ms'])}"]
    for took, label in (
        (row.get("ttfb_ms"), "ttfb"),
        (row.get("connect_ms"), "connect"),
        (row.get("wait_ms"), "pool wait"),
        (row.get("lag_ms"), "send lag"),
    ):
        if took is not None:
            timings.append(f"{label} {ms(took)}")
    yield "timings   " + ", ".join(timings)
    reuse = row.get("connection_request_no")
    process = row.get("process")
    yield f"socket    {row.get('local_addr') or '-'} -> {row.get('remote_addr') or '-'}"
    yield (
        f"connection {row.get('connection_id') or '-'}: request #{reuse or '-'} on it;"
        f" process {'-' if process is None else process}, session {row['session']}"
        f" (its connection {row.get('connection_no') or '-'})"
    )
    if row.get("correlation_id"):
        yield f"id        {row['correlation_id']}"
    neighbours = row.get("neighbours") or []
    if neighbours:
        yield ""
        yield "same connection:"
        for n in neighbours:
            yield (
                f"  #{n['connection_request_no']:<4} id {n['id']:<8} seq {n['seq']:<8}"
                f" {outcome(n):<20} {ms(n['latency_ms'])}"
            )


def curl_command(row: ExchangeRow) -> tuple[str, int]:
    """Returns a curl command repeating the request, and how many values were redacted."""
    parts = ["curl", "-sS", "-i", "-X", row["method"]]
    redacted = 0
    for name, value in _headers(row.get("request_headers")):
        if name.lower() in ("content-length", "host"):
            continue
        if value.startswith(REDACTED_PREFIX):
            redacted += 1
            value = "REDACTED"
        parts += ["-H", f"{name}: {value}"]
    request_body = row.get("request_body")
    if request_body:
        parts += ["--data-binary", bytes(request_body).decode("utf-8", "replace")]
    parts.append(row["url"])
    return visible(shlex.join(parts), one_line=True), redacted
