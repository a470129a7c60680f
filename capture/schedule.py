"""A rate schedule: `--qps FROM:TO` (a linear ramp) or `--stages 30s:100,1m:500,30s:0`.

The schedule is a list of segments, each a duration and a rate that goes linearly from
FROM to TO within it (FROM == TO: a step; 0: a pause). N(t), the planned count, is the
integral of the rate from 0 to t; request seq k is intended at time_of(k - 1), the time
N reaches k - 1, and is sent only when that time is before the end of the schedule. A
count is placed in the first segment whose end count is above it, so a pause sends
nothing and the request that follows it goes at the pause's end. Pure, no I/O: any layer
may use it (the plan to pace, the store and output to say what a run was asked).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

from capture.errors import UsageError
from capture.parse import MAX_QPS, MIN_QPS, check_duration, parse_duration

__all__ = ["MAX_STAGES", "Schedule", "Segment", "parse_qps"]

MAX_STAGES = 1000  # a schedule is typed by hand: more stages than this is a mistake
_KINDS = {"ramp": "--qps", "stages": "--stages"}


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a schedule: its duration and the rate at its start and its end."""

    duration_s: float
    from_qps: float
    to_qps: float

    @property
    def count(self) -> float:
        """Returns the requests this segment plans: the integral of its rate."""
        return self.duration_s * (self.from_qps + self.to_qps) / 2.0

    def time_of(self, n: float) -> float:
        """Returns the time into the segment at which its own count reaches n."""
        a, b, d = self.from_qps, self.to_qps, self.duration_s
        if n <= 0.0:
            return 0.0
        if a == b:
            return min(n / a, d)  # a > 0: a zero segment plans nothing, so holds no count
        # a t + (b - a) t^2 / 2d = n; the root written as 2n / (a + sqrt(...)) has no
        # cancellation on a ramp down and no division by zero on a ramp from 0.
        slope = (b - a) / d
        root = math.sqrt(max(a * a + 2.0 * slope * n, 0.0))
        return min(2.0 * n / (a + root), d)


