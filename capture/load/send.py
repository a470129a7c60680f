"""One exchange on the wire: send a prepared request, read the body under caps and
deadlines, and fill in the Record's timings and connection; load.assess then judges it.
Runs thousands of times a second, so everything that does not vary per request is
computed once in `Sender.__init__`, and hook machinery costs nothing when unused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ClosedPoolError
from urllib3.util import Retry, Timeout

from capture.config import RunConfig, Target
from capture.errors import UsageError
from capture.load.assess import Assessor
from capture.load.backend import backend_lookup, backend_of
from capture.load.body import last_hop, read_body, read_redirect_body
from capture.load.hooks import Context, Hooks, Outcome
from capture.load.pool import SessionPool, current_slot
from capture.load.wire import WireHeaders
from capture.parse import check_header
from capture.store.record import FailureDetail, Record, mark_hook_error
from capture.verdict.classify import Phase

__all__ = ["FailureDetail", "Record", "Sender", "mark_hook_error"]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A target prepared once: the request, and the send settings for its URL."""

    request: requests.PreparedRequest
    verify: bool | str
    proxies: dict[str, str]
    path: str  # what the request line carries (path and query)
    # The same headers, whose connection sends the request's bytes as first built
    # (load/wire.py); None where requests' machinery sends it (a proxy).
    wire: WireHeaders | None


def _no_stop(reason: str) -> None:
    """The stop callback when the caller gives none."""


