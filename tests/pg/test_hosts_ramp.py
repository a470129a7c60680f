"""--hosts N with a rate ramp: the hosts split the ramp's seqs, each at the schedule's
time_of(seq - 1), and each host's summary judges its share of the ramp's mean rate."""

from __future__ import annotations

import json

from capture.schedule import Schedule
from capture.target.server import FaultServer
from tests.pg.test_hosts import _check_exact, _ledger_seqs, _rows, _run_hosts


def test_hosts_split_a_ramp(pg_url: str, server: FaultServer) -> None:
    schedule = Schedule.ramp(20, 60, 1.0)  # 40 requests, whichever host sends them
    args = ("--qps", "20:60", "-d", "1s", "-c", "2")
    done = _run_hosts(pg_url, f"{server.url}/", *args, hosts=2)
    assert [code for code, _, _ in done] == [0, 0], done
    assert _check_exact(pg_url, server, 2) == schedule.planned == 40
    assert sorted(_ledger_seqs(server)) == list(range(1, 41))
    rows = _rows(pg_url, "SELECT seq, offset_ms - lag_ms FROM requests ORDER BY seq")
    off = [(s, at) for s, at in rows if abs(at - 1000 * schedule.time_of(s - 1)) > 0.01]
    assert off == []
    [(qps_asked, config_json)] = _rows(pg_url, "SELECT qps_asked, config_json FROM runs")
    assert qps_asked == 40.0  # the run's mean asked rate, as one host would store it
    assert Schedule.from_json(json.loads(config_json)["schedule"]) == schedule
    shares = sorted(
        line.split("achieved, ")[1] for _, out, _ in done for line in out.splitlines()
        if line.startswith("  rate ")
    )  # fmt: skip
    assert [s.split(" (")[0] for s in shares] == [
        "20.0/s asked on average by ramp 20→60/s",
        "20.0/s asked on average by ramp 20→60/s",
    ]
