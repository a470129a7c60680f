"""Make untrusted text safe for a terminal: no escape sequence from a server ever
reaches it (kubectl's CVE-2021-25743 is the cautionary tale).

Imports nothing of capture, so errors.py can escape every message it carries.
"""

from __future__ import annotations

import re

__all__ = ["visible", "visible_bytes"]

# C0 controls except newline and tab, DEL, C1 controls, and bidi overrides/isolates.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_CELL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """Returns text with control characters shown as escapes (\\x1b, \\r, \\u202e)."""
    return (_UNSAFE_IN_CELL if one_line else _UNSAFE).sub(_escape, text)


def visible_bytes(data: bytes, *, one_line: bool = False) -> str:
    """Decodes bytes as UTF-8 (invalid bytes as \\xNN) and escapes control characters."""
    text = data.decode("utf-8", "backslashreplace")
    return visible(text, one_line=one_line)
