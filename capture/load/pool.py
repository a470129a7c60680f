"""The session factory and the pool: N sessions, one keep-alive connection each.

Workers borrow a session by taking its ID from a queue and give it back when the
exchange is over, so a session is only ever used by one thread at a time
(requests.Session is not thread-safe: psf/requests#2766).
"""

from __future__ import annotations

import queue
import threading
import time
from http.cookiejar import CookiePolicy, DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from capture.load import headers
from capture.load.wire import send_request
from capture.redact import is_secret_header
from capture.version import __version__

__all__ = ["SessionPool", "SlotState", "build_session", "current_slot"]

USER_AGENT = f"capture/{__version__}"

# The worker sets the slot it is sending with; the connection hooks below write into it.
# Thread-local because urllib3 gives a connection no way to reach its session.
_local = threading.local()


class SlotState:
    """What one pool slot knows about its current connection."""

    __slots__ = ("conn_requests", "connect_s", "connection_no", "local_addr", "remote_addr")

    def __init__(self) -> None:
        self.connection_no = 0  # connections this slot has opened so far
        self.conn_requests = 0  # requests sent on the current connection
        self.local_addr: str | None = None
        self.remote_addr: str | None = None
        self.connect_s: float | None = None  # duration of the latest connect (TCP + TLS)


def current_slot(state: SlotState | None) -> None:
    """Make state the slot the calling thread's next exchange reports into."""
    _local.state = state


def _addr(sockaddr: Any) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _TrackingMixin:
    """Records socket addresses at connect time, before a response can close the socket.

    For `Connection: close` and HTTP/1.0 responses http.client drops conn.sock before any
    response hook runs, so reading the address afterwards is too late.
    """

    sock: Any

    def connect(self) -> None:
        state: SlotState | None = getattr(_local, "state", None)
        start = time.perf_counter()
        try:
            super().connect()  # type: ignore[misc]
        except BaseException:
            if state is not None:
                state.local_addr = state.remote_addr = None
                state.connect_s = None
            raise
        if state is not None:
            state.connect_s = time.perf_counter() - start
            state.connection_no += 1
            state.conn_requests = 0
            state.local_addr = _addr(self.sock.getsockname())
            state.remote_addr = _addr(self.sock.getpeername())

    def request(self, *args: Any, **kwargs: Any) -> None:
        # urllib3's pool passes method and url by position, the rest by keyword; the
        # bound super() method builds the request when no kept bytes serve (no closure
        # made per request).
        send_request(self, super().request, args, kwargs)  # type: ignore[misc]
        # Counted after sending: a reconnect inside request() has reset the count to 0.
        state: SlotState | None = getattr(_local, "state", None)
        if state is not None:
            state.conn_requests += 1


class _HTTPConnection(_TrackingMixin, HTTPConnection):
    response_class = headers.HTTPResponse  # the fast header parser, for capture alone


class _HTTPSConnection(_TrackingMixin, HTTPSConnection):
    response_class = headers.HTTPResponse


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _TrackingAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools build tracking connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class _BlockAll(DefaultCookiePolicy):
    """Refuses every cookie, so each request starts clean unless --keep-cookies."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


class _Session(requests.Session):
    """A session that drops every secret-looking header when a redirect changes host.

    requests strips only Authorization (sessions.py should_strip_auth); an X-Api-Key or
    X-Auth-Token would follow a redirect to another host.
    """

    def rebuild_auth(self, prepared_request: Any, response: Any) -> None:
        if self.should_strip_auth(response.request.url, prepared_request.url):  # type: ignore[no-untyped-call]
            for name in [n for n in prepared_request.headers if is_secret_header(n)]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]


def build_session(
    *, trust_env: bool = False, insecure: bool = False, keep_cookies: bool = False
) -> requests.Session:
    """Returns a session built for load: one connection, no retries, no ambient settings."""
    session = _Session()
    session.trust_env = trust_env  # no proxies or ~/.netrc from the environment by default
    session.verify = not insecure
    # Only encodings capture can decode to check and store (requests adds br when brotli
    # is installed, and a br body would be stored undecodable).
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})
    # max_retries=0: one send is exactly one attempt on the wire (requests' default too).
    adapter = _TrackingAdapter(pool_connections=1, pool_maxsize=1, pool_block=True, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not keep_cookies:
        policy: CookiePolicy = _BlockAll()
        session.cookies.set_policy(policy)
    return session


class SessionPool:
    """N sessions and a queue of their IDs; take() lends one, give() returns it."""

    def __init__(self, size: int, **session_options: bool) -> None:
        self.sessions = tuple(build_session(**session_options) for _ in range(size))
        self.slots = tuple(SlotState() for _ in range(size))
        self._ids: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(size):
            self._ids.put(i)

    def take(self, timeout: float | None = None) -> int:
        """Returns a free session ID, waiting up to timeout seconds (queue.Empty after)."""
        return self._ids.get(timeout=timeout)

    def give(self, session_id: int) -> None:
        """Returns a session ID to the pool."""
        self._ids.put(session_id)

    def close(self) -> None:
        """Closes every session's connection."""
        for session in self.sessions:
            session.close()
