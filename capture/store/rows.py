"""The shapes of the rows the read side returns (queries.py, report.py), one TypedDict
each, with the types the columns hold (docs/schema.md), so that mypy checks every key
the output layer and the Python API read. Imports only typing: read commands start light.

A TypedDict is a plain dict at run time: the rows are still the dicts sqlite3 built.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "ClientLimit",
    "ExchangeRow",
    "FailureDetail",
    "FailureGroup",
    "FailurePass",
    "FailureRow",
    "Neighbour",
    "Outcome",
    "Pacing",
    "PerSecond",
    "Report",
    "RunRecord",
    "RunRow",
    "SocketRow",
    "UrlRow",
]


class Outcome(TypedDict):
    """What a request's outcome reads from any row: its status and its error kind."""

    status: int | None
    error_kind: str | None


class RunRecord(TypedDict):
    """One `runs` row as stored (SELECT *), status corrected to 'crashed' where it is."""

    id: int
    name: str | None
    started_at: str
    finished_at: str | None
    status: str
    command_line: str | None
    config_json: str | None
    hostname: str | None
    pid: int | None
    capture_version: str | None
    duration_s: float | None
    qps_asked: float | None
    requests_total: int | None  # the totals: NULL while running and after a crash
    ok_total: int | None
    failed_total: int | None
    failures_stored: int | None
    failures_dropped: int | None
    aborted_total: int | None
    sockets_used: int | None
    run_key: str | None
    cpu_s: float | None
    hosts: int | None


class RunRow(TypedDict):
    """One run of `capture runs`, with counts taken from its rows."""

    id: int
    name: str | None
    started_at: str
    finished_at: str | None
    status: str
    pid: int | None
    hostname: str | None
    duration_s: float  # stored, or the span of its rows; 0.0 for a run with none
    qps_asked: float | None
    requests: int
    failures: int
    rate: float | None  # requests per second; None when the duration is 0
    aborted: int  # runs.aborted_total: abandoned in flight after a second Ctrl-C, no row
    # The host slots of a --hosts run (store/hosts.py host_states); None for one host.
    hosts: list[dict[str, Any]] | None


class FailureRow(TypedDict):
    """One failure of the `capture failures` listing: its request row, body size and type."""

    id: int
    run_id: int
    seq: int
    started_at: str
    offset_ms: float
    method: str
    url: str
    status: int | None
    error_kind: str | None
    latency_ms: float
    ttfb_ms: float | None
    body_size: int | None
    body_truncated: int
    content_type: str | None
    local_addr: str | None
    remote_addr: str | None
    session: int
    connection_no: int | None
    connection_request_no: int | None
    correlation_id: str | None
    process: int | None
    connection_id: int | None
    host: int  # the slot of a --hosts or merged run; 0 for a run of one host
    backend: str | None  # 'Name: value' of the first --backend-header the response had


class _Request(TypedDict):
    """Every column of a `requests` row."""

    id: int
    run_id: int
    seq: int
    worker: int
    session: int
    method: str
    url: str
    started_at: str
    offset_ms: float
    lag_ms: float | None
    wait_ms: float
    connect_ms: float | None
    ttfb_ms: float | None
    latency_ms: float
    status: int | None
    error_kind: str | None
    failed: int
    bytes_in: int
    local_addr: str | None
    remote_addr: str | None
    connection_no: int | None
    connection_request_no: int | None
    correlation_id: str | None
    process: int | None
    connection_id: int | None
    host: int
    backend: str | None


class FailureDetail(_Request):
    """One failure in full (`capture export`): its request row and its failures row."""

    reason: str | None
    http_version: str | None
    request_headers: str  # JSON [name, value] pairs
    request_body: bytes | None
    response_headers: str | None
    body: bytes | None
    body_size: int | None
    body_truncated: int
    content_type: str | None
    content_encoding: str | None
    error_class: str | None
    error_message: str | None
    body_signature: str | None


class Neighbour(TypedDict):
    """A request on the same connection as the one shown, just before or after it."""

    id: int
    seq: int
    offset_ms: float
    status: int | None
    error_kind: str | None
    latency_ms: float
    connection_request_no: int | None


