"""The record of one request, as workers hand it to the writer."""

from __future__ import annotations

import traceback
from dataclasses import dataclass

from capture.verdict.kinds import ErrorKind

__all__ = [
    "ERROR_MESSAGE_CHARS",
    "FailureDetail",
    "Identity",
    "Record",
    "mark_hook_error",
    "queued_bytes",
]

ERROR_MESSAGE_CHARS = 4000
# What a record holds beyond its bodies and header text, measured with tracemalloc on
# records from real exchanges with the built-in target (tests/store/test_writer_queue.py checks it):
# ~1.65 KB for a light record (its floats, addresses, strings), ~1 KB more for a failure
# with 6 header pairs (a tuple and two str headers each, the lists, the detail itself).
RECORD_BYTES = 1_800
DETAIL_BYTES = 200
PAIR_BYTES = 160


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


@dataclass(frozen=True, slots=True)
class Identity:
    """Where one process's rows sit in its run: which process, which sessions.

    A Record's session is its slot in this process's pool; the stored session is
    first_session + that slot, unique across the processes of a --procs run.
    """

    process: int  # 0 without --procs, else 0 to procs - 1
    first_session: int  # share index * --connections
    run_sessions: int  # S: the sessions of all the run's processes on all its hosts
    host: int = 0  # the host slot of a --hosts run

    @classmethod
    def of(cls, share: tuple[int, int], connections: int, *, procs: int = 0) -> Identity:
        """Returns the identity of share (index, count) of a run with this --connections.

        A share's index counts over hosts and processes (host slot * procs + process), so
        sessions and connection ids are unique across the whole run; procs (per host)
        splits it back into host and process. Without it the run has one host."""
        index, count = share
        host, process = divmod(index, procs) if procs else (0, index)
        return cls(process, index * connections, count * connections, host)

    def session(self, slot: int) -> int:
        """Returns the run-wide session number of this process's pool slot."""
        return self.first_session + slot

    def connection_id(self, slot: int, connection_no: int | None) -> int | None:
        """Returns the run-wide id of a slot's connection_no-th connection (None: none made).

        (connection_no - 1) * S + session + 1: the same formula as migration 0003's backfill.
        """
        if connection_no is None or connection_no < 1:
            return None
        return (connection_no - 1) * self.run_sessions + self.session(slot) + 1


class Record:
    """The light row every request gets, plus a FailureDetail when it failed."""

    __slots__ = (
        "backend",
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
        "method",
        "remote_addr",
        "seq",
        "session",
        "start_s",
        "status",
        "target",
        "ttfb_s",
        "url",
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
        self.method: str | None = None  # set when a build_request hook changed the target
        self.url: str | None = None
        self.backend: str | None = None  # 'Name: value' of the first --backend-header present


def mark_hook_error(rec: Record, exc: BaseException, hook: str) -> None:
    """Turns rec into a failure of kind hook_error carrying the hook's traceback."""
    rec.failed = True
    rec.error_kind = ErrorKind.HOOK_ERROR.value
    if rec.detail is None:
        rec.detail = FailureDetail()
    trace = "".join(traceback.format_exception(exc))
    rec.detail.error_class = f"{type(exc).__module__}.{type(exc).__qualname__}"
    rec.detail.error_message = f"hook {hook} raised:\n{trace}"[-ERROR_MESSAGE_CHARS:]


def queued_bytes(rec: Record) -> int:
    """Returns about how much memory rec holds: bodies, header text and fixed overheads."""
    d = rec.detail
    if d is None:
        return RECORD_BYTES
    size = RECORD_BYTES + DETAIL_BYTES + len(d.body or b"") + len(d.request_body or b"")
    size += len(d.error_message or "")
    for pairs in (d.request_headers, d.response_headers or ()):
        size += PAIR_BYTES * len(pairs) + sum(len(k) + len(v) for k, v in pairs)
    return size
