"""One exchange on the wire: send a prepared request, read the body under caps and
deadlines, classify the outcome, and return a Record. Runs thousands of times a second,
so everything that does not vary per request is computed once in `Sender.__init__`."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util import Timeout

from .classify import ErrorKind, Phase, classify_exception
from .config import RunConfig
from .pool import SessionPool, current_slot

__all__ = ["FailureDetail", "Record", "Sender"]

_READ_CHUNK = 64 * 1024
_HTTP_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}
_ERROR_MESSAGE_CHARS = 4000


class TotalTimeout(Exception):
    """The --max-time deadline passed while the body was still arriving."""


class FailureDetail:
    """The full evidence of a failed exchange; only built when the exchange failed."""

    __slots__ = (
        "body",
        "body_size",
        "body_truncated",
        "content_encoding",
        "content_type",
        "error_class",
        "error_message",
        "http_version",
        "reason",
        "request_body",
        "request_headers",
        "response_headers",
    )

    def __init__(self) -> None:
        self.reason: str | None = None
        self.http_version: str | None = None
        self.request_headers: list[tuple[str, str]] = []
        self.request_body: bytes | None = None
        self.response_headers: list[tuple[str, str]] | None = None
        self.body: bytes | None = None
        self.body_size: int | None = None
        self.body_truncated = False
        self.content_type: str | None = None
        self.content_encoding: str | None = None
        self.error_class: str | None = None
        self.error_message: str | None = None


class Record:
    """The light row every request gets, plus a FailureDetail when it failed."""

    __slots__ = (
        "bytes_in",
        "connect_s",
        "connection_no",
        "connection_request_no",
        "correlation_id",
        "detail",
        "error_kind",
        "failed",
        "lag_s",
        "latency_s",
        "local_addr",
        "remote_addr",
        "seq",
        "session",
        "start_s",
        "status",
        "target",
        "ttfb_s",
        "wait_s",
        "worker",
    )

    def __init__(self, seq: int, worker: int, session: int, target: int) -> None:
        self.seq = seq
        self.worker = worker
        self.session = session
        self.target = target
        self.start_s = 0.0  # actual start, seconds since the run's start
        self.lag_s: float | None = None  # actual start minus intended start (with --qps)
        self.wait_s = 0.0  # time spent waiting for a free session
        self.connect_s: float | None = None  # set when this request opened a connection
        self.ttfb_s: float | None = None
        self.latency_s = 0.0
        self.status: int | None = None
        self.error_kind: str | None = None
        self.failed = False
        self.bytes_in = 0
        self.local_addr: str | None = None
        self.remote_addr: str | None = None
        self.connection_no: int | None = None
        self.connection_request_no: int | None = None
        self.correlation_id: str | None = None
        self.detail: FailureDetail | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A target prepared once: the request, and the send settings for its URL."""

    request: requests.PreparedRequest
    verify: bool | str
    proxies: dict[str, str]


