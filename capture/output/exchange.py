"""One exchange in full (`capture show`) and a curl command repeating it (`--curl`).
Pure: a row in, lines out, every untrusted byte made visible first."""

from __future__ import annotations

import contextlib
import json
import shlex
import string
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from capture.escape import visible, visible_bytes
from capture.output.cells import outcome
from capture.output.units import ms, seconds
from capture.redact import REDACTED_PREFIX

if TYPE_CHECKING:
    from capture.store.rows import ExchangeRow

__all__ = [
    "Replayed",
    "body_lines",
    "curl_command",
    "exchange_lines",
    "has_detail",
    "header_pairs",
    "is_text",
    "replay_lines",
    "wire_text",
]

_HEX_PREVIEW_BYTES = 256
_TEXT_TYPES = ("text/", "json", "xml", "javascript", "x-www-form-urlencoded", "html")


def header_pairs(raw: str | None) -> list[tuple[str, str]]:
    if not raw:
        return []
    return [(str(k), str(v)) for k, v in json.loads(raw)]


def wire_text(value: str) -> str:
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


def body_lines(body: bytes, content_type: str | None) -> Iterator[str]:
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


def has_detail(row: ExchangeRow) -> bool:
    """Tells whether the request has its failures row (headers, body), not only the light
    requests row that every request gets."""
    return row.get("request_headers") is not None


def exchange_lines(row: ExchangeRow) -> Iterator[str]:
    """Yields one exchange in full: request, response, body, timings, sockets, neighbours;
    for a request with no failures row, only what its light row holds."""
    yield f"request {row['id']}  run {row['run_id']}  seq {row['seq']}  {outcome(row)}"
    yield ""
    if has_detail(row):
        yield from _detail_lines(row)
    else:
        yield from _light_lines(row)
    yield from _timing_lines(row)


def _light_lines(row: ExchangeRow) -> Iterator[str]:
    """The light row's part: the stored facts, and plainly that headers and body are not."""
    if row.get("failed"):
        yield "only the light row is stored: this failure's full exchange was not stored"
        yield "(it was dropped; see failures_dropped in capture runs)"
    else:
        yield "only the light row is stored for a request that did not fail:"
        yield "no headers and no body were kept (capture keeps those of failures)"
    yield ""
    yield f"> {row['method']} {visible(row['url'], one_line=True)}"
    status = row.get("status")
    yield f"< status {status}" if status is not None else "< no response"
    yield f"bytes in  {row['bytes_in']} (response body bytes on the wire)"
    if row.get("error_kind"):
        yield f"error     {row['error_kind']}"
    yield ""


def _detail_lines(row: ExchangeRow) -> Iterator[str]:
    """Request and response in full, from the failures row."""
    yield f"> {row['method']} {visible(row['url'], one_line=True)}"
    for name, value in header_pairs(row.get("request_headers")):
        yield f"> {visible(name, one_line=True)}: {visible(value, one_line=True)}"
    request_body = row.get("request_body")
    if request_body:
        yield ">"
        yield from (f"> {line}" for line in visible_bytes(bytes(request_body)).splitlines())
    yield ""
    if row.get("status") is not None:
        version = row.get("http_version") or "HTTP/?"
        yield f"< {version} {row['status']} {visible(row.get('reason') or '', one_line=True)}"
        for name, value in header_pairs(row.get("response_headers")):
            yield f"< {visible(name, one_line=True)}: {visible(wire_text(value), one_line=True)}"
        yield ""
        body = bytes(row.get("body") or b"")
        size = row.get("body_size")
        note = " (truncated: only the first part is stored)" if row.get("body_truncated") else ""
        yield f"body: {size if size is not None else len(body)} bytes received{note}"
        yield from body_lines(body, row.get("content_type"))
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


def _timing_lines(row: ExchangeRow) -> Iterator[str]:
    """When, how long, on which socket and connection, and the connection's neighbours."""
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
        yield "same connection:"  # each line opens with its #position on the connection
        for n in neighbours:
            yield (
                f"  #{n['connection_request_no']:<4} id {n['id']:<8} seq {n['seq']:<8}"
                f" {outcome(n):<20} {ms(n['latency_ms'])}"
            )


class Replayed(Protocol):
    """What `capture replay` got back (capture.load.replay.Replayed has these fields)."""

    @property
    def status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def body_size(self) -> int: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def body_changed(self) -> bool | None: ...
    @property
    def id_sent(self) -> tuple[str, str] | None: ...


def _changed(stored_status: int | None, new: Replayed) -> str:
    """Returns the changed cell: the status is always compared, the body when stored."""
    status_changed = stored_status != new.status
    status = f"status {stored_status or '-'} -> {new.status or '-'}"
    if new.body_changed is None:
        if status_changed:
            return f"yes ({status}; body not stored to compare)"
        return "- (same status; no stored body to compare)"
    if status_changed:
        return f"yes ({status}{', body too' if new.body_changed else ', same body'})"
    return "yes (body)" if new.body_changed else "no"


def replay_lines(row: ExchangeRow, new: Replayed) -> Iterator[str]:
    """Yields the stored and the replayed exchange side by side; only what was stored is
    compared (a request that did not fail has no stored body: changed is '-')."""
    detail = has_detail(row)
    if detail:
        stored_body = f"{row['body_size']} bytes" if row.get("body_size") is not None else "-"
    else:
        stored_body = f"{row['bytes_in']} bytes (body not stored)"
    new_outcome = str(new.status) if new.status is not None else f"error: {new.error}"
    changed = _changed(row.get("status"), new)
    yield f"{'':<10} {'stored':<28} {'replayed':<28}"
    yield f"{'outcome':<10} {outcome(row):<28} {new_outcome:<28}"
    yield f"{'body':<10} {stored_body:<28} {str(new.body_size) + ' bytes':<28}"
    stored_ms, new_ms = f"{row['latency_ms']:.2f} ms", f"{new.latency_ms:.2f} ms"
    yield f"{'latency':<10} {stored_ms:<28} {new_ms:<28}"
    yield f"{'changed':<10} {'':<28} {changed}"
    if new.id_sent is not None:
        name, value = new.id_sent
        stored_id = row.get("correlation_id") or "-"
        yield f"{'id':<10} {visible(stored_id, one_line=True):<28} {name}: {visible(value)}"
    if not detail:
        yield ""
        yield (
            "only the light row is stored for a request that did not fail"
            if not row.get("failed")
            else "only the light row is stored: this failure's full exchange was dropped"
        )
        yield "(no headers, no body): compared are status, size and latency only"


def curl_command(row: ExchangeRow) -> tuple[str, int]:
    """Returns a curl command repeating the request, and how many values were redacted."""
    parts = ["curl", "-sS", "-i", "-X", row["method"]]
    redacted = 0
    for name, value in header_pairs(row.get("request_headers")):
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
