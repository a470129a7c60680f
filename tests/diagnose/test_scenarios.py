"""capture diagnose against the built-in target, one scenario per pattern: it fires, it
finds the right value, and the detectors of the other patterns stay silent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from capture.target.server import FaultServer
from tests.conftest import query

# Detectors that describe where failures broke rather than why; they may speak beside
# the one a scenario is about. client_limit depends on the machine, not the target.
DESCRIPTIVE = {"transport", "group", "client_limit"}


def _run(cli: Any, db: Path, *args: str) -> list[dict[str, Any]]:
    result = cli("run", *args, "--db", db, "--quiet")
    assert result.exit_code in (0, 1), result.stderr
    out = cli("diagnose", "--db", db, "--format", "json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)["findings"]


def _causes(findings: list[dict[str, Any]]) -> list[str]:
    return [f["detector"] for f in findings if f["detector"] not in DESCRIPTIVE]


def _one(findings: list[dict[str, Any]], detector: str) -> dict[str, Any]:
    found = [f for f in findings if f["detector"] == detector]
    assert len(found) == 1, [f["sentence"] for f in findings]
    return found[0]


def _failed_ids(db: Path, where: str = "1") -> set[int]:
    return {int(r[0]) for r in query(db, f"select id from requests where failed = 1 and {where}")}


def test_a_clean_run_has_no_finding(cli, server: FaultServer, db_path: Path) -> None:
    findings = _run(cli, db_path, f"{server.url}/ok", "-n", "100", "--qps", "100", "-c", "2")
    assert [f for f in findings if f["detector"] != "client_limit"] == []


def test_keep_alive_limit_is_the_nth_request(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/api?max_requests=20"
    findings = _run(cli, db_path, url, "-n", "300", "--qps", "300", "-c", "2")
    found = _one(findings, "position")
    assert found["values"]["position"] == 21
    assert set(found["command"][-2:]) == {"--position", "21"}
    assert found["failures"] == len(_failed_ids(db_path)) > 0  # every failure, exactly
    assert _failed_ids(db_path) == _failed_ids(db_path, "connection_request_no = 21")
    assert _causes(findings) == ["position"]


def test_idle_race_reports_the_gap(cli, server: FaultServer, db_path: Path) -> None:
    stages = ",".join(["300ms:20,500ms:0"] * 7 + ["300ms:20"])
    url = f"{server.url}/api?idle_race=0.3"
    findings = _run(cli, db_path, url, "--stages", stages, "-c", "2")
    found = _one(findings, "idle_gap")
    assert found["values"]["idle_gap_ms"] >= 300  # the server closed them: no shorter gap
    assert found["values"]["longest_ok_gap_ms"] < 300
    assert found["failures"] == len(_failed_ids(db_path))
    assert _causes(findings)[0] == "idle_gap"
    assert "position" not in _causes(findings) and "rate_threshold" not in _causes(findings)


def test_rate_limiter_on_a_ramp(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/api?bucket=100&burst=5"
    findings = _run(cli, db_path, url, "--qps", "20:220", "-d", "4s", "-c", "8")
    found = _one(findings, "rate_threshold")
    # ok answers held at the bucket's 100/s once the rate passed it; the first 429s came
    # a little later, once the rise had drained the burst of 5 tokens (at about 122/s)
    assert 90 <= found["values"]["limit_rate"] <= 110
    assert 100 <= found["values"]["rate"] <= 150
    assert set(found["values"]["retry_after"]) == {"1"}
    assert _causes(findings) == ["rate_threshold"]


def test_one_bad_backend(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/api?backends=2&bad_backend=1"
    findings = _run(cli, db_path, url, "-n", "200", "--qps", "200", "-c", "4")
    found = _one(findings, "backend")
    assert found["values"] == {"header": "X-Served-By", "backend": "backend-1", "outcome": "502"}
    assert found["failures"] == 100 == len(_failed_ids(db_path))
    assert _causes(findings) == ["backend"]


def test_bursts_in_time(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/api?fail_windows=1-1.5,3-3.5"
    findings = _run(cli, db_path, url, "-d", "5s", "--qps", "50", "-c", "2")
    found = _one(findings, "bursts")
    windows = found["values"]["windows"]
    assert len(windows) == 2
    for (start, end), (a, b) in zip(windows, [(1, 1.5), (3, 3.5)], strict=True):
        assert abs(start - a) <= 0.2 and abs(end - b) <= 0.2
    assert found["failures"] == len(_failed_ids(db_path))
    assert _causes(findings) == ["bursts"]


def test_one_failing_url_and_a_closed_port(cli, server: FaultServer, db_path: Path) -> None:
    bad = f"{server.url}/x?status=500"
    findings = _run(cli, db_path, f"{server.url}/ok", bad, "-n", "200", "--qps", "200")
    found = _one(findings, "target")
    assert found["values"]["target"] == f"GET {bad}"
    assert found["failures"] == 100
    assert _causes(findings) == ["target"]


def test_big_failed_bodies(cli, server: FaultServer, db_path: Path) -> None:
    big = f"{server.url}/export?size=200000&status=500"
    findings = _run(cli, db_path, f"{server.url}/ok", big, "-n", "100", "--qps", "100")
    found = _one(findings, "big_body")
    assert found["values"]["median_bytes"] == 200000
    assert found["failures"] == 50
    assert sorted(_causes(findings)) == ["big_body", "target"]


def test_two_causes_at_once(cli, server: FaultServer, db_path: Path) -> None:
    url = f"{server.url}/api?backends=2&bad_backend=1&bad_status=503&max_requests=25"
    findings = _run(cli, db_path, url, "-n", "400", "--qps", "400", "-c", "2")
    backend = _one(findings, "backend")
    position = _one(findings, "position")
    assert backend["values"]["backend"] == "backend-1"
    assert position["values"]["position"] == 26
    assert backend["failures"] == len(_failed_ids(db_path, "status = 503"))
    assert position["failures"] == len(_failed_ids(db_path, "status is null"))
    assert {f["detector"] for f in findings if f["detector"] == "group"} == set()