class Sender:
    """Sends one request with a given pool slot and returns its Record."""

    def __init__(self, config: RunConfig, pool: SessionPool, run_id: int, run_start: float):
        self._pool = pool
        self._run_id = run_id
        self._run_start = run_start
        self._max_body = config.max_body_bytes
        self._fail = config.fail_status.lookup_table()
        self._slow_s = config.slow_s
        self._max_time_s = config.max_time_s
        self._id_header = config.id_header
        self._follow = config.follow_redirects
        # The adapter is called directly (no redirects, cookies or hooks) unless an
        # option needs the session's machinery; this skips per-call settings merges.
        self._fast = not (config.follow_redirects or config.keep_cookies)
        self._keep_cookies = config.keep_cookies
        # A urllib3 Timeout, not a tuple: its total= bounds connect plus headers too.
        self._timeout: Any = Timeout(
            connect=config.timeout_s, read=config.timeout_s, total=config.max_time_s
        )
        session = pool.sessions[0]
        self._targets = tuple(self._prepare(session, t) for t in config.targets)
        self._config = config

    @staticmethod
    def _prepare(session: requests.Session, target: Any) -> _Prepared:
        request = requests.Request(
            target.method, target.url, headers=dict(target.headers), data=target.body
        )
        prepared = session.prepare_request(request)
        settings = session.merge_environment_settings(prepared.url, {}, False, None, None)
        verify = settings["verify"]
        return _Prepared(
            prepared, True if verify is None else verify, dict(settings["proxies"] or {})
        )

    def send(self, rec: Record, deadline: float | None = None) -> Record:
        """Sends target rec.target with slot rec.session; fills in and returns rec."""
        slot = self._pool.slots[rec.session]
        session = self._pool.sessions[rec.session]
        target = self._targets[rec.target]
        current_slot(slot)
        connections_before = slot.connection_no
        prepared = target.request
        if self._keep_cookies:
            prepared = session.prepare_request(_unprepare(target.request))
        if self._id_header is not None:
            if prepared is target.request:
                prepared = prepared.copy()
            rec.correlation_id = f"{self._run_id}-{rec.seq}"
            prepared.headers[self._id_header] = rec.correlation_id

        response: requests.Response | None = None
        kept: list[bytes] = []
        phase = Phase.SEND
        error: BaseException | None = None
        clean = False
        start = perf_counter()
        rec.start_s = start - self._run_start
        try:
            if self._fast:
                adapter = session.get_adapter(prepared.url or "")
                assert isinstance(adapter, HTTPAdapter)
                response = adapter.send(
                    prepared,
                    stream=True,
                    timeout=self._timeout,
                    verify=target.verify,
                    proxies=target.proxies,
                )
            else:
                response = session.send(
                    prepared,
                    stream=True,
                    timeout=self._timeout,
                    allow_redirects=self._follow,
                    verify=target.verify,
                    proxies=target.proxies,
                )
            rec.ttfb_s = perf_counter() - start
            rec.status = response.status_code
            phase = Phase.BODY
            limit = None if self._max_time_s is None else start + self._max_time_s
            rec.bytes_in = _read_body(response.raw, kept, self._max_body, limit)
            clean = True
        except Exception as exc:
            error = exc
        end = perf_counter()
        rec.latency_s = end - start
        if response is not None and not clean:
            rec.bytes_in = response.raw.tell()
            response.raw.close()  # the connection is in an unknown state: never reuse it
        if response is not None:
            response.raw.release_conn()

        if slot.connection_no != connections_before:
            rec.connect_s = slot.connect_s
        if slot.connection_no:
            rec.local_addr = slot.local_addr
            rec.remote_addr = slot.remote_addr
            rec.connection_no = slot.connection_no
            rec.connection_request_no = slot.conn_requests
        self._judge(rec, response, error, phase, kept, prepared)
        return rec

    def _judge(
        self,
        rec: Record,
        response: requests.Response | None,
        error: BaseException | None,
        phase: Phase,
        kept: list[bytes],
        prepared: requests.PreparedRequest,
    ) -> None:
        kind: ErrorKind | None = None
        status = rec.status
        if error is not None:
            if isinstance(error, TotalTimeout):
                kind = ErrorKind.TOTAL_TIMEOUT
            else:
                redirected = bool(response is not None and response.history)
                kind = classify_exception(error, phase, redirected=redirected)
                if (
                    kind is ErrorKind.READ_TIMEOUT
                    and self._max_time_s is not None
                    and rec.latency_s >= self._max_time_s
                ):
                    kind = ErrorKind.TOTAL_TIMEOUT
        elif status is not None and status < 200:
            # http.client returns an unsolicited 1xx (e.g. 103) as the final response and
            # leaves the real one in the socket (python/cpython#42550): a protocol fault.
            kind = ErrorKind.PROTOCOL
            if response is not None:
                response.raw.close()
        body = b"".join(kept) if kept else b""
        if (
            kind is None
            and response is not None
            and body
            and _encoded(response)
            and _decode_fails(body, response.headers.get("Content-Encoding", ""))
        ):
            kind = ErrorKind.DECODE
        failed = kind is not None or (status is not None and self._fail[status])
        if not failed and self._slow_s is not None and rec.latency_s > self._slow_s:
            kind = ErrorKind.SLOW
            failed = True
        rec.error_kind = None if kind is None else kind.value
        rec.failed = failed
        if failed:
            rec.detail = self._detail(rec, response, error, body, kind, prepared)

    def _detail(
        self,
        rec: Record,
        response: requests.Response | None,
        error: BaseException | None,
        body: bytes,
        kind: ErrorKind | None,
        prepared: requests.PreparedRequest,
    ) -> FailureDetail:
        detail = FailureDetail()
        detail.request_headers = list(prepared.headers.items())
        raw_body = prepared.body
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        if isinstance(raw_body, bytes):
            detail.request_body = raw_body[: self._max_body]
        if error is not None:
            cls = type(error)
            detail.error_class = f"{cls.__module__}.{cls.__qualname__}"
            detail.error_message = str(error)[:_ERROR_MESSAGE_CHARS]
        if response is None:
            return detail
        raw = response.raw
        detail.reason = response.reason
        detail.http_version = _HTTP_VERSIONS.get(raw.version, str(raw.version))
        detail.response_headers = _header_pairs(raw)
        detail.content_type = response.headers.get("Content-Type")
        encoding = response.headers.get("Content-Encoding")
        detail.content_encoding = encoding
        detail.body_size = rec.bytes_in
        stored = body
        truncated = rec.bytes_in > len(body)
        if encoding and kind is not ErrorKind.DECODE and body:
            decoded, more = _decode(body, encoding, self._max_body)
            if decoded is not None:  # otherwise the raw wire bytes are kept as evidence
                stored, truncated = decoded, truncated or more
        detail.body = stored
        detail.body_truncated = truncated
        return detail


