"""The evidence a failed exchange leaves in its Record: request and response headers,
bodies (decoded when they decode, else the wire bytes), the error's class and message."""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import MaxRetryError

from capture.load.body import HTTP_VERSIONS, decode, header_pairs
from capture.store.record import ERROR_MESSAGE_CHARS, FailureDetail, Record

__all__ = ["failure_detail"]


def failure_detail(
    rec: Record,
    raw: Any,
    error: BaseException | None,
    body: bytes,
    keep_raw: bool,
    prepared: requests.PreparedRequest,
    headers: Any,
    max_body: int,
) -> FailureDetail:
    """Builds the evidence; keep_raw stores the wire bytes of a body that does not decode."""
    detail = FailureDetail()
    detail.request_headers = list(headers.items())
    raw_body = prepared.body
    if isinstance(raw_body, str):
        raw_body = raw_body.encode()
    if isinstance(raw_body, bytes):
        detail.request_body = raw_body[:max_body]
    if isinstance(error, MaxRetryError) and error.reason is not None:
        error = error.reason  # "max retries exceeded" with no retries: show the cause
    if error is not None:
        cls = type(error)
        detail.error_class = f"{cls.__module__}.{cls.__qualname__}"
        detail.error_message = str(error)[:ERROR_MESSAGE_CHARS]
    if raw is None:
        return detail
    detail.reason = raw.reason
    detail.http_version = HTTP_VERSIONS.get(raw.version, str(raw.version))
    detail.response_headers = header_pairs(raw)
    detail.content_type = raw.headers.get("Content-Type")
    encoding = raw.headers.get("Content-Encoding")
    detail.content_encoding = encoding
    detail.body_size = rec.bytes_in
    stored = body
    truncated = rec.bytes_in > len(body)
    if encoding and not keep_raw and body:
        decoded, more = decode(body, encoding, max_body)
        if decoded is not None:  # otherwise the raw wire bytes are kept as evidence
            stored, truncated = decoded, truncated or more
    detail.body = stored
    detail.body_truncated = truncated
    return detail
