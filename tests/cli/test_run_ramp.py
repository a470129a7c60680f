"""`capture run --qps FROM:TO` and `--stages` end to end on the built-in target: the run
sends exactly the schedule's planned count, each row's intended time (offset_ms - lag_ms)
is the schedule's time_of(seq - 1), and runs.qps_asked is the schedule's mean rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capture.schedule import Schedule
from capture.target.server import FaultServer
from tests.conftest import query

# offset_ms and lag_ms are each rounded to the microsecond when stored (one float each)
_TOLERANCE_MS = 0.01


def _check_schedule(db: Path, schedule: Schedule) -> None:
    """Asserts the exact count, the seqs 1..N, and each row's intended time."""
    rows = query(db, "select seq, offset_ms - lag_ms from requests order by seq")
    assert [seq for seq, _ in rows] == list(range(1, schedule.planned + 1))
    off = [
        (seq, at, 1000 * schedule.time_of(seq - 1))
        for seq, at in rows
        if abs(at - 1000 * schedule.time_of(seq - 1)) > _TOLERANCE_MS  # type: ignore[operator]
    ]
    assert off == []
    (config_json, qps_asked) = query(db, "select config_json, qps_asked from runs")[0]
    stored = Schedule.from_json(json.loads(str(config_json))["schedule"])
    assert stored == schedule
    assert qps_asked == pytest.approx(schedule.mean_rate)


def test_qps_ramp_sends_the_planned_count_at_the_ramps_times(
    cli, server: FaultServer, db_path: Path
) -> None:
    result = cli(
        "run", f"{server.url}/", "--qps", "50:150", "-d", "2s", "-c", "4", "--db", db_path,
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    schedule = Schedule.ramp(50, 150, 2.0)
    assert schedule.planned == 200
    _check_schedule(db_path, schedule)
    summary = json.loads(result.stdout)
    assert summary["sent"] == 200 and summary["schedule"] == "ramp 50→150/s"
    assert summary["qps_asked"] == 100.0
    assert len(server.entries()) == 200


def test_stages_with_a_pause_send_nothing_in_it(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run", f"{server.url}/", "--stages", "500ms:40,500ms:0,500ms:0:80", "-c", "2",
        "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    schedule = Schedule.parse_stages("500ms:40,500ms:0,500ms:0:80")
    assert schedule.planned == 20 + 0 + 20
    _check_schedule(db_path, schedule)
    intended = [r[0] for r in query(db_path, "select offset_ms - lag_ms from requests")]
    assert not [t for t in intended if 500 + _TOLERANCE_MS < t < 1000 - _TOLERANCE_MS]  # type: ignore[operator]
    assert "asked on average by 3 stages (" in result.stdout
    assert query(db_path, "select duration_s >= 1.0 from runs") == [(1,)]


def test_stages_capped_by_count(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run", f"{server.url}/", "--stages", "1s:20,1s:0,1s:20", "-n", "25", "--db", db_path,
        "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    schedule = Schedule.parse_stages("1s:20,1s:0,1s:20")
    rows = query(db_path, "select seq, offset_ms - lag_ms from requests order by seq")
    assert [seq for seq, _ in rows] == list(range(1, 26))
    assert all(abs(at - 1000 * schedule.time_of(s - 1)) <= _TOLERANCE_MS for s, at in rows)  # type: ignore[operator]
    # 25 requests over the 2.25 s the schedule gives them
    (qps_asked,) = query(db_path, "select qps_asked from runs")[0]
    assert qps_asked == pytest.approx(25 / schedule.time_of(25))


def test_ramp_over_procs_sends_the_same_count_and_times(
    cli, server: FaultServer, db_path: Path
) -> None:
    result = cli(
        "run", f"{server.url}/", "--qps", "0:120", "-d", "1s", "--procs", "2", "-c", "2",
        "--db", db_path, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    schedule = Schedule.ramp(0, 120, 1.0)
    assert schedule.planned == 60
    _check_schedule(db_path, schedule)
    assert query(db_path, "select count(distinct process) from requests") == [(2,)]


def test_read_side_says_the_schedule(cli, server: FaultServer, db_path: Path) -> None:
    """The report's verdict and caveats and `capture summary` say the ramp, rebuilt from
    runs.config_json, beside the mean asked rate."""
    for rates in (("--qps", "20:60", "-d", "1s"), ("--qps", "40", "-d", "1s")):
        result = cli("run", f"{server.url}/", *rates, "-c", "2", "--db", db_path, "--quiet")
        assert result.exit_code == 0, result.stderr
    out = cli("report", "1", "2", "--db", db_path, "--format", "json")
    assert out.exit_code == 0, out.stderr
    doc = json.loads(out.stdout)
    ramp, flat = doc["runs"]
    assert ramp["totals"]["schedule"] == "ramp 20→60/s" and flat["totals"]["schedule"] is None
    assert ramp["totals"]["qps_asked"] == flat["totals"]["qps_asked"] == 40.0
    assert "/s of 40.0/s asked on average by ramp 20→60/s" in ramp["verdict"]
    assert "on average" not in flat["verdict"]
    # the same mean asked rate, but a ramp and a constant rate are not the same load
    (caveat, *_) = doc["comparisons"][0]["caveats"]
    assert caveat.startswith("different loads: run 1 ")
    assert "/s at ramp 20→60/s (40/s on average), run 2 " in caveat
    assert "/s at --qps 40: latency depends on the load" in caveat
    summary = cli("summary", "-r", "1", "--db", db_path)
    assert summary.exit_code == 0, summary.stderr
    assert "pacing:          asked 40.0/s on average by ramp 20→60/s, achieved" in summary.stdout
