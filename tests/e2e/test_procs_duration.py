"""--procs: the run's duration spans every process, not process 0's share alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capture.target.server import FaultServer
from tests.conftest import query


def test_duration_covers_the_slowest_process(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    # Seq i goes to process (i - 1) % 2: a hook holds each worker of process 1 for 50 ms
    # after every response, so process 1 ends well after process 0.
    hooks = tmp_path / "slow_process.py"
    hooks.write_text(
        "import time\n"
        "def on_response(response, ctx):\n"
        "    if ctx.seq % 2 == 0:\n"
        "        time.sleep(0.05)\n"
    )
    result = cli(
        "run", f"{server.url}/x", "-n", "80", "-c", "2", "--procs", "2",
        "--hooks", str(hooks), "--db", db_path, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    ((end_0, end_1),) = query(
        db_path,
        "select max(case when process = 0 then offset_ms + latency_ms end),"
        " max(case when process = 1 then offset_ms + latency_ms end) from requests",
    )
    assert end_1 > end_0 + 500  # 40 requests x 50 ms over 2 workers: about a second later
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
