"""A request URL's template for the per-URL view: the numbers and ids in its path and
query masked the way the body signature masks them, so /api/orders/17 and
/api/orders/18 are one template, /api/orders/#. Pure."""

from __future__ import annotations

from urllib.parse import urlsplit

# The signature's own token scan and masks: a URL and a body collapse ids alike.
from capture.store.signature import mask_tokens

__all__ = ["url_template"]


def url_template(url: str) -> str:
    """Returns url with the varying parts of its path and query masked; origin kept."""
    try:
        parts = urlsplit(url)
    except ValueError:  # stored as configured, but never trust a stored string to parse
        return mask_tokens(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme else ""
    path = mask_tokens(parts.path)
    query = "?" + mask_tokens(parts.query) if parts.query else ""
    return origin + path + query
