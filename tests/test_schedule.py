"""The rate schedule's arithmetic (capture/schedule.py), table-driven: planned counts,
N(t), its inverse time_of, the rate, the edges (a ramp from 0, a pause, a ramp down)."""

from __future__ import annotations

import json
import math
import pickle

import pytest

from capture.errors import UsageError
from capture.schedule import Schedule, Segment, parse_qps

# (schedule, planned count = #{k >= 1: time_of(k - 1) < duration}, duration_s, mean rate)
PLANNED = {
    "ramp-50-150-2s": (Schedule.ramp(50, 150, 2.0), 200, 2.0, 100.0),
    "ramp-from-0": (Schedule.ramp(0, 100, 1.0), 50, 1.0, 50.0),
    "ramp-down-to-0": (Schedule.ramp(100, 0, 1.0), 50, 1.0, 50.0),
    "ramp-to-fraction": (Schedule.ramp(0, 3, 1.0), 2, 1.0, 2.0),  # N = 1.5: k - 1 in {0, 1}
    "flat-one-stage": (Schedule.parse_stages("2s:10"), 20, 2.0, 10.0),
    "pause-between": (Schedule.parse_stages("1s:100,1s:0,500ms:0:100"), 125, 2.5, 50.0),
    "pause-first": (Schedule.parse_stages("1s:0,1s:10"), 10, 2.0, 5.0),
    "pause-last": (Schedule.parse_stages("1s:10,1s:0"), 10, 2.0, 5.0),
    "k6-example": (Schedule.parse_stages("30s:100,1m:500,30s:0"), 33000, 120.0, 275.0),
    "tiny-rate": (Schedule.parse_stages("1s:0.5"), 1, 1.0, 1.0),  # N = 0.5: only k = 1
}


@pytest.mark.parametrize(("schedule", "count", "duration", "mean"), PLANNED.values(), ids=PLANNED)
def test_planned_count_duration_and_mean(
    schedule: Schedule, count: int, duration: float, mean: float
) -> None:
    assert schedule.planned == count
    assert schedule.duration_s == pytest.approx(duration)
    assert schedule.mean_rate == pytest.approx(mean)
    # the definition itself: the last planned request is before the end, the next is not
    assert schedule.time_of(count - 1) < duration
    assert schedule.time_of(count) >= duration


# (schedule, count n, time N reaches n): closed forms of the integral's inverse
TIMES = {
    "ramp-first-at-0": (Schedule.ramp(50, 150, 2.0), 0, 0.0),
    # 50 t + 25 t^2 = 1  ->  t = (-50 + sqrt(2600)) / 50
    "ramp-second": (Schedule.ramp(50, 150, 2.0), 1, (-50 + math.sqrt(2600)) / 50),
    "ramp-half": (Schedule.ramp(50, 150, 2.0), 75, 1.0),  # N(1) = 50 + 25
    "from-0-sqrt": (Schedule.ramp(0, 100, 1.0), 2, math.sqrt(2 * 2 / 100)),  # 50 t^2 = 2
    "down-quadratic": (Schedule.ramp(100, 0, 1.0), 49, 1 - math.sqrt(0.02)),  # 100t - 50t^2
    "step-first-stage": (Schedule.parse_stages("1s:100,1s:0,1s:100"), 99, 0.99),
    # count 100 ends stage 1 exactly: it is placed at the start of the next stage that
    # sends, after the pause, not at the pause's beginning
    "after-pause": (Schedule.parse_stages("1s:100,1s:0,1s:100"), 100, 2.0),
    "in-third-stage": (Schedule.parse_stages("1s:100,1s:0,1s:100"), 150, 2.5),
    "zero-first": (Schedule.parse_stages("1s:0,1s:10"), 0, 1.0),
    "never": (Schedule.parse_stages("1s:10"), 10, math.inf),
}


@pytest.mark.parametrize(("schedule", "n", "t"), TIMES.values(), ids=TIMES)
def test_time_of_inverts_the_count(schedule: Schedule, n: float, t: float) -> None:
    assert schedule.time_of(n) == pytest.approx(t, abs=1e-12)
    if math.isfinite(t):
        assert schedule.count_until(t) == pytest.approx(n, abs=1e-9)


@pytest.mark.parametrize("schedule", [p[0] for p in PLANNED.values()], ids=PLANNED)
def test_intended_times_rise_and_invert(schedule: Schedule) -> None:
    times = [schedule.time_of(k - 1) for k in range(1, schedule.planned + 1)]
    assert times == sorted(times)
    assert all(0 <= t < schedule.duration_s for t in times)
    for k, t in enumerate(times[:500]):
        # N at the intended time of the (k + 1)-th request is k, up to rounding
        assert schedule.count_until(t) == pytest.approx(k, abs=1e-6)


