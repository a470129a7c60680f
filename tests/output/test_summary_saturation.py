"""The client-limit rule (store.saturation) and how the live display and the end-of-run
summary say it. Pure functions, table-driven."""

from __future__ import annotations

import pytest

from capture.output.live import client_note
from capture.output.run_summary import summary_lines
from capture.results import Progress, RunStatus, RunSummary
from capture.store.saturation import client_limits, pool_bound
from capture.store.stats import StatsSnapshot


@pytest.mark.parametrize(
    ("figures", "bound"),
    [
        # 50/s at 100 ms needs 5 sessions busy: one connection cannot do it
        ({"qps": 50, "latency_p50_ms": 100, "sessions": 1}, True),
        ({"qps": 50, "latency_p50_ms": 100, "sessions": 10}, True),  # half the pool
        ({"qps": 50, "latency_p50_ms": 100, "sessions": 11}, False),
        # the lag is mostly the wait for a free session
        (
            {"qps": 1, "latency_p50_ms": 1, "sessions": 10, "wait_p99_ms": 40, "lag_p99_ms": 80},
            True,
        ),
        (
            {"qps": 1, "latency_p50_ms": 1, "sessions": 10, "wait_p99_ms": 39, "lag_p99_ms": 80},
            False,
        ),
        ({"qps": None, "latency_p50_ms": 100, "sessions": 1}, False),  # unpaced: no lag
    ],
)
def test_the_pool_bound(figures: dict[str, object], bound: bool) -> None:
    assert pool_bound(**figures) is bound  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("figures", "reasons"),
    [
        ({"cpu_s": 0.95, "duration_s": 1.0, "procs": 1}, ["its process kept 95% of a core busy"]),
        ({"cpu_s": 0.8, "duration_s": 1.0, "procs": 1}, ["its process kept 80% of a core busy"]),
        ({"cpu_s": 0.79, "duration_s": 1.0, "procs": 1}, []),
        (
            {"cpu_s": 1.6, "duration_s": 1.0, "procs": 2},
            ["its processes kept 80% of a core each busy"],
        ),
        ({"cpu_s": 1.5, "duration_s": 1.0, "procs": 2}, []),  # 75 % each
        ({"cpu_s": None, "duration_s": 1.0, "procs": 1}, []),  # a run from before cpu_s
        (
            {"cpu_s": 0.1, "duration_s": 1.0, "procs": 1, "lag_p99_ms": 50.1},
            ["send lag p99 50.1 ms > 50 ms, sessions free"],
        ),
        # Late because every session was busy: the pool's limit (keep_up_warning), not
        # the client's; fewer workers or more processes would not help.
        ({"cpu_s": 0.1, "duration_s": 1.0, "procs": 1, "lag_p99_ms": 80, "pool_busy": True}, []),
        ({"cpu_s": 0.1, "duration_s": 1.0, "procs": 1, "lag_p99_ms": 50.0}, []),
        (
            {
                "cpu_s": 0.1,
                "duration_s": 1.0,
                "procs": 1,
                "wait_p50_ms": 2.0,
                "latency_p50_ms": 2.0,
            },
            ["median pool wait 2.0 ms >= median latency 2.0 ms"],
        ),
        (
            {
                "cpu_s": 0.1,
                "duration_s": 1.0,
                "procs": 1,
                "wait_p50_ms": 1.9,
                "latency_p50_ms": 2.0,
            },
            [],
        ),
    ],
)
def test_the_rule(figures: dict[str, object], reasons: list[str]) -> None:
    found = client_limits(**figures)  # type: ignore[arg-type]
    assert list(found.reasons) == reasons
    assert found.saturated is bool(reasons)


def _snapshot(**kw: object) -> StatsSnapshot:
    base: dict[str, object] = {
        "sent": 100,
        "ok": 100,
        "latency_ms": {"p50": 1.0},
        "wait_ms": {"p50": 0.0},
    }
    return StatsSnapshot(**{**base, **kw})  # type: ignore[arg-type]


def test_live_note_says_client_bound_with_advice() -> None:
    p = Progress(3.0, None, 100, _snapshot(), busy_sessions=4, connections=4, stopping=None)
    assert client_note(p, 0.5) is None
    assert client_note(p, None) is None  # no whole window measured yet
    note = client_note(p, 0.97)
    assert (
        note
        == "client-bound: its process kept 97% of a core busy; try --procs N or fewer workers (-w)"
    )


def _summary(cpu_s: float, procs: int = 1) -> RunSummary:
    return RunSummary(
        run_id=1, name=None, status=RunStatus.COMPLETED, stop_reason="completed",
        duration_s=2.0, sent=100, ok=100, failed=0, stored=0, aborted=0, sockets_used=4,
        connections=4, qps_asked=None, stats=_snapshot(cpu_s=cpu_s), extra={"procs": procs},
    )  # fmt: skip


def test_end_of_run_summary_flags_a_busy_client() -> None:
    lines = list(summary_lines(_summary(1.9), db="x.db"))
    assert "  client    CPU 1.90 s, 95% of a core" in lines
    (warning,) = [x for x in lines if x.startswith("  WARNING")]
    assert "its process kept 95% of a core busy" in warning and "--procs 2" in warning


def test_end_of_run_summary_of_an_idle_client_has_no_warning() -> None:
    lines = list(summary_lines(_summary(0.2, procs=2), db="x.db"))
    assert "  client    CPU 0.20 s, 5% of a core per process, 2 processes" in lines
    assert not [x for x in lines if "WARNING" in x]


def test_end_of_run_summary_counts_tcp_connections_not_client_sockets() -> None:
    # sockets_used counts connections (runs.sockets_used); the sessions are the pool.
    lines = list(summary_lines(_summary(0.2), db="x.db"))
    assert "  connections 4 TCP connections opened by 4 sessions" in lines
    assert not [x for x in lines if "client sockets" in x]


def test_end_of_run_title_says_the_status_once() -> None:
    (title,) = [x for x in summary_lines(_summary(0.2), db="x.db") if x.startswith("capture ")]
    assert title.endswith(": completed after 2.00 s"), title
