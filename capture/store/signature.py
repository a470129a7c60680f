"""A failure's signature: its body or error message with the varying parts masked,
so 'order 123 not found' and 'order 456 not found' fall into one group. Pure."""

from __future__ import annotations

import functools
import re

__all__ = ["SIGNATURE_CHARS", "mask_tokens", "signature"]

SIGNATURE_CHARS = 160
_PREFIX_BYTES = 256  # masking only shortens text: this covers SIGNATURE_CHARS

# Only runs of characters that contain a digit can vary (ids, times, counts, addresses):
# find those with one cheap scan, then classify each. HTTP-dates span spaces: separate.
_TOKEN = re.compile(r"(?<![\w.:+\-])[\w.:+\-]*\d[\w.:+\-]*")  # from token starts only
_HTTP_DATE = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT")
_KINDS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"0x[0-9a-fA-F]+"), "0x<hex>"),
    (re.compile(r"[0-9a-fA-F]{12,}"), "<hex>"),
    (re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"), "<addr>"),
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _mask(match: re.Match[str]) -> str:
    token = match.group()
    for pattern, replacement in _KINDS:
        if pattern.fullmatch(token):
            return replacement
    return _NUMBER.sub("#", token)


def signature(body: bytes | None, error_message: str | None = None) -> str | None:
    """Returns the masked first characters of a body, else of an error message."""
    if body:
        return _masked(body[:_PREFIX_BYTES].decode("utf-8", "replace"))
    if error_message:
        return _masked(error_message[:_PREFIX_BYTES])
    return None


@functools.lru_cache(maxsize=1024)  # error storms repeat a few bodies many times
def mask_tokens(text: str) -> str:
    """Returns text with its ids, times, counts and addresses masked (no length limit)."""
    return _TOKEN.sub(_mask, text)


def _masked(text: str) -> str:
    if "GMT" in text:
        text = _HTTP_DATE.sub("<time>", text)
    return " ".join(mask_tokens(text).split())[:SIGNATURE_CHARS]
