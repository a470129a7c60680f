"""How one stored value reads in every view: a request's outcome, a URL cut to fit. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from capture.store.rows import Outcome

__all__ = ["POSITION_HEADER", "outcome", "short_url"]

# The connection_request_no column: the request's position on its connection (1 = the
# request that opened it), not the connection. One spelling in tables, show and docs.
POSITION_HEADER = "req# on conn"


def outcome(row: Outcome) -> str:
    """Returns '503', 'reset', or '200 body_reset' for a request row."""
    status, kind = row.get("status"), row.get("error_kind")
    if status is not None and kind:
        return f"{status} {kind}"
    return str(status) if status is not None else str(kind or "-")


def short_url(url: str, width: int = 40) -> str:
    """Returns path and query of url, shortened in the middle to width characters."""
    parts = urlsplit(url)
    text = parts.path + (f"?{parts.query}" if parts.query else "") or "/"
    if len(text) <= width:
        return text
    keep = (width - 1) // 2
    return f"{text[:keep]}…{text[-(width - 1 - keep) :]}"
