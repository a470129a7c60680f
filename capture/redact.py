"""Redaction of secret header values before anything is stored or printed."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["Redactor", "is_secret_header"]

_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_PARTS = re.compile(r"token|api[-_]?key|secret|password|session-?id", re.IGNORECASE)
REDACTED_PREFIX = "[redacted"
REDACTED_QUERY_PREFIX = "REDACTED-"


def is_secret_header(name: str) -> bool:
    """Tells whether a header's value is a credential that must not be stored as sent."""
    return name.lower() in _SECRET_NAMES or bool(_SECRET_PARTS.search(name))


class Redactor:
    """Replaces secret values by '[redacted len=N hmac=xxxxxxxxxxxx]'.

    The HMAC key is random per run, so equal values within a run compare equal while
    the stored text cannot be brute-forced back into a short token.
    """

    def __init__(self, *, keep_secrets: bool = False, key: bytes | None = None) -> None:
        self.keep_secrets = keep_secrets
        self._key = key if key is not None else os.urandom(16)

    def value(self, name: str, value: str) -> str:
        """Returns value, or its redacted stand-in when name is a secret header."""
        if self.keep_secrets or not is_secret_header(name):
            return value
        digest = hmac.new(self._key, value.encode("latin-1", "replace"), hashlib.sha256)
        return f"{REDACTED_PREFIX} len={len(value)} hmac={digest.hexdigest()[:12]}]"

    def url(self, url: str) -> str:
        """Returns url with the values of secret-named query parameters redacted
        (?api_key=REDACTED-<hmac>), so a token in a URL is not stored either."""
        if self.keep_secrets or "?" not in url:
            return url
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=True)
        if not any(is_secret_header(name) for name, _ in params):
            return url
        redacted = [
            (name, f"{REDACTED_QUERY_PREFIX}{self._digest(value)}")
            if is_secret_header(name)
            else (name, value)
            for name, value in params
        ]
        return urlunsplit(parts._replace(query=urlencode(redacted)))

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:12]

    def pairs(self, pairs: list[tuple[str, str]]) -> list[list[str]]:
        """Returns header pairs as [name, value] lists with secret values redacted."""
        return [[name, self.value(name, value)] for name, value in pairs]
