"""Turn an exception from one exchange into a stable error kind. Pure: no I/O, no state.

The kinds are documented in docs/schema.md ("error_kind vocabulary"); the order of
the checks matters and tests/verdict/test_classify.py pins it. With stream=True,
anything Session.send/HTTPAdapter.send raises happened before the body ("send"
phase); anything raised while reading is "body".
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Iterator
from enum import StrEnum

from requests import exceptions as rq
from urllib3 import exceptions as u3

from capture.verdict.kinds import ErrorKind

__all__ = ["ErrorKind", "Phase", "classify_exception"]


class Phase(StrEnum):
    """Where in the exchange an exception was raised."""

    SEND = "send"  # connect, TLS, writing the request, reading status line and headers
    BODY = "body"  # reading (and decoding) the response body


# Local exhaustion: the client ran out of ports or descriptors; never the target's fault.
_CLIENT_RESOURCE_ERRNOS = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM}
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """Yields exc and everything it wraps: args, .reason, __cause__ and __context__."""
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        item = stack.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        stack.extend(a for a in item.args if isinstance(a, BaseException))
        stack.extend((getattr(item, "reason", None), item.__cause__, item.__context__))


def classify_exception(exc: BaseException, phase: Phase, *, redirected: bool = False) -> ErrorKind:
    """Receives an exception from one exchange. Returns its error kind."""
    chain = list(_chain(exc))

    def has(*types: type[BaseException]) -> BaseException | None:
        return _find(chain, *types)

    if has(rq.TooManyRedirects):
        return ErrorKind.TOO_MANY_REDIRECTS
    if has(rq.InvalidURL, rq.InvalidSchema, rq.MissingSchema, u3.LocationParseError):
        return ErrorKind.BAD_REDIRECT if redirected else ErrorKind.INVALID_REQUEST
    if redirected and type(exc) is ValueError:  # urlsplit on a Location like http://[bad
        return ErrorKind.BAD_REDIRECT
    if has(u3.InvalidHeader):  # response side, e.g. "Content-Length: 3, 4"
        return ErrorKind.PROTOCOL
    if has(rq.InvalidHeader):  # request side: our own header failed validation
        return ErrorKind.INVALID_REQUEST
    if has(u3.NameResolutionError, socket.gaierror):
        return ErrorKind.DNS
    if has(ssl.SSLCertVerificationError, ssl.CertificateError):
        return ErrorKind.TLS_CERT
    if has(u3.SSLError, ssl.SSLError, rq.SSLError):
        return ErrorKind.TLS
    if has(u3.ProxyError, rq.ProxyError):
        return ErrorKind.PROXY
    new_conn = has(u3.NewConnectionError)
    if new_conn is not None:
        return _connect_error(new_conn)
    # NewConnectionError subclasses ConnectTimeoutError, so it is tested first (requests#2811).
    if has(u3.ConnectTimeoutError, rq.ConnectTimeout):
        return ErrorKind.CONNECT_TIMEOUT
    if has(u3.DecodeError, rq.ContentDecodingError):
        return ErrorKind.DECODE
    if phase is Phase.BODY:
        return _body_error(chain)
    if has(u3.ReadTimeoutError, rq.ReadTimeout, TimeoutError):
        return ErrorKind.READ_TIMEOUT
    # RemoteDisconnected subclasses ConnectionResetError: test it first.
    if has(http.client.RemoteDisconnected):
        return ErrorKind.REMOTE_CLOSED
    if has(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return ErrorKind.RESET
    if has(http.client.HTTPException):
        return ErrorKind.PROTOCOL
    return ErrorKind.UNKNOWN


def _connect_error(exc: BaseException) -> ErrorKind:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, ConnectionRefusedError):
        return ErrorKind.CONNECT_REFUSED
    if isinstance(cause, OSError) and cause.errno in _CLIENT_RESOURCE_ERRNOS:
        return ErrorKind.CLIENT_RESOURCE
    if "Connection refused" in str(exc):
        return ErrorKind.CONNECT_REFUSED
    return ErrorKind.CONNECT_ERROR


def _find(chain: list[BaseException], *types: type[BaseException]) -> BaseException | None:
    return next((e for e in chain if isinstance(e, types)), None)


def _body_error(chain: list[BaseException]) -> ErrorKind:
    def find(*types: type[BaseException]) -> BaseException | None:
        return _find(chain, *types)

    # A body-phase read timeout surfaces as ConnectionError, not ReadTimeout (requests#5430).
    if find(u3.ReadTimeoutError, TimeoutError):
        return ErrorKind.BODY_TIMEOUT
    if find(u3.InvalidChunkLength, http.client.LineTooLong):  # LineTooLong: chunk size line
        return ErrorKind.BAD_CHUNK
    incomplete = find(http.client.IncompleteRead, u3.IncompleteRead)
    if incomplete is not None:
        # http.client reports an unparsable chunk-size line as IncompleteRead(b'') raised
        # while handling int()'s ValueError. At EOF the line read was empty (b''); any
        # other line, such as b'zz\r\n', is a bad chunk.
        bad_line = incomplete.__context__
        if isinstance(bad_line, ValueError) and not str(bad_line).endswith("b''"):
            return ErrorKind.BAD_CHUNK
        return ErrorKind.INCOMPLETE_BODY
    if find(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return ErrorKind.BODY_RESET
    if find(u3.ProtocolError, rq.ChunkedEncodingError, http.client.HTTPException):
        return ErrorKind.INCOMPLETE_BODY  # "Response ended prematurely": no final chunk
    return ErrorKind.UNKNOWN