class Sender:
    """Sends one request with a given pool slot and fills in its Record."""

    def __init__(
        self,
        config: RunConfig,
        pool: SessionPool,
        run_id: int,
        run_start: float,
        *,
        hooks: Hooks | None = None,
        stop: Callable[[str], None] = _no_stop,
        run_key: str | None = None,
    ) -> None:
        """run_key starts every --id-header value (KEY-SEQ); None: the run id, for a
        Sender used outside a stored run."""
        self._pool = pool
        self._id_prefix = str(run_id) if run_key is None else run_key
        self._run_start = run_start
        self._max_body = config.max_body_bytes
        self._max_time_s = config.max_time_s
        self._id_header = config.id_header
        self._follow = config.follow_redirects
        self._backend = backend_lookup(config.backend_headers)  # () with --backend-header none
        # The adapter is called directly (no redirects, cookies or hooks) unless an
        # option needs the session's machinery; this skips per-call settings merges.
        self._fast = not (config.follow_redirects or config.keep_cookies)
        self._keep_cookies = config.keep_cookies
        # requests' own default: one attempt on the wire, connect errors not retried.
        self._retries = Retry(0, read=False)
        # A urllib3 Timeout, not a tuple: its total= bounds connect plus headers too.
        self._timeout: Any = Timeout(
            connect=config.timeout_s, read=config.timeout_s, total=config.max_time_s
        )
        self._assess = Assessor(config, run_id, hooks=hooks, stop=stop)
        self._build = hooks.build_request if hooks is not None else None
        if config.follow_redirects:
            for each in pool.sessions:  # before preparing: requests copy session hooks
                each.hooks["response"].append(self._cap_redirect)
        session = pool.sessions[0]
        self._targets = tuple(self._prepare(session, t) for t in config.targets)
        # Each session's urllib3 pool per target, found once: the adapter would look it
        # up (and build a requests.Response and a cookie jar) on every call.
        self._pools: tuple[dict[int, Any], ...] = tuple({} for _ in pool.sessions)
        self._live: list[Any] = [None] * len(pool.sessions)  # each session's pool in use

    def _pool_for(self, rec: Record, target: _Prepared, fresh: bool = False) -> Any:
        """Returns the session's connection pool for rec's target (cached).

        A session keeps one connection: moving to another host's pool closes the pool
        it used before. (urllib3 2 no longer closes pools it evicts, so without this a
        session alternating between hosts would hold a socket to each.)
        """
        pools = self._pools[rec.session]
        found: Any = pools.get(rec.target)
        if found is None or found.pool is None or fresh:  # .pool is None once closed
            adapter: Any = self._pool.sessions[rec.session].get_adapter(target.request.url or "")
            found = adapter.get_connection_with_tls_context(
                target.request, target.verify, proxies=target.proxies
            )
            adapter.cert_verify(found, target.request.url, target.verify, None)
            pools[rec.target] = found
        live = self._live[rec.session]
        if live is not found:
            if live is not None:
                live.close()
            self._live[rec.session] = found
        return found

    def close(self) -> None:
        """Closes each session's connection: the pools _pool_for found stay open after
        the sessions close (requests' own close() does not reach them)."""
        for live in self._live:
            if live is not None:
                live.close()

    def _cap_redirect(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        read_redirect_body(response, self._max_body)

    @staticmethod
    def _prepare(session: requests.Session, target: Target | requests.Request) -> _Prepared:
        request = (
            target
            if isinstance(target, requests.Request)
            else requests.Request(
                target.method, target.url, headers=dict(target.headers), data=target.body
            )
        )
        prepared = session.prepare_request(request)
        settings = session.merge_environment_settings(prepared.url, {}, False, None, None)
        verify = settings["verify"]
        return _Prepared(
            prepared,
            True if verify is None else verify,
            dict(settings["proxies"] or {}),
            prepared.path_url,
            None if settings["proxies"] else WireHeaders(prepared.headers.items()),
        )

    def context(self, rec: Record) -> Context:
        """Returns what hooks are told about rec."""
        return self._assess.context(rec)

    def outcome(self, rec: Record, stop: Callable[[str], None]) -> Outcome:
        """Returns the copy of a failed record that on_failure receives."""
        return self._assess.outcome(rec, stop)

    def _chosen(self, rec: Record, session: requests.Session) -> _Prepared | None:
        """Asks build_request what to send; None keeps the target."""
        assert self._build is not None
        chosen = self._build(self.context(rec))
        if chosen is None:
            return None
        if not isinstance(chosen, Target | requests.Request):
            raise TypeError(f"build_request returned {type(chosen).__name__}, not a Target")
        if isinstance(chosen, requests.Request):  # a Target checked its headers when built
            _check_headers(chosen.headers)
        prepared = self._prepare(session, chosen)
        rec.method = prepared.request.method
        rec.url = prepared.request.url
        return prepared

    def send(self, rec: Record) -> Record:
        """Sends target rec.target with slot rec.session; fills in and returns rec."""
        slot = self._pool.slots[rec.session]
        session = self._pool.sessions[rec.session]
        target = self._targets[rec.target]
        if self._build is not None:
            try:
                target = self._chosen(rec, session) or target
            # BaseException: a hook's sys.exit() or KeyboardInterrupt is the hook's failure,
            # recorded as such, not a bug of capture's (kind unknown).
            except BaseException as exc:  # nothing was sent: record why, as a failure
                rec.start_s = perf_counter() - self._run_start
                mark_hook_error(rec, exc, "build_request")
                return rec
        current_slot(slot)
        connections_before = slot.connection_no
        requests_before = slot.conn_requests
        prepared = target.request
        headers: Any = prepared.headers
        if self._keep_cookies:
            prepared = session.prepare_request(_unprepare(target.request))
            headers = prepared.headers
        if self._id_header is not None:
            rec.correlation_id = f"{self._id_prefix}-{rec.seq}"
            headers = headers.copy()
            headers[self._id_header] = rec.correlation_id
        elif self._fast and target.wire is not None and prepared is target.request:
            headers = target.wire  # nothing varies: the connection sends kept bytes

        raw: Any = None  # the urllib3 response: status, headers and the body stream
        response: requests.Response | None = None  # only on the session path
        kept: list[bytes] = []
        phase = Phase.SEND
        error: BaseException | None = None
        clean = False
        start = perf_counter()
        rec.start_s = start - self._run_start
        try:
            if self._fast and not target.proxies:
                raw = self._urlopen(rec, target, headers)
            else:
                if headers is not prepared.headers:
                    prepared = prepared.copy()
                    prepared.headers = headers
                response = self._session_send(session, prepared, target)
                raw = response.raw
            rec.ttfb_s = perf_counter() - start
            rec.status = raw.status
            if rec.status < 200:
                # http.client returns an unsolicited 1xx (e.g. 103) as the final response
                # and leaves the real one on the socket (python/cpython#42550). Close the
                # connection now: reading the empty 1xx body would release it to the pool,
                # and the next request would read this request's response as its own.
                raw.close()
            else:
                phase = Phase.BODY
                limit = None if self._max_time_s is None else start + self._max_time_s
                rec.bytes_in = read_body(raw, kept, self._max_body, limit)
            clean = True
        except Exception as exc:
            error = exc
            if raw is None:
                # TooManyRedirects carries the last hop, already read by requests.
                response = last_hop(exc, kept, self._max_body)
                raw = None if response is None else response.raw
                rec.status = None if response is None else response.status_code
        end = perf_counter()
        rec.latency_s = end - start
        if raw is not None:
            if self._backend:
                rec.backend = backend_of(raw.headers, self._backend)
            if not clean:
                rec.bytes_in = raw.tell()
                raw.close()  # the connection is in an unknown state: never reuse it
            raw.release_conn()

        if slot.connection_no != connections_before:
            rec.connect_s = slot.connect_s
        # A failed connect clears local_addr: this request had no connection, so it must not
        # inherit the position of the session's previous one.
        if slot.local_addr is not None:
            rec.local_addr = slot.local_addr
            rec.remote_addr = slot.remote_addr
            rec.connection_no = slot.connection_no
            rec.connection_request_no = slot.conn_requests
        # A URL error after a request went out can only come from a redirect's Location.
        redirected = error is not None and slot.conn_requests > (
            requests_before if slot.connection_no == connections_before else 0
        )
        self._assess.judge(rec, raw, response, error, phase, kept, prepared, headers, redirected)
        return rec

    def _urlopen(self, rec: Record, target: _Prepared, headers: Any) -> Any:
        """Sends on the session's own urllib3 pool: the lean path, one wire attempt."""
        request = target.request
        for fresh in (False, True):
            pool = self._pool_for(rec, target, fresh)
            try:
                return pool.urlopen(
                    request.method,
                    target.path,
                    body=request.body,
                    headers=headers,
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                    decode_content=False,
                    retries=self._retries,
                    timeout=self._timeout,
                )
            except ClosedPoolError:
                if fresh:  # closed before anything was sent: look the pool up again
                    raise
        raise AssertionError("unreachable")

    def _session_send(
        self, session: requests.Session, prepared: requests.PreparedRequest, target: _Prepared
    ) -> requests.Response:
        """Sends through requests' machinery: proxies, redirects, cookies."""
        if self._fast:
            adapter = session.get_adapter(prepared.url or "")
            assert isinstance(adapter, HTTPAdapter)
            return adapter.send(
                prepared,
                stream=True,
                timeout=self._timeout,
                verify=target.verify,
                proxies=target.proxies,
            )
        return session.send(
            prepared,
            stream=True,
            timeout=self._timeout,
            allow_redirects=self._follow,
            verify=target.verify,
            proxies=target.proxies,
        )


def _unprepare(prepared: requests.PreparedRequest) -> requests.Request:
    return requests.Request(
        prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body
    )


def _check_headers(headers: Any) -> None:
    """Refuses a hook's request headers that are not valid HTTP: the same check as -H."""
    for name, value in (headers or {}).items():
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError(f"build_request: header {name!r} must be text, not {type(value)}")
        try:
            check_header(name, text)
        except UsageError as exc:
            raise ValueError(f"build_request: {exc}") from None
