"""Redaction of secret header values before anything is stored or printed."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

__all__ = ["Redactor", "is_secret_header", "run_redactor"]

_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_PARTS = re.compile(r"token|api[-_]?key|secret|password|session-?id", re.IGNORECASE)
REDACTED_PREFIX = "[redacted"
REDACTED_QUERY_PREFIX = "REDACTED-"
# Characters without which a URL holds no secret Redactor.url can find: a query, a
# fragment, user:password@, a ;matrix=parameter, or a %-escape that may hide one of them.
_URL_SECRET_MARKS = frozenset("?#@;%")
# Query and fragment pieces end at '&' or ';' (servers split on either: Rails, Jetty,
# Python < 3.10); path segments carry ;name=value matrix parameters.
_QUERY_SEPARATORS = re.compile(r"([&;])")
_MATRIX_SEPARATORS = re.compile(r"(;)")


def _decoded(text: str) -> str:
    """Returns text percent-decoded until nothing changes: %2565 is 'e', as a server
    that decodes twice sees it. Ends: each round that changes text shortens it."""
    while (once := unquote_plus(text)) != text:
        text = once
    return text


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
        query, the fragment and ;matrix parameters of the path (?api_key=REDACTED-<hmac>,
        #access_token=..., /a;token=...), and a password in user:password@. It works on
        the parsed URL and on each parameter decoded (%74oken, tok%2565n, token%3DV,
        '&' or ';' between them), so no spelling gets a secret past it."""
        if self.keep_secrets or _URL_SECRET_MARKS.isdisjoint(url):
            return url  # the common case, and per record when a hook built the URL
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            return url  # not a URL at all (a bad [IPv6]): nothing to find in it
        changed = parts._replace(
            netloc=self._userinfo(parts.netloc),
            path="/".join(self._segment(segment) for segment in parts.path.split("/")),
            query=self._params(parts.query),
            fragment=self._params(parts.fragment),
        )
        return url if changed == parts else urlunsplit(changed)

    def _segment(self, segment: str) -> str:
        """Returns a path segment with secret ;name=value matrix parameters redacted."""
        decoded = _decoded(segment)
        if ";" not in decoded:
            return segment
        head, _, params = decoded.partition(";")
        shown = self._params(params, separators=_MATRIX_SEPARATORS)
        return segment if shown == params else f"{quote(head)};{shown}"

    def _params(self, text: str, *, separators: re.Pattern[str] = _QUERY_SEPARATORS) -> str:
        """Returns a query (or fragment) with the values of secret-named parameters redacted;
        the other pieces stay as typed."""
        pieces = separators.split(text)  # [piece, separator, piece, ...]
        pieces[::2] = [self._piece(piece, separators) for piece in pieces[::2]]
        return "".join(pieces)

    def _piece(self, piece: str, separators: re.Pattern[str]) -> str:
        """Returns one name=value piece, redacted when, decoded, it names a secret: the
        decoded form may itself hold several pieces (a=1%26token=V)."""
        decoded = _decoded(piece)
        inner = separators.split(decoded)
        if not any(self._secret_piece(part) for part in inner[::2]):
            return piece
        inner[::2] = [self._shown(part) for part in inner[::2]]
        return "".join(inner)

    @staticmethod
    def _secret_piece(part: str) -> bool:
        name, eq, _ = part.partition("=")
        return bool(eq) and is_secret_header(name)

    def _shown(self, part: str) -> str:
        """Returns a decoded name=value piece quoted again, its value redacted if secret."""
        name, _, value = part.partition("=")
        if not self._secret_piece(part):
            return quote(part, safe="=")
        return f"{quote(name)}={REDACTED_QUERY_PREFIX}{self._digest(value)}"

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


@functools.lru_cache(maxsize=8)
def run_redactor(keep_secrets: bool, key: bytes) -> Redactor:
    """Returns the one Redactor of the run whose key this is, built on first use.

    The CLI redacts the command line before the run starts and the runner redacts every
    row after: both ask here, so the run has one Redactor, not one per caller."""
    return Redactor(keep_secrets=keep_secrets, key=key)
