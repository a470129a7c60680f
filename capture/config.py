"""The run configuration: RunConfig, its Target requests and defaults, and their checks.

The parsers of user input live in capture.parse, the reading of a --targets file in
capture.targets; nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from capture.errors import UsageError
from capture.parse import (
    MAX_CONNECTIONS,
    MAX_COUNT,
    MAX_PROCS,
    MAX_QPS,
    MAX_SIZE_BYTES,
    MIN_QPS,
    StatusSpec,
    check_duration,
    check_queue_bytes,
    check_range,
    is_token,
    parse_method,
    parse_url,
)
from capture.schedule import Schedule

if TYPE_CHECKING:
    from capture.verdict.rules import Rules

__all__ = [
    "DEFAULT_BACKEND_HEADERS",
    "DEFAULT_BARRIER_TIMEOUT_S",
    "DEFAULT_DB",
    "DEFAULT_FAIL_STATUS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DEFAULT_MAX_TIME_S",
    "RunConfig",
    "StatusSpec",
    "Target",
]

DEFAULT_DB = "capture.db"
DEFAULT_MAX_BODY_BYTES = 64 * 1024
# The records waiting for the writer, in bytes (--max-queue): below 1 MiB a handful of
# 64 KiB failures fill it; above 16 GiB it no longer bounds anything on a usual machine.
DEFAULT_MAX_QUEUE_BYTES = 64 * 1024**2
# A total deadline per request by default, as hey (20 s), vegeta (30 s) and k6 (60 s)
# have: without one, a body that never ends holds its worker, and a -n run, forever.
DEFAULT_MAX_TIME_S = 60.0
DEFAULT_FAIL_STATUS = StatusSpec(((400, 599),), ">=400")
# How long the hosts of a --hosts run wait for each other before giving up.
DEFAULT_BARRIER_TIMEOUT_S = 60.0
MAX_HOSTS = MAX_PROCS
# The response headers that name the backend behind a proxy or balancer, most specific
# first: requests.backend records the first one present (--backend-header).
DEFAULT_BACKEND_HEADERS = (
    "X-Served-By", "X-Backend", "X-Upstream", "X-Upstream-Addr", "X-Server", "Via", "Server"
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    """One request to send: method, URL, headers in order, and an optional body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Target:
        """Validates method and URL, and returns the target."""
        return cls(parse_method(method), parse_url(url), tuple(headers), body)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything a run needs to know; built once by the CLI or the API, then read-only."""

    targets: tuple[Target, ...]
    requests: int | None = None
    duration_s: float | None = None
    connections: int = 10
    workers: int | None = None  # None: one worker per connection
    qps: float | None = None
    # --qps FROM:TO or --stages: the rate over time (capture/schedule.py); qps stays None.
    schedule: Schedule | None = None
    timeout_s: float = 10.0
    max_time_s: float | None = DEFAULT_MAX_TIME_S
    fail_status: StatusSpec = DEFAULT_FAIL_STATUS
    slow_s: float | None = None
    stop_after_failures: int | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES  # records waiting for the writer
    id_header: str | None = None
    backend_headers: tuple[str, ...] = DEFAULT_BACKEND_HEADERS  # (): none recorded
    trust_env: bool = False
    follow_redirects: bool = False
    insecure: bool = False
    keep_cookies: bool = False
    keep_secrets: bool = False
    grace_s: float = 5.0
    # Built-in rules on the response (capture.rules): regexes and JSON checks as typed.
    fail_if_body: tuple[str, ...] = ()
    expect_body: tuple[str, ...] = ()
    expect_header: tuple[str, ...] = ()
    fail_if_json: tuple[str, ...] = ()
    procs: int = 1  # processes, each with its own pool of `connections` and its workers
    pin_cpu: bool = True  # each process on one core: threads of one GIL gain nothing from two
    hooks_spec: str | None = None  # --hooks as given: each process of --procs loads it
    name: str | None = None
    # --hosts N: this host is one of N running the run named `name` (load/multihost.py);
    # host_slot is --slot before the claim and the claimed slot after it.
    hosts: int | None = None
    host_slot: int | None = None
    barrier_timeout_s: float = DEFAULT_BARRIER_TIMEOUT_S
    # This host's wall clock to the database's (db - local, seconds), measured at the
    # claim: stored times of a --hosts run are on the database's clock.
    clock_offset_s: float = 0.0
    command_line: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # The run's HMAC key for redacted values (redact.Redactor): never stored or printed.
    redaction_key: bytes = field(default_factory=lambda: os.urandom(16), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.targets:
            raise UsageError("no target: give a URL or --targets FILE")
        if self.requests is None and self.duration_s is None:
            raise UsageError("say how long to run: -n/--requests COUNT and/or -d/--duration")
        _positive(self.requests, "--requests", MAX_COUNT)
        _positive(self.connections, "--connections", MAX_CONNECTIONS)
        _positive(self.workers, "--workers", MAX_CONNECTIONS)
        _positive(self.stop_after_failures, "--stop-after-failures", MAX_COUNT)
        for value, option in ((self.qps, "--qps"), (self.duration_s, "--duration")):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise UsageError(f"{option} must be greater than zero")
        if self.qps is not None:
            check_range(self.qps, MIN_QPS, MAX_QPS, option="--qps")
        self._check_schedule()
        self._check_durations()
        if not 0 <= self.max_body_bytes <= MAX_SIZE_BYTES:
            raise UsageError("--max-body must be between 0 and 512MiB")
        if self.id_header is not None and not is_token(self.id_header):
            raise UsageError(f"--id-header {self.id_header!r} is not a valid header name")
        if isinstance(self.backend_headers, str):  # a str would be read as one name a letter
            raise UsageError("backend_headers must be a tuple of header names, not a str")
        for name in self.backend_headers:
            if not is_token(name):
                raise UsageError(f"--backend-header {name!r} is not a valid header name")
        _positive(self.procs, "--procs", MAX_PROCS)
        self._check_hosts()
        check_queue_bytes(self.max_queue_bytes)
        self.rules()  # compiles every rule once, so a bad regex fails before anything runs

    def _check_durations(self) -> None:
        """Refuses a duration outside 1ms..720h, for callers that skip parse_duration."""
        for seconds, option in (
            (self.duration_s, "--duration"),
            (self.timeout_s, "--timeout"),
            (self.max_time_s, "--max-time"),
            (self.slow_s, "--slow"),
            (self.grace_s, "--grace"),
        ):
            if seconds is not None:
                check_duration(seconds, option=option)

    def _check_schedule(self) -> None:
        """Refuses a schedule beside --qps RATE, or whose length is not the run's duration."""
        if self.schedule is None:
            return
        if self.qps is not None:
            raise UsageError("--stages cannot go with --qps: give each stage its rate")
        if self.duration_s is None:
            raise UsageError("--qps FROM:TO needs -d/--duration: the ramp rises over it")
        if not math.isclose(self.duration_s, self.schedule.duration_s, rel_tol=1e-9):
            raise UsageError(
                f"the rate schedule lasts {self.schedule.duration_s:g}s, "
                f"not --duration {self.duration_s:g}s"
            )

    @property
    def paced(self) -> bool:
        """Returns True when requests have intended send times (--qps or --stages)."""
        return self.qps is not None or self.schedule is not None

    @property
    def asked_qps(self) -> float | None:
        """Returns the asked rate: --qps RATE, or a schedule's planned requests over the
        time it gives them (-n included), or None for an unpaced run (runs.qps_asked)."""
        if self.schedule is not None:
            return self.schedule.asked_rate(self.requests)
        return self.qps

    def _check_hosts(self) -> None:
        """Refuses --slot or --hosts without what they need."""
        if self.hosts is None:
            if self.host_slot is not None:
                raise UsageError("--slot needs --hosts N")
            return
        _positive(self.hosts, "--hosts", MAX_HOSTS)
        if not self.name:
            raise UsageError("--hosts needs --name NAME: the hosts meet in the run of that name")
        if self.host_slot is not None and not 0 <= self.host_slot < self.hosts:
            raise UsageError(
                f"--slot must be between 0 and {self.hosts - 1} (--hosts {self.hosts})"
            )
        check_duration(self.barrier_timeout_s, option="--barrier-timeout")

    def share(self, process: int = 0) -> tuple[int, int]:
        """Returns the share (index, count) of one of this host's processes in the run.

        Shares count over hosts and processes: host slot H's process P has index
        H * procs + P of hosts * procs, so together they send every seq once."""
        hosts = self.hosts or 1
        slot = self.host_slot or 0
        return slot * self.procs + process, hosts * self.procs

    def rules(self) -> Rules:
        """Returns the built-in response rules, compiled."""
        from capture.verdict.rules import Rules

        return Rules.build(
            fail_if_body=list(self.fail_if_body),
            expect_body=list(self.expect_body),
            expect_header=list(self.expect_header),
            fail_if_json=list(self.fail_if_json),
        )

    @property
    def worker_count(self) -> int:
        """Returns the number of worker threads (defaults to one per connection)."""
        return self.workers if self.workers is not None else self.connections

    def to_json(self, redact: Any, redact_url: Any = None) -> str:
        """Returns the configuration as JSON, header values passed through redact(name, v)
        and URLs through redact_url(url)."""
        data = asdict(self)
        del data["redaction_key"]
        data["fail_status"] = self.fail_status.text
        data["schedule"] = None if self.schedule is None else self.schedule.to_json()
        data["targets"] = [
            {
                "method": t.method,
                "url": t.url if redact_url is None else redact_url(t.url),
                "headers": [[k, redact(k, v)] for k, v in t.headers],
                "body_bytes": None if t.body is None else len(t.body),
            }
            for t in self.targets
        ]
        return json.dumps(data, sort_keys=True)


def _positive(value: int | None, option: str, maximum: int) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{option} must be greater than zero")
    if value is not None and value > maximum:
        raise UsageError(f"{option} must be at most {maximum}")