def test_no_request_is_sent_in_a_pause() -> None:
    schedule = Schedule.parse_stages("1s:100,1s:0,1s:100")
    times = [schedule.time_of(k - 1) for k in range(1, schedule.planned + 1)]
    assert schedule.planned == 200
    assert not [t for t in times if 1.0 <= t < 2.0]


@pytest.mark.parametrize(
    ("t", "rate"),
    [(0.0, 50.0), (1.0, 100.0), (1.5, 125.0), (2.0, 0.0), (-1.0, 0.0)],
)
def test_rate_at_is_linear_within_the_ramp(t: float, rate: float) -> None:
    assert Schedule.ramp(50, 150, 2.0).rate_at(t) == pytest.approx(rate)


def test_rate_at_and_count_until_across_stages() -> None:
    schedule = Schedule.parse_stages("30s:100,1m:500,30s:0")
    assert [schedule.rate_at(t) for t in (0, 29.9, 30, 89.9, 90, 119)] == [
        100,
        100,
        500,
        500,
        0,
        0,
    ]
    assert schedule.count_until(30) == 3000
    assert schedule.count_until(60) == 18000
    assert schedule.count_until(100) == 33000 == schedule.count_until(1e9)
    assert schedule.count_until(0) == 0 == schedule.count_until(-5)


def test_asked_rate_of_a_capped_run_is_its_own_span() -> None:
    schedule = Schedule.ramp(50, 150, 2.0)
    assert schedule.asked_rate(None) == schedule.asked_rate(1000) == 100.0
    # the first 75 requests take the first second: 75/s asked, not the whole ramp's 100/s
    assert schedule.asked_rate(75) == pytest.approx(75.0)


def test_json_round_trip_and_pickle() -> None:
    schedule = Schedule.parse_stages("30s:100,1m:100:500,30s:0")
    data = json.loads(json.dumps(schedule.to_json()))
    assert data["label"] == "3 stages" and data["planned"] == 3000 + 18000 + 0
    assert Schedule.from_json(data) == schedule
    assert pickle.loads(pickle.dumps(schedule)) == schedule  # --procs hands it to children
    assert pickle.loads(pickle.dumps(schedule)).planned == schedule.planned
    assert Schedule.from_json(None) is None
    assert Schedule.from_json({"kind": "ramp", "segments": [[1, -5, 1]]}) is None
    assert Schedule.from_json({"segments": "x"}) is None


@pytest.mark.parametrize(
    ("schedule", "label"),
    [
        (Schedule.ramp(100, 2000, 60), "ramp 100→2000/s"),
        (Schedule.ramp(2000, 0.5, 60), "ramp 2000→0.5/s"),
        (Schedule.parse_stages("30s:100,1m:500,30s:0"), "3 stages"),
        (Schedule.parse_stages("30s:100"), "1 stage"),
    ],
)
def test_label(schedule: Schedule, label: str) -> None:
    assert schedule.label == label


def test_schedule_is_frozen_and_slotted() -> None:
    schedule = Schedule.ramp(1, 2, 1)
    with pytest.raises(AttributeError):
        schedule.kind = "stages"  # type: ignore[misc]
    assert not hasattr(schedule, "__dict__")
    assert not hasattr(Segment(1, 1, 1), "__dict__")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30s", "'30s' is not a stage"),
        ("30s:abc", "'abc' is not a rate"),
        ("30s:", "'30s:' is not a stage"),
        ("30s:1:2:3", "'30s:1:2:3' is not a stage"),
        ("abc:10", "'abc' is not a duration"),
        ("0s:10", "must be greater than zero"),
        ("30s:-1", "a rate must be 0 or between 0.001 and 1e+06, not -1"),
        ("30s:2e6", "not 2e+06"),
        ("30s:nan", "not nan"),
        ("30s:0.0001", "not 0.0001"),
        ("30s:0,10s:0", "the rates plan no request at all"),
        ("1s:10,", "'' is not a stage"),
        ("", "'' is not a stage"),
    ],
)
def test_bad_stages(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=r"^--stages") as caught:
        Schedule.parse_stages(text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("100:", "'100:' is not a rate"),
        (":100", "':100' is not a rate"),
        ("1:2:3", "'1:2:3' is not a rate"),
        ("a:10", "'a' is not a rate"),
        ("-1:10", "not -1"),
        ("10:2e6", "not 2e+06"),
        ("0:0", "the rates plan no request at all"),
    ],
)
def test_bad_qps_ramp(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=r"^--qps") as caught:
        parse_qps(text, 10.0)
    assert message in str(caught.value)


def test_qps_forms() -> None:
    assert parse_qps("200", None) == (200.0, None)
    assert parse_qps("100:2000", 60.0) == (None, Schedule.ramp(100, 2000, 60.0))
    with pytest.raises(UsageError, match="needs -d/--duration"):
        parse_qps("100:2000", None)
