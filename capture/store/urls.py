"""A request URL's template for the per-URL view: the ids in its path and query masked
the way the body signature masks them, so /api/orders/17 and /api/orders/18 are one
template, /api/orders/#, while /api/v1 and /api/v2 stay two. Pure."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# The signature's own token scan and masks: a URL and a body collapse ids alike.
from capture.store.signature import mask_tokens

__all__ = ["url_template"]

_PLACEHOLDER = re.compile(r"0x<hex>|<\w+>")
_LETTER = re.compile(r"[A-Za-z]")
_LONG_NUMBER = re.compile(r"\d{3,}")


def url_template(url: str) -> str:
    """Returns url with the varying parts of its path and query masked; origin kept."""
    try:
        parts = urlsplit(url)
    except ValueError:  # stored as configured, but never trust a stored string to parse
        return mask_tokens(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
    path = "/".join(_value(segment) for segment in parts.path.split("/"))
    query = "?" + _query(parts.query) if parts.query else ""
    return origin + path + query


def _query(query: str) -> str:
    """Returns a query string with each value masked, the names kept."""
    pairs = (pair.partition("=") for pair in query.split("&"))
    return "&".join(f"{name}{eq}{_value(value)}" for name, eq, value in pairs)


def _value(text: str) -> str:
    """Returns a path segment or query value masked when it is an id.

    A value that is nothing but an id (17, a UUID, a long hex, a time, an address) is
    masked whole. One that is also a word keeps its short numbers, which name things
    rather than count them (v1, v2, s3, oauth2), and masks numbers of three digits or
    more (user12345 -> user#): merging /api/v1 with /api/v2 would hide which one fails."""
    masked = mask_tokens(text)
    if not _LETTER.search(_PLACEHOLDER.sub("", masked)):
        return masked
    return _LONG_NUMBER.sub("#", text)
