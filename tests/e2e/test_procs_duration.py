"""--procs: the run's duration spans every process, not process 0's share alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capture.target.server import FaultServer
from tests.conftest import query


def test_duration_covers_the_slowest_process(cli, server: FaultServer, db_path: Path) -> None:
    # Seq i goes to process (i - 1) % 2 and targets take turns by seq: process 0 sends
    # only the fast URL, process 1 only the slow one, so process 1 ends well after 0.
    fast, slow = f"{server.url}/fast", f"{server.url}/slow?delay=0.05"
    result = cli(
        "run", fast, slow, "-n", "80", "-c", "2", "--procs", "2", "--db", db_path, "--json"
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert query(
        db_path,
        "select (seq - 1) % 2, count(*), min(url), max(url) from requests group by 1 order by 1",
    ) == [(0, 40, fast, fast), (1, 40, slow, slow)]
    ((duration, total, end_ms),) = query(
        db_path,
        "select duration_s, requests_total,"
        " (select max(offset_ms + latency_ms) from requests) from runs",
    )
    assert isinstance(duration, float) and isinstance(end_ms, float)
    assert total == printed["sent"] == 80
    assert duration * 1000 >= end_ms - 1.0  # the last answer of either process is inside
    assert printed["duration_s"] == pytest.approx(duration, abs=1e-6)
    assert printed["rate"] == pytest.approx(total / duration, abs=1e-3)
    summary = cli("summary", "--db", db_path, "--format", "json")
    assert summary.exit_code == 0, summary.stderr
    assert json.loads(summary.stdout)["duration_s"] == pytest.approx(duration, abs=1e-6)
    runs = cli("runs", "--db", db_path, "--format", "json")
    assert runs.exit_code == 0, runs.stderr
    ((row),) = json.loads(runs.stdout)
    assert row["duration_s"] == pytest.approx(duration, abs=1e-6)
    assert row["rate"] == pytest.approx(total / duration, rel=1e-6)
