"""Client saturation: runs.cpu_s holds the CPU that capture's own processes used, and a
run the client limited is flagged, with the advice, where an idle client's is not.

The CPU-bound client is made so by a --hooks file (a supported interface) that burns
BURN_S of CPU on every response: the client, not the target, is then the limit. The
checks are on the stored CPU seconds and the flag, never on how long anything took."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from capture.store.saturation import CPU_BUSY_SHARE
from capture.target.server import FaultServer
from tests.conftest import query

BURN_S = 0.003
REQUESTS = 400
HOOKS = f"""
import time


def on_response(response, ctx):
    # CPU, not a sleep: process_time only counts what this process itself computes.
    end = time.process_time() + {BURN_S}
    while time.process_time() < end:
        pass
"""


def _run(db: Path, *args: str) -> dict[str, Any]:
    """Runs `capture run ... --json` in its own process; returns the end summary."""
    done = subprocess.run(
        [sys.executable, "-m", "capture", "run", *args, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _summary(cli, db: Path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    result = cli("summary", "--db", db, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _stored(db: Path) -> tuple[float, float]:
    ((cpu_s, duration_s),) = query(db, "select cpu_s, duration_s from runs")
    assert isinstance(cpu_s, float) and isinstance(duration_s, float)
    return cpu_s, duration_s


def test_a_cpu_bound_client_is_flagged(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    hooks = tmp_path / "burn.py"
    hooks.write_text(HOOKS)
    end = _run(db_path, f"{server.url}/", "-n", str(REQUESTS), "-c", "4", "--hooks", str(hooks))
    cpu_s, duration_s = _stored(db_path)
    assert cpu_s >= REQUESTS * BURN_S  # at least what the hooks burned: all of it counted
    assert end["cpu_s"] == round(cpu_s, 6)
    share = cpu_s / duration_s
    # The flag is exactly the documented rule applied to the stored figures.
    assert end["client_limit"]["cpu_share"] == round(share, 4)
    assert end["client_limit"]["saturated"] is (share >= CPU_BUSY_SHARE)
    summary = _summary(cli, db_path)["client_limit"]
    assert (summary["cpu_s"], summary["procs"]) == (cpu_s, 1)
    assert summary["cpu_share"] == round(share, 4)
    assert summary["saturated"] is (share >= CPU_BUSY_SHARE)
    if share < CPU_BUSY_SHARE:
        # Other processes took the cores: this one got less than 80 % of one, so by the
        # rule it was not the limit; the flag's presence cannot be shown on this machine.
        pytest.skip(f"the machine gave the client only {share:.0%} of a core")
    assert end["client_limit"]["saturated"] is True
    assert summary["reasons"] == [f"its process kept {share:.0%} of a core busy"]
    assert "--procs 2" in summary["advice"] and "fewer workers" in summary["advice"]
    text = cli("summary", "--db", db_path).stdout
    assert f"WARNING:         {summary['advice']}" in text


def test_an_idle_client_against_a_slow_path_is_not_flagged(
    cli, server: FaultServer, db_path: Path
) -> None:
    end = _run(db_path, f"{server.url}/?delay=0.05", "-n", "40", "-c", "2")
    cpu_s, duration_s = _stored(db_path)
    assert 0 < cpu_s < CPU_BUSY_SHARE * duration_s
    assert end["client_limit"] == {
        "cpu_share": round(cpu_s / duration_s, 4),
        "saturated": False,
        "reasons": [],
        "advice": None,
    }
    summary = _summary(cli, db_path)["client_limit"]
    assert (summary["saturated"], summary["reasons"], summary["advice"]) == (False, [], None)
    assert summary["cpu_share"] == round(cpu_s / duration_s, 4)
    assert "WARNING" not in cli("summary", "--db", db_path).stdout


def test_procs_children_report_their_cpu(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    """With --procs 2 each process burns for its half: cpu_s counts both halves."""
    hooks = tmp_path / "burn.py"
    hooks.write_text(HOOKS)
    args = (f"{server.url}/", "-n", str(REQUESTS), "-c", "2", "--procs", "2", "--hooks", str(hooks))
    end = _run(db_path, *args)
    cpu_s, duration_s = _stored(db_path)
    assert cpu_s >= REQUESTS * BURN_S  # the parent alone burned only half of it
    assert end["cpu_s"] == round(cpu_s, 6)
    summary = _summary(cli, db_path)["client_limit"]
    assert summary["procs"] == 2
    assert summary["cpu_share"] == round(cpu_s / (2 * duration_s), 4)
