"""The keep-up warning of a --qps run goes by whether sends were on time, not by a rate
that counts the run up to its last response."""

from __future__ import annotations

import json
from pathlib import Path

from capture.output.run_summary import LAG_WARN_MS
from capture.target.server import FaultServer
from tests.conftest import query


def test_a_healthy_short_paced_run_has_no_warning(cli, server: FaultServer, db_path: Path) -> None:
    # Four connections for 20/s of 100 ms exchanges: each is free again long before its
    # next turn. The last response ends ~100 ms after the last send, so the achieved rate
    # (10 sent over ~0.55 s) reads ~18/s against 20/s asked, and that is no shortfall.
    result = cli(
        "run", f"{server.url}/?delay=0.1", "-c", "4", "--qps", "20", "-d", "0.5s",
        "--json", "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["sent"] == 10
    assert query(db_path, "select count(*) from requests") == [(10,)]
    assert summary["rate"] < 0.99 * 20  # what used to trip the warning
    # Every send on time gives no warning; a loaded machine may hold one back, and then
    # the warning is true: the verdict is the one the send lag calls for.
    on_time = summary["lag_ms"]["p99"] <= LAG_WARN_MS
    assert (summary["keep_up_warning"] is None) == on_time, summary


def test_a_starved_paced_run_still_warns(cli, server: FaultServer, db_path: Path) -> None:
    # One connection, 100 ms a response: 10/s at most, asked for 50/s.
    result = cli(
        "run", f"{server.url}/?delay=0.1", "-c", "1", "--qps", "50", "-d", "0.4s",
        "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "WARNING   the pool did not keep up: asked 50.0/s" in result.stdout
    assert "add connections (-c)" in result.stdout
    assert query(db_path, "select count(*) from requests") == [(20,)]
    # the service's latency and the one connection set the pace, not the client: no
    # "client limited" warning whose advice (--procs, fewer workers) would not help
    assert "the client limited this run" not in result.stdout
    summary = cli("summary", "--db", db_path, "--format", "json")
    data = json.loads(summary.stdout)
    assert data["client_limit"]["saturated"] is False and data["pacing"]["pool_bound"] is True
    # capture summary, later, gives the same cause as the end of the run
    text = cli("summary", "--db", db_path).stdout
    assert "WARNING:         the pool did not keep up" in text and "add connections (-c)" in text
    assert "the client limited this run" not in text
