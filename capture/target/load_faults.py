"""The faults that depend on load, shared by all connections (the scenarios of capture
diagnose): a keep-alive request limit, an idle-close race, a token bucket, backends of
which one is bad, a delay that grows with requests in flight, failures in time windows.

plan() reads and checks every parameter before anything is written (a bad one is a 400);
the LoadPlan then answers, or lets the normal handler answer."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from capture.target.exchange import BadParam, Exchange, Reply, status_text

__all__ = ["LoadPlan", "plan"]

MAX_S = 3600.0


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """The load faults one request asked for, checked."""

    max_requests: int
    idle_race_s: float
    bucket: tuple[float, int, int] | None  # rate, burst, status
    backends: tuple[int, int | None, int, bool] | None  # n, bad, bad status, by connection
    per_inflight_ms: float
    windows: tuple[tuple[float, float], ...]
    window_status: int

    def run(self, ex: Exchange, normal: Callable[[Exchange], Reply]) -> Reply:
        """Answers ex: a load fault when one applies, else normal(ex)."""
        since = ex.shared.since_first()
        if self.max_requests and ex.request_no > self.max_requests:
            ex.fault = "max_requests"
            return Reply("close")
        if self.idle_race_s and ex.request_no > 1 and ex.idle_before_s >= self.idle_race_s:
            ex.fault = "idle_race"
            return Reply("close")
        inflight = ex.shared.enter()
        try:
            if self.per_inflight_ms:
                ex.wait(self.per_inflight_ms * inflight / 1000.0)
            return self._answer(ex, since, normal)
        finally:
            ex.shared.leave()

    def _answer(self, ex: Exchange, since: float, normal: Callable[[Exchange], Reply]) -> Reply:
        if any(a <= since < b for a, b in self.windows):
            ex.fault = "fail_window"
            return ex.respond(self.window_status, status_text(self.window_status))
        if self.bucket is not None:
            rate, burst, status = self.bucket
            wait_s = ex.shared.take(rate, burst)
            if wait_s:
                ex.fault = "bucket"
                ex.retry_after = str(max(1, math.ceil(wait_s))).encode()
                return ex.respond(status, status_text(status))
        if self.backends is not None:
            n, bad, bad_status, by_connection = self.backends
            k = (ex.conn_no - 1 if by_connection else ex.shared.next_backend()) % n
            ex.extra.append((b"X-Served-By", b"backend-%d" % k))
            if k == bad:
                ex.fault = "bad_backend"
                text = f"{status_text(bad_status).decode().strip()} from backend-{k}\n"
                return ex.respond(bad_status, text.encode())
        return normal(ex)


def _windows(raw: str | None) -> tuple[tuple[float, float], ...]:
    if raw is None:
        return ()
    out = []
    for part in raw.split(","):
        a, sep, b = part.partition("-")
        try:
            lo, hi = float(a), float(b)
        except ValueError:
            lo = hi = math.nan
        if not sep or not 0 <= lo < hi <= MAX_S:  # also refuses nan
            raise BadParam(f"fail_windows part {part!r} is not A-B seconds with A < B")
        out.append((lo, hi))
    out.sort()
    if any(out[i][1] > out[i + 1][0] for i in range(len(out) - 1)):
        raise BadParam("fail_windows overlap")
    return tuple(out)


def _status(ex: Exchange, name: str, default: int) -> int:
    status = ex.int_param(name, default, 200, 599)
    return status


def plan(ex: Exchange) -> LoadPlan | None:
    """Returns the load faults ex asks for, checked; None when it asks for none."""
    p = ex.params
    names = ("max_requests", "idle_race", "bucket", "backends", "per_inflight", "fail_windows")
    if not any(name in p for name in names):
        return None
    bucket = None
    if "bucket" in p:
        status = ex.int_param("bucket_status", 429, 429, 503)
        if status not in (429, 503):
            raise BadParam(f"bucket_status={status} is neither 429 nor 503")
        bucket = (
            ex.float_param("bucket", 0.0, 0.001, 1e6),
            ex.int_param("burst", 1, 1, 1 << 20),
            status,
        )
    backends = None
    if "backends" in p:
        n = ex.int_param("backends", 2, 2, 64)
        bad = ex.int_param("bad_backend", -1, 0, n - 1) if "bad_backend" in p else None
        by = p.get("backend_by", "request")
        if by not in ("request", "connection"):
            raise BadParam(f"backend_by={by!r} is neither 'request' nor 'connection'")
        backends = (n, bad, _status(ex, "bad_status", 502), by == "connection")
    return LoadPlan(
        max_requests=ex.int_param("max_requests", 0, 1, 1 << 30),
        idle_race_s=ex.float_param("idle_race", 0.0, 0.001, MAX_S),
        bucket=bucket,
        backends=backends,
        per_inflight_ms=ex.float_param("per_inflight", 0.0, 0.0, 10_000.0),
        windows=_windows(p.get("fail_windows")),
        window_status=_status(ex, "window_status", 503),
    )
