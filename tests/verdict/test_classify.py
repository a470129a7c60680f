"""The judging order of exceptions: real exception objects, built the way requests,
urllib3 and http.client raise and wrap them, through the one door (verdict.judge)."""

from __future__ import annotations

import errno
import http.client
import io
import socket
import ssl
import zlib

import pytest
import urllib3
from requests import exceptions as rq
from urllib3 import exceptions as u3

from capture.config import DEFAULT_FAIL_STATUS
from capture.load.body import TotalTimeout
from capture.verdict.classify import Phase
from capture.verdict.judge import Criteria, judge
from capture.verdict.kinds import ErrorKind as K

CRITERIA = Criteria(DEFAULT_FAIL_STATUS.lookup_table(), deadline_errors=(TotalTimeout,))
SEND, BODY = Phase.SEND, Phase.BODY
URL = "http://127.0.0.1:9/"


def caused(exc: BaseException, cause: BaseException) -> BaseException:
    """Returns exc as `raise exc from cause` leaves it."""
    exc.__cause__ = cause
    return exc


def during(exc: BaseException, context: BaseException) -> BaseException:
    """Returns exc as raising it while handling context leaves it."""
    exc.__context__ = context
    return exc


def connection(reason: BaseException) -> rq.ConnectionError:
    """What HTTPAdapter.send raises for a urllib3 failure: ConnectionError(MaxRetryError)."""
    return rq.ConnectionError(u3.MaxRetryError(None, URL, reason))  # type: ignore[arg-type]


def new_connection(cause: BaseException, message: str = "Failed to establish") -> BaseException:
    return caused(u3.NewConnectionError(None, message), cause)  # type: ignore[arg-type]


def broken(cause: BaseException, message: str = "Connection aborted.") -> u3.ProtocolError:
    return u3.ProtocolError(message, cause)


def read_timeout() -> u3.ReadTimeoutError:
    return u3.ReadTimeoutError(None, URL, "Read timed out. (read timeout=1.0)")  # type: ignore[arg-type]


def bad_chunk_length() -> u3.InvalidChunkLength:
    return u3.InvalidChunkLength(urllib3.HTTPResponse(body=io.BytesIO(b"")), b"zz")


def dns() -> BaseException:
    gai = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return caused(u3.NameResolutionError("nowhere.invalid", None, gai), gai)  # type: ignore[arg-type]


