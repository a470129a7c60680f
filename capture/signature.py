"""A failure's signature: its body or error message with the varying parts masked,
so 'order 123 not found' and 'order 456 not found' fall into one group. Pure."""

from __future__ import annotations

import re

__all__ = ["SIGNATURE_CHARS", "signature"]

SIGNATURE_CHARS = 160
_PREFIX_BYTES = 512

# Order matters: the more specific patterns first, numbers last.
_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (
        re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"),
        "<time>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "0x<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<addr>"),
    (re.compile(r"\d+(?:\.\d+)?"), "#"),
    (re.compile(r"\s+"), " "),
)


def signature(body: bytes | None, error_message: str | None = None) -> str | None:
    """Returns the masked first characters of a body, else of an error message."""
    if body:
        text = body[:_PREFIX_BYTES].decode("utf-8", "replace")
    elif error_message:
        text = error_message
    else:
        return None
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text.strip()[:SIGNATURE_CHARS]