@dataclass(frozen=True, slots=True)
class Schedule:
    """A run's planned rate over time: segments one after the other, from t = 0."""

    segments: tuple[Segment, ...]
    kind: str = "stages"  # "ramp" (--qps FROM:TO) or "stages" (--stages)
    _starts: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _ends: tuple[float, ...] = field(init=False, repr=False, compare=False)  # N at each end

    def __post_init__(self) -> None:
        option = _KINDS.get(self.kind)
        if option is None:
            raise UsageError(f"unknown rate schedule kind {self.kind!r}")
        if not self.segments:
            raise UsageError(f"{option}: give at least one stage")
        if len(self.segments) > MAX_STAGES:
            raise UsageError(f"{option}: at most {MAX_STAGES} stages")
        for seg in self.segments:
            check_duration(seg.duration_s, option=f"{option}: a stage's duration")
            for value in (seg.from_qps, seg.to_qps):
                _check_rate(value, option)
        starts, ends, t, n = [], [], 0.0, 0.0
        for seg in self.segments:
            starts.append(t)
            t += seg.duration_s
            n += seg.count
            ends.append(n)
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_ends", tuple(ends))
        if self.planned == 0:
            raise UsageError(f"{option}: the rates plan no request at all")

    @classmethod
    def ramp(cls, from_qps: float, to_qps: float, duration_s: float) -> Schedule:
        """Returns the linear ramp from from_qps to to_qps over duration_s."""
        return cls((Segment(duration_s, from_qps, to_qps),), kind="ramp")

    @classmethod
    def parse_stages(cls, text: str) -> Schedule:
        """Turns '30s:100,1m:500,30s:0' (DUR:RATE or DUR:FROM:TO each) into a schedule."""
        segments = []
        for part in text.split(","):
            pieces = [p.strip() for p in part.split(":")]
            if len(pieces) not in (2, 3) or not all(pieces):
                raise UsageError(
                    f"--stages: {part.strip()!r} is not a stage (use DURATION:RATE or "
                    "DURATION:FROM:TO, e.g. 30s:100,1m:100:500)"
                )
            seconds = parse_duration(pieces[0], option="--stages")
            rates = [_rate(p, "--stages") for p in pieces[1:]]
            segments.append(Segment(seconds, rates[0], rates[-1]))
        return cls(tuple(segments), kind="stages")

    @property
    def duration_s(self) -> float:
        """Returns the schedule's length: the sum of its segments."""
        return self._starts[-1] + self.segments[-1].duration_s

    @property
    def planned(self) -> int:
        """Returns the requests the schedule sends: the k >= 1 with time_of(k - 1) < its
        duration, which is ceil(N(duration)) unless float rounding puts the last at the end."""
        count = math.ceil(self._ends[-1])
        while count > 0 and self.time_of(count - 1) >= self.duration_s:
            count -= 1
        return count

    @property
    def mean_rate(self) -> float:
        """Returns the asked rate over the whole schedule: planned requests / duration."""
        return self.planned / self.duration_s

    def asked_rate(self, limit: int | None = None) -> float:
        """Returns the mean asked rate of the requests actually planned, -n limit included:
        the first `limit` requests over the time the schedule gives them."""
        if limit is None or limit >= self.planned:
            return self.mean_rate
        span = self.time_of(limit)
        return limit / span if span > 0 else self.mean_rate

    def _index(self, t_s: float) -> int:
        return max(bisect.bisect_right(self._starts, t_s) - 1, 0)

    def rate_at(self, t_s: float) -> float:
        """Returns the planned rate at t_s seconds (0 outside the schedule)."""
        if not 0.0 <= t_s < self.duration_s:
            return 0.0
        i = self._index(t_s)
        seg = self.segments[i]
        return seg.from_qps + (seg.to_qps - seg.from_qps) * (t_s - self._starts[i]) / seg.duration_s

    def count_until(self, t_s: float) -> float:
        """Returns N(t_s): the requests planned from the start up to t_s seconds."""
        if t_s <= 0.0:
            return 0.0
        if t_s >= self.duration_s:
            return self._ends[-1]
        i = self._index(t_s)
        seg, u = self.segments[i], t_s - self._starts[i]
        before = self._ends[i - 1] if i else 0.0
        slope = (seg.to_qps - seg.from_qps) / seg.duration_s
        return before + seg.from_qps * u + slope * u * u / 2.0

    def time_of(self, n: float) -> float:
        """Returns the time the planned count reaches n (inf when it never does), in the
        first segment whose end count is above n: request seq k goes at time_of(k - 1)."""
        i = bisect.bisect_right(self._ends, n)
        if i >= len(self.segments):
            return math.inf
        before = self._ends[i - 1] if i else 0.0
        return self._starts[i] + self.segments[i].time_of(n - before)

    @property
    def label(self) -> str:
        """Returns the schedule in a few words: 'ramp 100→2000/s' or '3 stages'."""
        if self.kind == "ramp":
            seg = self.segments[0]
            return f"ramp {seg.from_qps:g}→{seg.to_qps:g}/s"
        n = len(self.segments)
        return f"{n} stage{'s' if n != 1 else ''}"

    def to_json(self) -> dict[str, Any]:
        """Returns the schedule as plain JSON data (runs.config_json's `schedule`)."""
        return {
            "kind": self.kind,
            "segments": [[s.duration_s, s.from_qps, s.to_qps] for s in self.segments],
            "label": self.label,
            "planned": self.planned,
            "mean_qps": self.mean_rate,
        }

    @classmethod
    def from_json(cls, data: object) -> Schedule | None:
        """Returns the schedule to_json wrote, or None for anything else (an older file)."""
        if not isinstance(data, dict):
            return None
        try:
            segments = tuple(Segment(float(d), float(a), float(b)) for d, a, b in data["segments"])
            return cls(segments, kind=str(data["kind"]))
        except (KeyError, TypeError, ValueError, UsageError):
            return None


def parse_qps(text: str, duration_s: float | None) -> tuple[float | None, Schedule | None]:
    """Turns --qps RATE into (rate, None) and --qps FROM:TO into (None, ramp over -d)."""
    if ":" not in text:
        return _rate(text, "--qps", plain=True), None
    pieces = [p.strip() for p in text.split(":")]
    if len(pieces) != 2 or not all(pieces):
        raise UsageError(f"--qps: {text!r} is not a rate (use RATE or FROM:TO, e.g. 100:2000)")
    low, high = (_rate(p, "--qps") for p in pieces)
    if duration_s is None:
        raise UsageError("--qps FROM:TO needs -d/--duration: the ramp rises over it")
    return None, Schedule.ramp(low, high, duration_s)


def _rate(text: str, option: str, *, plain: bool = False) -> float:
    """Returns text as a number of requests/s; RunConfig checks a plain --qps's range."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a rate in requests/s") from None
    if not plain:
        _check_rate(value, option)
    return value


def _check_rate(value: float, option: str) -> None:
    if not (value == 0.0 or MIN_QPS <= value <= MAX_QPS):  # False for nan too
        raise UsageError(
            f"{option}: a rate must be 0 or between {MIN_QPS:g} and {MAX_QPS:g}, not {value:g}"
        )
