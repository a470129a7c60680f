"""`capture report`: its outputs, before/after deltas, and every bad input as one line
and an exit code that leaves the database as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from capture.output.verdict_line import verdict
from capture.target.server import FaultServer
from tests.conftest import Result


def _run(cli, db: Path, *urls: str, n: int = 60, name: str | None = None) -> None:  # type: ignore[no-untyped-def]
    extra = ["--name", name] if name else []
    assert cli("run", *urls, "-n", n, "-c", "2", "--db", db, "--quiet", *extra).exit_code == 0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_to_stdout_and_html_to_a_file(
    cli,
    server: FaultServer,
    db_path: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    _run(cli, db_path, f"{server.url}/a?mix=500:10")
    out = cli("report", "--db", db_path, "--format", "json")
    assert out.exit_code == 0
    doc = json.loads(out.stdout)
    assert (doc["format"], doc["version"], len(doc["runs"]), doc["comparisons"]) == (
        "capture-report",
        1,
        1,
        [],
    )
    assert doc["runs"][0]["totals"]["requests"] == 60
    assert doc["runs"][0]["totals"]["failed"] == 10  # mix: the first 10 of every 100
    page = tmp_path / "r.html"
    written = cli("report", "--db", db_path, "-o", page)
    assert written.exit_code == 0
    assert written.stderr.startswith(f"report of run 1 written to {page} (")
    assert page.read_text().startswith("<!DOCTYPE html>")
    html_to_stdout = cli("report", "--db", db_path)  # not a terminal here: the page itself
    assert html_to_stdout.exit_code == 0 and html_to_stdout.stdout.startswith("<!DOCTYPE html>")


def test_before_and_after(cli, server: FaultServer, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A fix that removed the 500s and brought 503s: the deltas say so, counts exact."""
    _run(cli, db_path, f"{server.url}/a?mix=500:10", name="before")
    _run(cli, db_path, f"{server.url}/a?mix=503:5", n=40, name="after")
    doc = json.loads(cli("report", "before", "after", "--db", db_path, "--format", "json").stdout)
    assert [r["run"]["name"] for r in doc["runs"]] == ["before", "after"]
    (delta,) = doc["comparisons"]
    assert (delta["against"], delta["run"]) == (1, 2)
    assert delta["totals"]["requests"] == [60, 40, -20]
    assert delta["totals"]["failed"] == [10, 5, -5]
    assert delta["totals"]["failed_pct"] == [16.667, 12.5, -4.167]
    base = "http://127.0.0.1"  # the template's host
    assert [(g["outcome"], g["against"], g["run"]) for g in delta["groups"]["gone"]] == [
        ("500", 10, 0)
    ]
    assert [(g["outcome"], g["against"], g["run"]) for g in delta["groups"]["new"]] == [
        ("503", 0, 5)
    ]
    assert delta["groups"]["both"] == []
    (url,) = delta["urls"]
    assert url["template"].startswith(base)
    assert (url["against"]["requests"], url["run"]["requests"], url["change"]["requests"]) == (
        60,
        40,
        -20,
    )


