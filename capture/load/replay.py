"""Send a stored request again and compare the new response with the stored one."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

import requests

from capture.errors import UsageError
from capture.load.pool import build_session
from capture.redact import REDACTED_PREFIX, REDACTED_QUERY_PREFIX

if TYPE_CHECKING:
    from capture.store.rows import ExchangeRow

__all__ = ["Replayed", "fresh_id", "replay", "request_parts"]


@dataclass(frozen=True, slots=True)
class Replayed:
    """The new exchange: status or error, body size, latency, and the compared body."""

    status: int | None
    error: str | None
    body_size: int
    latency_ms: float
    body: bytes
    body_changed: bool | None  # None: nothing stored to compare with
    id_sent: tuple[str, str] | None = None  # the correlation header sent, if any


@dataclass(frozen=True, slots=True)
class Request:
    """What replay sends: method, URL, headers, body, and the correlation header in them."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    id_sent: tuple[str, str] | None


def fresh_id() -> str:
    """Returns a new correlation id, unlike any a run writes (those are RUN-SEQ)."""
    return f"replay-{secrets.token_hex(6)}"


def request_parts(
    row: ExchangeRow,
    overrides: list[tuple[str, str]],
    *,
    id_header: str | None = None,
    reuse_id: bool = False,
) -> Request:
    """Returns what to send; refuses redacted values left as is. The run's id_header gets
    a fresh value (the stored one with reuse_id), unless an override names it."""
    headers = [(str(k), str(v)) for k, v in json.loads(row.get("request_headers") or "[]")]
    names = {k.lower() for k, _ in overrides}
    kept = [(k, v) for k, v in headers if k.lower() not in names]
    missing = [k for k, v in kept if v.startswith(REDACTED_PREFIX)]
    if missing:
        raise UsageError(
            f"header {missing[0]!r} was stored redacted: give its value with "
            f"--header '{missing[0]}: VALUE'"
        )
    if REDACTED_QUERY_PREFIX in row["url"]:
        raise UsageError("the URL was stored with redacted query values: replay cannot send it")
    skip = {"content-length", "host"}
    out = [(k, v) for k, v in kept if k.lower() not in skip]
    id_sent = None
    if id_header is not None and id_header.lower() not in names:
        stored = next((v for k, v in out if k.lower() == id_header.lower()), None)
        stored = stored or row.get("correlation_id")
        out = [(k, v) for k, v in out if k.lower() != id_header.lower()]
        if stored is not None:  # the stored request carried one: send one too
            id_sent = (id_header, stored if reuse_id else fresh_id())
            out.append(id_sent)
    stored_body = row.get("request_body")
    body = bytes(stored_body) if stored_body is not None else None
    return Request(row["method"], row["url"], out + overrides, body, id_sent)


def replay(
    row: ExchangeRow,
    overrides: list[tuple[str, str]],
    *,
    timeout_s: float,
    max_body_bytes: int,
    insecure: bool = False,
    id_header: str | None = None,
    reuse_id: bool = False,
) -> Replayed:
    """Sends the stored request once (no redirects, no retries) and reads the response."""
    parts = request_parts(row, overrides, id_header=id_header, reuse_id=reuse_id)
    session = build_session(insecure=insecure)
    prepared = session.prepare_request(
        requests.Request(parts.method, parts.url, headers=dict(parts.headers), data=parts.body)
    )
    start = perf_counter()
    try:
        response = session.send(
            prepared, stream=True, allow_redirects=False, timeout=(timeout_s, timeout_s)
        )
        kept = bytearray()
        total = 0
        for chunk in response.iter_content(64 * 1024, decode_unicode=False):
            total += len(chunk)
            if len(kept) < max_body_bytes:
                kept += chunk[: max_body_bytes - len(kept)]
        response.close()
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
        return Replayed(None, error, 0, _ms(start), b"", None, parts.id_sent)
    finally:
        session.close()
    changed = _body_changed(row, bytes(kept))
    return Replayed(
        response.status_code, None, total, _ms(start), bytes(kept), changed, parts.id_sent
    )


def _body_changed(row: ExchangeRow, new: bytes) -> bool | None:
    """Tells whether the new body differs from the stored one; None when none is stored
    (a request that did not fail keeps only its light row, a transport error no body)."""
    if row.get("status") is None or row.get("request_headers") is None:
        return None
    stored = bytes(row.get("body") or b"")
    limit = min(len(stored), len(new)) if row.get("body_truncated") else None
    old, fresh = (stored[:limit], new[:limit]) if limit else (stored, new)
    return hashlib.sha256(old).digest() != hashlib.sha256(fresh).digest()


def _ms(start: float) -> float:
    return (perf_counter() - start) * 1000.0
