"""The error-kind vocabulary: every kind capture writes to `requests.error_kind`.

Its own module, free of requests and urllib3, so the store can name kinds cheaply.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["CONNECT_PHASE", "ErrorKind"]


class ErrorKind(StrEnum):
    """The documented vocabulary of `requests.error_kind` (docs/schema.md), complete.

    An is_failure hook may also return a kind of its own, stored as given: so a stored
    kind is one of these or a hook's string.
    """

    DNS = "dns"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    CONNECT_ERROR = "connect_error"
    CLIENT_RESOURCE = "client_resource"
    TLS_CERT = "tls_cert"
    TLS = "tls"
    PROXY = "proxy"
    READ_TIMEOUT = "read_timeout"
    REMOTE_CLOSED = "remote_closed"
    RESET = "reset"
    PROTOCOL = "protocol"
    BODY_TIMEOUT = "body_timeout"
    BODY_RESET = "body_reset"
    INCOMPLETE_BODY = "incomplete_body"
    BAD_CHUNK = "bad_chunk"
    DECODE = "decode"
    TOTAL_TIMEOUT = "total_timeout"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BAD_REDIRECT = "bad_redirect"
    INVALID_REQUEST = "invalid_request"
    SLOW = "slow"
    BODY_MATCH = "body_match"  # --fail-if-body matched
    BODY_MISMATCH = "body_mismatch"  # --expect-body did not match
    HEADER_MISMATCH = "header_mismatch"  # --expect-header missing or not matching
    JSON_MATCH = "json_match"  # a --fail-if-json check matched
    JSON_INVALID = "json_invalid"  # --fail-if-json, and the body was not JSON
    HOOK = "hook"  # is_failure returned True
    HOOK_ERROR = "hook_error"  # a hook raised
    UNKNOWN = "unknown"


# The kinds of an exchange that ended while its connection was being made: name lookup,
# TCP, TLS, a proxy. Nothing of the request reached the server on that connection.
CONNECT_PHASE = frozenset(
    {
        ErrorKind.DNS,
        ErrorKind.CONNECT_REFUSED,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.CONNECT_ERROR,
        ErrorKind.CLIENT_RESOURCE,
        ErrorKind.TLS_CERT,
        ErrorKind.TLS,
        ErrorKind.PROXY,
    }
)