def test_same_run_twice_and_all_are_refused(cli, server: FaultServer, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    _run(cli, db_path, f"{server.url}/a")
    before = _digest(db_path)
    for args, message in (
        (["1", "1"], "capture: error: run 1 is given twice\n"),
        (["all"], "capture: error: report reads runs by id or name, not 'all' (see: capture runs)"),
        (["1"] * 7, "capture: error: report overlays at most 6 runs; 7 given\n"),
    ):
        result: Result = cli("report", *args, "--db", db_path, "--format", "json")
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", message.rstrip() + "\n")
    missing = cli("report", "9", "--db", db_path, "--format", "json")
    assert missing.exit_code == 4 and missing.stderr.count("\n") == 1 and "9" in missing.stderr
    assert _digest(db_path) == before


@pytest.mark.parametrize("target", ["db", "other_db", "dir", "wal", "shm"])
def test_output_never_replaces_a_database(
    cli,
    server: FaultServer,
    db_path: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    target: str,
) -> None:
    _run(cli, db_path, f"{server.url}/a")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    beside = {"wal": db_path.with_name(db_path.name + "-wal"),
              "shm": db_path.with_name(db_path.name + "-shm")}  # fmt: skip
    out = {"db": db_path, "other_db": other, "dir": tmp_path, **beside}[target]
    digests = (_digest(db_path), _digest(other))
    result = cli("report", "--db", db_path, "-o", out)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "database" in result.stderr or "directory" in result.stderr
    assert (_digest(db_path), _digest(other)) == digests


def test_output_in_a_missing_directory(
    cli,
    server: FaultServer,
    db_path: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """The same one line as capture export's -o (capture/safe.py write_output), exit 2."""
    _run(cli, db_path, f"{server.url}/a")
    result = cli("report", "--db", db_path, "-o", tmp_path / "no" / "r.html")
    assert result.exit_code == 2
    missing = tmp_path / "no" / "r.html"
    assert result.stderr == f"capture: error: --output {str(missing)!r}: directory does not exist\n"
    assert not (tmp_path / "no").exists()


def _shaped(**over: object) -> dict[str, object]:
    run: dict[str, object] = {
        "run": {"status": "completed"},
        "totals": {
            "requests": 1000,
            "failed": 50,
            "failed_pct": 5.0,
            "rate": 240.0,
            "qps_asked": 250.0,
            "failures_dropped": 0,
        },
        "failure_outcomes": [["502", 30], ["reset", 15], ["503", 4], ["500", 1]],
        "latency_ms": {"ok": {"p99": 12.5}},
        "client_limit": {"saturated": False},
    }
    run.update(over)
    return run


def test_verdict_lines() -> None:
    assert verdict(_shaped()) == (
        "50 of 1,000 requests failed (5.0%): 502 x30, reset x15, 503 x4 and 1 more"
        " · p99 of the ok 12.5 ms · 240.0/s of 250.0/s asked"
    )
    short = _shaped(totals={**_shaped()["totals"], "rate": 200.0})  # type: ignore[dict-item]
    assert "only 200.0/s of 250.0/s asked" in verdict(short)
    limited = verdict(_shaped(client_limit={"saturated": True}))
    assert limited.endswith("the client was at its limit: latency and rate may be the client's")
    crashed = verdict(_shaped(run={"status": "crashed"}))
    assert crashed.startswith("the run crashed: counts are of the rows stored before it stopped")
    empty = _shaped(totals={**_shaped()["totals"], "requests": 0, "failed": 0})  # type: ignore[dict-item]
    assert verdict(empty) == "no request was recorded"
    ok = _shaped(
        totals={**_shaped()["totals"], "failed": 0, "failed_pct": 0.0},  # type: ignore[dict-item]
        failure_outcomes=[],
    )
    assert verdict(ok).startswith("all 1,000 requests succeeded · p99 of the ok 12.5 ms")


def test_requests_that_made_no_connection(cli, db_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Refused on a closed loopback port: no fake connection row, counted on their own."""
    assert cli("run", "http://127.0.0.1:1/x", "-n", 20, "--db", db_path, "--quiet").exit_code == 0
    doc = json.loads(cli("report", "--db", db_path, "--format", "json").stdout)
    conns = doc["runs"][0]["connections"]
    assert conns["no_connection"] == {"requests": 20, "failed": 20,
                                      "outcomes": [["connect_refused", 20]]}  # fmt: skip
    assert (conns["total"], conns["rows"]) == (0, [])
    sides = conns["first_vs_reused"]
    assert sides["first"]["requests"] == sides["reused"]["requests"] == 0
    (group,) = doc["runs"][0]["failure_groups"]
    assert (group["outcome"], group["count"], group["signature_from"]) == (
        "connect_refused", 20, "error")  # fmt: skip


def _compared(rid: int, rate: float, qps: float | None, saturated: bool = False, c: int = 8,
              urls: tuple[str, ...] = ("/a",)) -> dict[str, object]:  # fmt: skip
    return {
        "run": {"id": rid, "name": None},
        "totals": {"rate": rate, "qps_asked": qps},
        "client_limit": {"saturated": saturated},
        "load": {"connections": c, "workers": None, "procs": 1, "hosts": None},
        "urls": [{"method": "GET", "template": u} for u in urls],
    }


def test_caveats_say_when_two_runs_do_not_compare() -> None:
    from capture.output.report_compare import caveats

    assert caveats(_compared(1, 500.0, 500.0), _compared(2, 480.0, 500.0)) == []
    assert caveats(_compared(1, 1446.0, None, saturated=True), _compared(2, 500.0, 500.0)) == [
        "different loads: run 1 1,446.0/s unpaced, run 2 500.0/s at --qps 500:"
        " latency depends on the load",
        "run 1's client was at its limit: its latency and rate may be the client's,"
        " not the service's",
    ]
    assert caveats(
        _compared(1, 500.0, 500.0), _compared(2, 500.0, 500.0, c=16, urls=("/a", "/b"))
    ) == [
        "different pools: run 1 connections 8, procs 1; run 2 connections 16, procs 1",
        "different URLs: 0 only in run 1, 1 only in run 2",
    ]