class ExchangeRow(_Request):
    """One request in full (`capture show`): a request that did not fail has no failures
    row, so every failure column may be None; with its neighbours on the connection."""

    reason: str | None
    http_version: str | None
    request_headers: str | None
    request_body: bytes | None
    response_headers: str | None
    body: bytes | None
    body_size: int | None
    body_truncated: int | None
    content_type: str | None
    content_encoding: str | None
    error_class: str | None
    error_message: str | None
    body_signature: str | None
    neighbours: list[Neighbour]


class SocketRow(TypedDict):
    """One TCP connection of `capture sockets` (connection_id None: requests with no
    connection, or an older --procs run's client socket)."""

    run_id: int
    connection_id: int | None
    process: int | None
    session: int
    local_addr: str | None
    remote_addr: str | None
    requests: int
    failures: int
    first_ms: float
    last_ms: float
    failed_at: str | None  # the failed requests' connection_request_no, comma separated


class FailureGroup(TypedDict):
    """Failures alike in outcome, path and body signature, for `capture summary`."""

    outcome: str
    path: str
    signature: str | None
    count: int
    first_ms: float
    last_ms: float
    example_id: int


class FailurePass(TypedDict):
    """The part of a report counted in one pass over a run's failures."""

    failures_per_second: list[tuple[int, int]]  # (second into the run, failures)
    top_urls: list[tuple[str, int]]
    by_remote: list[tuple[str | None, int]]
    by_socket: list[tuple[str | None, int]]
    # how many distinct URLs, remote addresses and connections the lists above are the
    # busiest of: each list holds at most ten
    distinct: dict[str, int]
    groups: list[FailureGroup]


class UrlRow(TypedDict):
    """One method and URL template of a run (method and template None: the others summed)."""

    method: str | None
    template: str | None
    templates: int  # how many templates the row holds: 1, or the others' number
    requests: int
    failed: int
    failed_pct: float  # of this row's requests, %
    rate: float | None  # requests per second over the run's duration; None when it is 0
    latency_ms: dict[str, float]  # p50, p95, p99, exact (nearest rank)


class PerSecond(TypedDict):
    """Requests per second of a run by status class, from second 0 to the last."""

    seconds: int
    counts: dict[str, list[int]]  # "2xx".."5xx", "error" (no response): one count a second


class Pacing(TypedDict):
    """A --qps run's asked and achieved rate and its send lag (requests.lag_ms)."""

    qps_asked: float
    achieved: float | None  # requests / duration_s
    lag_ms: dict[str, float]  # p50, p99, max; empty when no row has a lag
    pool_bound: bool  # the asked rate needed the pool busy (store.saturation.pool_bound)
    schedule: str | None  # a --qps FROM:TO or --stages run's: 'ramp 100→2000/s', '3 stages'


class ClientLimit(TypedDict):
    """Whether the client, not the service, limited the run (README: the criterion)."""

    cpu_s: float | None  # runs.cpu_s; None for a run stored before it was measured
    procs: int
    cpu_share: float | None  # cpu_s / (duration_s x procs): 1.0 = one core busy
    saturated: bool
    reasons: list[str]
    advice: str | None


class Report(FailurePass):
    """Everything `capture summary` shows for one run."""

    run: RunRecord
    requests: int
    failed: int
    aborted: int  # runs.aborted_total (0 when NULL): sent, outcome unknown, no row
    status_counts: list[tuple[int | None, int]]
    error_counts: list[tuple[str, int]]
    latency_ok: dict[str, float]  # p50, p90, p99, p99.9, max; empty with no requests
    latency_failed: dict[str, float]
    duration_s: float  # runs.duration_s, or the span of its rows when none is stored
    urls: list[UrlRow]
    per_second: PerSecond
    pacing: Pacing | None  # None for a run without --qps
    client_limit: ClientLimit
    hosts: list[dict[str, Any]] | None  # store.hosts.host_states; None: a run of one host
    findings: list[dict[str, Any]]  # capture diagnose's, ranked (docs/diagnose.md)
