"""One exchange on the wire: send a prepared request, read the body under caps and
deadlines, gather what verdict.judge needs (built-in rules, hooks), and fill in the
Record. Runs thousands of times a second, so everything that does not vary per request
is computed once in `Sender.__init__`, and hook machinery costs nothing when unused."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ClosedPoolError, MaxRetryError
from urllib3.util import Retry, Timeout

from capture.config import RunConfig, Target
from capture.load.body import (
    HTTP_VERSIONS,
    TotalTimeout,
    decode,
    decode_fails,
    header_pairs,
    is_encoded,
    last_hop,
    read_body,
    read_redirect_body,
)
from capture.load.hooks import Context, Hooks, Outcome
from capture.load.pool import SessionPool, current_slot
from capture.store.record import ERROR_MESSAGE_CHARS, FailureDetail, Record, mark_hook_error
from capture.verdict.classify import Phase
from capture.verdict.judge import Criteria, judge
from capture.verdict.kinds import ErrorKind

__all__ = ["FailureDetail", "Record", "Sender", "mark_hook_error"]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A target prepared once: the request, and the send settings for its URL."""

    request: requests.PreparedRequest
    verify: bool | str
    proxies: dict[str, str]
    path: str  # what the request line carries (path and query)


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
    ) -> None:
        self._pool = pool
        self._run_id = run_id
        self._run_start = run_start
        self._max_body = config.max_body_bytes
        self._max_time_s = config.max_time_s
        self._criteria = Criteria(
            config.fail_status.lookup_table(),
            config.slow_s,
            config.max_time_s,
            deadline_errors=(TotalTimeout,),
        )
        self._id_header = config.id_header
        self._follow = config.follow_redirects
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
        self._config = config
        self._hooks = hooks
        self._stop = stop
        rules = config.rules()
        self._rules = rules if rules.any else None
        # Only hooks or body rules need the response object with its decoded body.
        self._inspect = self._rules is not None or (
            hooks is not None and (hooks.is_failure or hooks.on_response) is not None
        )
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
        )

    def context(self, rec: Record) -> Context:
        """Returns what hooks are told about rec."""
        return Context(
            run_id=self._run_id,
            seq=rec.seq,
            worker=rec.worker,
            session=rec.session,
            target=self._config.targets[rec.target],
            target_index=rec.target,
            _stop=self._stop,
        )

    def outcome(self, rec: Record, stop: Callable[[str], None]) -> Outcome:
        """Returns the copy of a failed record that on_failure receives."""
        detail = rec.detail or FailureDetail()
        target = self._config.targets[rec.target]
        return Outcome(
            run_id=self._run_id,
            seq=rec.seq,
            worker=rec.worker,
            session=rec.session,
            method=rec.method or target.method,
            url=rec.url or target.url,
            status=rec.status,
            error_kind=rec.error_kind,
            latency_ms=rec.latency_s * 1000.0,
            body=detail.body,
            response_headers=tuple(detail.response_headers or ()),
            error_message=detail.error_message,
            local_addr=rec.local_addr,
            remote_addr=rec.remote_addr,
            _stop=stop,
        )

    def _chosen(self, rec: Record, session: requests.Session) -> _Prepared | None:
        """Asks build_request what to send; None keeps the target."""
        assert self._build is not None
        chosen = self._build(self.context(rec))
        if chosen is None:
            return None
        if not isinstance(chosen, Target | requests.Request):
            raise TypeError(f"build_request returned {type(chosen).__name__}, not a Target")
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
            except Exception as exc:  # nothing was sent: record why, as a failure
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
            rec.correlation_id = f"{self._run_id}-{rec.seq}"
            headers = headers.copy()
            headers[self._id_header] = rec.correlation_id

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
        self._judge(rec, raw, response, error, phase, kept, prepared, headers, redirected)
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

    def _judge(
        self,
        rec: Record,
        raw: Any,
        response: requests.Response | None,
        error: BaseException | None,
        phase: Phase,
        kept: list[bytes],
        prepared: requests.PreparedRequest,
        headers: Any,
        redirected: bool,
    ) -> None:
        """Gathers what judge() needs (body, rules, hooks), then records its verdict."""
        status = rec.status
        body = b"".join(kept) if kept else b""
        undecodable = (
            error is None
            and bool(body)
            and is_encoded(raw.headers)
            and decode_fails(body, raw.headers.get("Content-Encoding", ""))
        )
        rule_kind: ErrorKind | None = None
        answer: object = None
        hook_error: tuple[BaseException, str] | None = None
        if self._inspect and raw is not None and error is None and status is not None:
            if response is None:  # the lean path has none: build it for the hooks
                response = self._response(prepared, headers, raw)
            rule_kind, answer, hook_error = self._inspect_response(rec, response, body)
        verdict = judge(
            self._criteria,
            status,
            rec.latency_s,
            error,
            phase,
            redirected=redirected,
            undecodable=undecodable,
            rule_kind=rule_kind,
            answer=answer,
            raised=None if hook_error is None else hook_error[1],
        )
        rec.error_kind = verdict.kind
        rec.failed = verdict.failed
        if verdict.failed:
            keep_raw = undecodable or verdict.kind == ErrorKind.DECODE
            rec.detail = self._detail(rec, raw, error, body, keep_raw, prepared, headers)
        if hook_error is not None:
            mark_hook_error(rec, *hook_error)

    def _inspect_response(
        self, rec: Record, response: requests.Response, body: bytes
    ) -> tuple[ErrorKind | None, object, tuple[BaseException, str] | None]:
        """Applies the built-in rules, then calls is_failure and on_response.

        Returns the rules' kind, is_failure's answer and the hook that raised, if any.
        """
        decoded = body
        if body and is_encoded(response.headers):
            decoded = (
                decode(body, response.headers.get("Content-Encoding", ""), self._max_body)[0]
                or body
            )
        # requests' own attributes: .content, .text and .json() then work in hooks.
        response._content = decoded
        response._content_consumed = True  # type: ignore[attr-defined]
        # Checked before the hooks run, so a hook that changes the response cannot
        # change what the rules saw. judge() ignores the kind if the exchange already failed.
        rule_kind = None if self._rules is None else self._rules.check(response.headers, decoded)
        hooks = self._hooks
        if hooks is None:
            return rule_kind, None, None
        ctx = self.context(rec)
        answer: object = None
        if hooks.is_failure is not None:
            try:
                answer = hooks.is_failure(response, ctx)
            except Exception as exc:
                return rule_kind, None, (exc, "is_failure")
        if hooks.on_response is not None:
            try:
                hooks.on_response(response, ctx)
            except Exception as exc:
                return rule_kind, answer, (exc, "on_response")
        return rule_kind, answer, None

    def _response(
        self, prepared: requests.PreparedRequest, headers: Any, raw: Any
    ) -> requests.Response:
        """Wraps a urllib3 response in a requests.Response, as HTTPAdapter would."""
        request = prepared.copy()
        request.headers = headers
        adapter = HTTPAdapter()
        return adapter.build_response(request, raw)

    def _detail(
        self,
        rec: Record,
        raw: Any,
        error: BaseException | None,
        body: bytes,
        keep_raw: bool,
        prepared: requests.PreparedRequest,
        headers: Any,
    ) -> FailureDetail:
        """Builds the evidence; keep_raw stores the wire bytes of a body that does not decode."""
        detail = FailureDetail()
        detail.request_headers = list(headers.items())
        raw_body = prepared.body
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        if isinstance(raw_body, bytes):
            detail.request_body = raw_body[: self._max_body]
        if isinstance(error, MaxRetryError) and error.reason is not None:
            error = error.reason  # "max retries exceeded" with no retries: show the cause
        if error is not None:
            cls = type(error)
            detail.error_class = f"{cls.__module__}.{cls.__qualname__}"
            detail.error_message = str(error)[:ERROR_MESSAGE_CHARS]
        if raw is None:
            return detail
        detail.reason = raw.reason
        detail.http_version = HTTP_VERSIONS.get(raw.version, str(raw.version))
        detail.response_headers = header_pairs(raw)
        detail.content_type = raw.headers.get("Content-Type")
        encoding = raw.headers.get("Content-Encoding")
        detail.content_encoding = encoding
        detail.body_size = rec.bytes_in
        stored = body
        truncated = rec.bytes_in > len(body)
        if encoding and not keep_raw and body:
            decoded, more = decode(body, encoding, self._max_body)
            if decoded is not None:  # otherwise the raw wire bytes are kept as evidence
                stored, truncated = decoded, truncated or more
        detail.body = stored
        detail.body_truncated = truncated
        return detail


def _unprepare(prepared: requests.PreparedRequest) -> requests.Request:
    return requests.Request(
        prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body
    )
