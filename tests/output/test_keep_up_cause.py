"""The keep-up warning names the cause of late sends: the writer, the pool, the CPU, or
none of capture's own (other load). Pure: RunSummary values as a run leaves them."""

from __future__ import annotations

from typing import Any

import pytest

from capture.output.run_summary import keep_up_warning
from capture.results import RunStatus, RunSummary
from capture.store.stats import StatsSnapshot


def _summary(
    *, lag_p99: float, latency_p50: float, cpu_s: float, extra: dict[str, Any]
) -> RunSummary:
    snap = StatsSnapshot(
        sent=1000,
        ok=1000,
        latency_ms={"p50": latency_p50, "p99": latency_p50 * 2, "max": latency_p50 * 3},
        lag_ms={"p50": 1.0, "p99": lag_p99, "max": lag_p99 * 2},
        wait_ms={"p50": 0.001, "p99": 0.01, "max": 0.1},
        cpu_s=cpu_s,
    )
    return RunSummary(
        run_id=1, name=None, status=RunStatus.COMPLETED, stop_reason="completed",
        duration_s=10.0, sent=1000, ok=1000, failed=0, stored=0, aborted=0,
        sockets_used=16, connections=16, qps_asked=100.0, stats=snap, extra=extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("figures", "cause"),
    [
        ({"lag_p99": 80, "latency_p50": 1, "cpu_s": 2, "extra": {"queue_wait_s": 2.5}},
         "the writer was behind: workers waited 2.5 s for room in its queue"),
        # 100/s at 100 ms needs 10 of the 16 sessions busy: the pool
        ({"lag_p99": 80, "latency_p50": 100, "cpu_s": 2, "extra": {}},
         "every session was busy: add connections (-c)"),
        ({"lag_p99": 80, "latency_p50": 1, "cpu_s": 9, "extra": {}},
         "capture's own CPU: 90% of a core (a process's threads share one GIL); add processes"),
        ({"lag_p99": 80, "latency_p50": 1, "cpu_s": 2, "extra": {"queue_wait_s": 0.0}},
         "sessions were free and capture's process at 20% of a core had CPU to spare: other"),
    ],
)  # fmt: skip
def test_the_warning_names_the_cause(figures: dict[str, Any], cause: str) -> None:
    warning = keep_up_warning(_summary(**figures))
    assert warning is not None
    assert warning.startswith("the pool did not keep up: asked 100.0/s, achieved 100.0/s")
    assert cause in warning


def test_no_warning_while_sends_are_on_time() -> None:
    figures = {"lag_p99": 50.0, "latency_p50": 1, "cpu_s": 9, "extra": {"queue_wait_s": 3.0}}
    assert keep_up_warning(_summary(**figures)) is None
