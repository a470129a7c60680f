"""Send a stored request again and compare the new response with the stored one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import requests

from capture.errors import UsageError
from capture.load.pool import build_session
from capture.redact import REDACTED_PREFIX, REDACTED_QUERY_PREFIX

__all__ = ["Replayed", "replay"]


@dataclass(frozen=True, slots=True)
class Replayed:
    """The new exchange: status or error, body size, latency, and the compared body."""

    status: int | None
    error: str | None
    body_size: int
    latency_ms: float
    body: bytes
    body_changed: bool | None  # None: nothing to compare


def request_parts(
    row: dict[str, Any], overrides: list[tuple[str, str]]
) -> tuple[str, str, list[tuple[str, str]], bytes | None]:
    """Returns method, URL, headers and body to send; refuses redacted values left as is."""
    headers = [(k, v) for k, v in json.loads(row.get("request_headers") or "[]")]
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
    out = [(k, v) for k, v in kept if k.lower() not in skip] + overrides
    body = bytes(row["request_body"]) if row.get("request_body") is not None else None
    return row["method"], row["url"], out, body


def replay(
    row: dict[str, Any],
    overrides: list[tuple[str, str]],
    *,
    timeout_s: float,
    max_body_bytes: int,
    insecure: bool = False,
) -> Replayed:
    """Sends the stored request once (no redirects, no retries) and reads the response."""
    method, url, headers, body = request_parts(row, overrides)
    session = build_session(insecure=insecure)
    prepared = session.prepare_request(
        requests.Request(method, url, headers=dict(headers), data=body)
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
        return Replayed(None, f"{type(exc).__name__}: {exc}", 0, _ms(start), b"", None)
    finally:
        session.close()
    stored = bytes(row.get("body") or b"")
    changed = None
    if row.get("status") is not None:
        limit = min(len(stored), len(kept)) if row.get("body_truncated") else None
        old, new = (stored[:limit], bytes(kept[:limit])) if limit else (stored, bytes(kept))
        changed = hashlib.sha256(old).digest() != hashlib.sha256(new).digest()
    return Replayed(response.status_code, None, total, _ms(start), bytes(kept), changed)


def _ms(start: float) -> float:
    return (perf_counter() - start) * 1000.0