ROWS = [
    # Connect: refused, out of local resources, other; DNS (a NewConnectionError subclass).
    (
        connection(new_connection(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))),
        SEND,
        K.CONNECT_REFUSED,
    ),
    (connection(new_connection(OSError(errno.EADDRNOTAVAIL, "no port"))), SEND, K.CLIENT_RESOURCE),
    (connection(new_connection(OSError(errno.EMFILE, "too many files"))), SEND, K.CLIENT_RESOURCE),
    (connection(new_connection(OSError(errno.ENETUNREACH, "unreachable"))), SEND, K.CONNECT_ERROR),
    (
        connection(u3.NewConnectionError(None, "[Errno 111] Connection refused")),
        SEND,
        K.CONNECT_REFUSED,
    ),  # type: ignore[arg-type]
    (connection(dns()), SEND, K.DNS),
    (socket.gaierror(socket.EAI_AGAIN, "Temporary failure"), SEND, K.DNS),
    # NewConnectionError subclasses ConnectTimeoutError: a real connect timeout is its own kind.
    (
        rq.ConnectTimeout(u3.MaxRetryError(None, URL, u3.ConnectTimeoutError("timed out"))),
        SEND,
        K.CONNECT_TIMEOUT,
    ),  # type: ignore[arg-type]
    # TLS: the certificate, then anything else TLS, even wrapping a reset.
    (
        rq.SSLError(
            u3.MaxRetryError(
                None, URL, u3.SSLError(ssl.SSLCertVerificationError(1, "verify failed"))
            )
        ),
        SEND,
        K.TLS_CERT,
    ),  # type: ignore[arg-type]
    (
        rq.SSLError(u3.MaxRetryError(None, URL, u3.SSLError(ssl.SSLError(1, "wrong version")))),
        SEND,
        K.TLS,
    ),  # type: ignore[arg-type]
    (connection(caused(u3.SSLError("EOF"), ConnectionResetError(104, "reset"))), SEND, K.TLS),
    (rq.SSLError("handshake"), BODY, K.TLS),  # before the phase
    (
        rq.ProxyError(
            u3.MaxRetryError(None, URL, u3.ProxyError("Unable to connect to proxy", OSError("x")))
        ),
        SEND,
        K.PROXY,
    ),  # type: ignore[arg-type]
    # No status line in time; the server closed; reset; bad status line or headers.
    (rq.ReadTimeout(read_timeout()), SEND, K.READ_TIMEOUT),
    (read_timeout(), SEND, K.READ_TIMEOUT),
    (TimeoutError("timed out"), SEND, K.READ_TIMEOUT),
    (
        connection(broken(http.client.RemoteDisconnected("Remote end closed"))),
        SEND,
        K.REMOTE_CLOSED,
    ),
    (connection(broken(ConnectionResetError(104, "Connection reset by peer"))), SEND, K.RESET),
    (connection(broken(BrokenPipeError(32, "Broken pipe"))), SEND, K.RESET),
    (connection(broken(ConnectionAbortedError(103, "aborted"))), SEND, K.RESET),
    (connection(broken(http.client.BadStatusLine("HTTP/9 200"))), SEND, K.PROTOCOL),
    (connection(broken(http.client.LineTooLong("header line"))), SEND, K.PROTOCOL),
    (u3.InvalidHeader("Content-Length: 3, 4"), SEND, K.PROTOCOL),  # the response's header
    (rq.InvalidHeader("our own header"), SEND, K.INVALID_REQUEST),  # the request's header
    # Body phase: a read timeout surfaces as ConnectionError there (requests#5430).
    (connection(read_timeout()), BODY, K.BODY_TIMEOUT),
    (TimeoutError("timed out"), BODY, K.BODY_TIMEOUT),
    (rq.ChunkedEncodingError(broken(bad_chunk_length(), "Connection broken")), BODY, K.BAD_CHUNK),
    (http.client.LineTooLong("chunk size"), BODY, K.BAD_CHUNK),
    (
        during(http.client.IncompleteRead(b""), ValueError("invalid literal: b'zz\\r\\n'")),
        BODY,
        K.BAD_CHUNK,
    ),
    (
        during(http.client.IncompleteRead(b""), ValueError("invalid literal: b''")),
        BODY,
        K.INCOMPLETE_BODY,
    ),
    (broken(u3.IncompleteRead(0, 10), "Connection broken"), BODY, K.INCOMPLETE_BODY),
    (rq.ChunkedEncodingError(broken(ConnectionResetError(104, "reset"))), BODY, K.BODY_RESET),
    (broken(BrokenPipeError(32, "Broken pipe")), BODY, K.BODY_RESET),
    (
        rq.ChunkedEncodingError(u3.ProtocolError("Response ended prematurely")),
        BODY,
        K.INCOMPLETE_BODY,
    ),
    (
        connection(broken(http.client.RemoteDisconnected("closed"))),
        BODY,
        K.BODY_RESET,
    ),  # a reset subclass
    # Decoding, in either phase; it comes before the phase's own checks.
    (
        rq.ContentDecodingError(u3.DecodeError("failed to decode", zlib.error("bad header"))),
        BODY,
        K.DECODE,
    ),
    (u3.DecodeError("failed to decode"), SEND, K.DECODE),
    (rq.ContentDecodingError(broken(ConnectionResetError(104, "reset"))), BODY, K.DECODE),
    # Redirects and URLs.
    (rq.TooManyRedirects("Exceeded 30 redirects."), SEND, K.TOO_MANY_REDIRECTS),
    (caused(rq.TooManyRedirects("Exceeded"), rq.InvalidURL("x")), SEND, K.TOO_MANY_REDIRECTS),
    (rq.InvalidURL("Invalid URL"), SEND, K.INVALID_REQUEST),
    (rq.MissingSchema("No scheme"), SEND, K.INVALID_REQUEST),
    (rq.InvalidSchema("No connection adapters"), SEND, K.INVALID_REQUEST),
    (u3.LocationParseError("http://[bad"), SEND, K.INVALID_REQUEST),
    (ValueError("Invalid IPv6 URL"), SEND, K.UNKNOWN),  # not after a redirect
    # capture's own --max-time deadline, in either phase, whatever it wraps.
    (TotalTimeout("body still arriving after --max-time"), BODY, K.TOTAL_TIMEOUT),
    (during(TotalTimeout("late"), ConnectionResetError(104, "reset")), SEND, K.TOTAL_TIMEOUT),
    # Anything else, with its class and message stored.
    (RuntimeError("surprise"), SEND, K.UNKNOWN),
    (RuntimeError("surprise"), BODY, K.UNKNOWN),
    (connection(OSError("odd")), SEND, K.UNKNOWN),
]


@pytest.mark.parametrize(("error", "phase", "kind"), ROWS, ids=lambda v: type(v).__name__)
def test_exception_kind(error: BaseException, phase: Phase, kind: K) -> None:
    verdict = judge(CRITERIA, None, 0.01, error, phase)
    assert (verdict.kind, verdict.failed) == (kind.value, True)
    assert type(verdict.kind) is str  # stored as plain text


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (rq.InvalidURL("Invalid URL 'http://[x'"), K.BAD_REDIRECT),
        (rq.MissingSchema("No scheme"), K.BAD_REDIRECT),
        (u3.LocationParseError("http://[bad"), K.BAD_REDIRECT),
        (ValueError("Invalid IPv6 URL"), K.BAD_REDIRECT),  # urlsplit on a bad Location
        (rq.TooManyRedirects("Exceeded 30 redirects."), K.TOO_MANY_REDIRECTS),
        (connection(broken(ConnectionResetError(104, "reset"))), K.RESET),
    ],
    ids=lambda v: type(v).__name__,
)
def test_exception_kind_after_a_redirect(error: BaseException, kind: K) -> None:
    verdict = judge(CRITERIA, None, 0.01, error, SEND, redirected=True)
    assert (verdict.kind, verdict.failed) == (kind.value, True)


@pytest.mark.parametrize(
    ("max_time_s", "latency_s", "kind"),
    [
        (None, 5.0, K.READ_TIMEOUT),
        (2.0, 1.9, K.READ_TIMEOUT),
        (2.0, 2.0, K.TOTAL_TIMEOUT),  # urllib3's total= cut the wait: --max-time did it
        (2.0, 2.5, K.TOTAL_TIMEOUT),
    ],
)
def test_read_timeout_at_max_time_is_a_total_timeout(
    max_time_s: float | None, latency_s: float, kind: K
) -> None:
    criteria = Criteria(DEFAULT_FAIL_STATUS.lookup_table(), max_time_s=max_time_s)
    verdict = judge(criteria, None, latency_s, rq.ReadTimeout(read_timeout()), SEND)
    assert (verdict.kind, verdict.failed) == (kind.value, True)
