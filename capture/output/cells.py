"""How one stored value reads in every view: a request's outcome, a URL cut to fit. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.cells import cell_len, set_cell_size

if TYPE_CHECKING:
    from capture.store.rows import Outcome

__all__ = ["POSITION_HEADER", "cut_end", "cut_middle", "outcome", "short_url"]

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
    return cut_middle(text, width)


def cut_middle(text: str, width: int) -> str:
    """Returns text cut in the middle to width cells, so that both ends stay readable:
    '/api/…/orders/17'."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = (width - 1) // 2
    head = set_cell_size(text, keep)
    tail = set_cell_size(text[::-1], width - 1 - keep)[::-1]
    return f"{head}…{tail}"


def cut_end(text: str, width: int) -> str:
    """Returns text cut at the end to width cells, with an ellipsis."""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(0, width - 1)) + "…"[: max(0, width)]