def _read_body(raw: Any, kept: list[bytes], cap: int, deadline: float | None) -> int:
    """Reads the whole body as wire bytes, keeping the first cap bytes. Returns bytes read."""
    read1 = raw.read1
    total = 0
    room = cap
    while True:
        # read1 returns what one recv gives, so a trickling body cannot hide a deadline.
        chunk = read1(_READ_CHUNK, decode_content=False)
        if not chunk:
            return total
        total += len(chunk)
        if room > 0:
            piece = chunk if len(chunk) <= room else chunk[:room]
            kept.append(piece)
            room -= len(piece)
        if deadline is not None and perf_counter() > deadline:
            raise TotalTimeout(f"body still arriving after --max-time ({total} bytes read)")


def _encoded(response: requests.Response) -> bool:
    encoding = response.headers.get("Content-Encoding") or ""
    return encoding.strip().lower() not in ("", "identity")


_WBITS = {"gzip": 47, "x-gzip": 47, "deflate": 15}  # 47: zlib or gzip header, auto-detected


def _decode(body: bytes, encoding: str, cap: int) -> tuple[bytes | None, bool]:
    """Decodes body (gzip/deflate) to at most cap bytes. Returns (bytes or None, truncated)."""
    wbits = _WBITS.get(encoding.strip().lower())
    if wbits is None:
        return None, False
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(body, cap)
    except zlib.error:
        if wbits == 15:  # some servers send raw deflate without the zlib header
            try:
                decoder = zlib.decompressobj(-15)
                out = decoder.decompress(body, cap)
            except zlib.error:
                return None, False
        else:
            return None, False
    return out, bool(decoder.unconsumed_tail)


def _decode_fails(body: bytes, encoding: str) -> bool:
    decoded, _ = _decode(body, encoding, 1)
    return decoded is None and encoding.strip().lower() in _WBITS


def _header_pairs(raw: Any) -> list[tuple[str, str]]:
    """Returns response headers in wire order with duplicates, values as latin-1 text."""
    # http.client's message keeps order and repeats; requests' dict merges Set-Cookie.
    original = getattr(raw, "_original_response", None)
    if original is not None:
        return [(str(k), str(v)) for k, v in original.msg.items()]
    return [(str(k), str(v)) for k, v in raw.headers.items()]


def _unprepare(prepared: requests.PreparedRequest) -> requests.Request:
    return requests.Request(
        prepared.method, prepared.url, headers=dict(prepared.headers), data=prepared.body
    )
