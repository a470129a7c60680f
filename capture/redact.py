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
        """Returns url with secrets redacted: the values of secret-named parameters in the
        query and the fragment (?api_key=REDACTED-<hmac>, #access_token=...), and a
        password in user:password@. It works on the parsed URL, so scheme case, white
        space around it, repeated and percent-encoded names (%74oken) make no difference."""
        if self.keep_secrets or not any(c in url for c in "?#@"):
            return url  # the common case, and per record when a hook built the URL
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return url  # not a URL at all (a bad [IPv6]): nothing to find in it
        changed = parts._replace(
            netloc=self._userinfo(parts.netloc),
            query=self._params(parts.query),
            fragment=self._params(parts.fragment),
        )
        return url if changed == parts else urlunsplit(changed)

    def _params(self, text: str) -> str:
        """Returns a query (or fragment) with the values of secret-named parameters redacted."""
        params = parse_qsl(text, keep_blank_values=True)
        if not any(is_secret_header(name) for name, _ in params):
            return text
        redacted = [
            (name, f"{REDACTED_QUERY_PREFIX}{self._digest(value)}")
            if is_secret_header(name)
            else (name, value)
            for name, value in params
        ]
        return urlencode(redacted)

    def _userinfo(self, netloc: str) -> str:
        """Returns netloc with the password of user:password@host redacted."""
        userinfo, at, host = netloc.rpartition("@")
        if not at:
            return netloc
        user, colon, password = userinfo.partition(":")
        if not colon:
            return f"{REDACTED_QUERY_PREFIX}{self._digest(user)}@{host}"  # a bare token
        return f"{user}:{REDACTED_QUERY_PREFIX}{self._digest(password)}@{host}"

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:12]

    def pairs(self, pairs: list[tuple[str, str]]) -> list[list[str]]:
        """Returns header pairs as [name, value] lists with secret values redacted."""
        return [[name, self.value(name, value)] for name, value in pairs]
