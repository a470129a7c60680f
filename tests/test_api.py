"""The Python API and hooks: a run built in code, queried in code, and hooks that can
neither break accounting nor kill a worker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests

import capture
from capture.target.server import FaultServer
from tests.conftest import query

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _config(url: str, **kw: object) -> capture.RunConfig:
    fields = {"requests": 60, "connections": 3, **kw}
    return capture.RunConfig(targets=(capture.Target.build("GET", url),), **fields)  # type: ignore[arg-type]


def _accounting(db: Path, summary: capture.RunSummary) -> None:
    """sent = ok + failed; rows = sent; failures rows = failed; all as the summary says."""
    assert summary.sent == summary.ok + summary.failed + summary.aborted
    assert query(
        db,
        "select count(*), coalesce(sum(failed), 0) from requests where run_id = ?",
        summary.run_id,
    ) == [(summary.sent, summary.failed)]
    assert query(db, "select count(*) from failures where run_id = ?", summary.run_id) == [
        (summary.failed,)
    ]


def test_run_and_query_from_python(server: FaultServer, db_path: Path) -> None:
    summary = capture.run(_config(f"{server.url}/?mix=500:10", name="py"), db=str(db_path))
    assert (summary.sent, summary.ok, summary.failed, summary.status) == (60, 50, 10, "completed")
    assert summary.db == str(db_path) and summary.stats.latency_ms["p50"] > 0
    _accounting(db_path, summary)
    with capture.open_db(str(db_path)) as db:
        assert [r["name"] for r in db.runs()] == ["py"]
        rows = db.failures(status="5xx", limit=100)
        assert len(rows) == 10 and {r["status"] for r in rows} == {500}
        assert db.exchange(rows[0]["id"])["body"] == b"500 Internal Server Error\n"
        assert db.summary()["failed"] == 10
        assert sum(s["requests"] for s in db.sockets()) == 60


def test_is_failure_hook_decides(server: FaultServer, db_path: Path) -> None:
    def is_failure(response: requests.Response, ctx: capture.Context) -> bool | str | None:
        if response.status_code == 404:
            return False  # expected here
        if ctx.seq % 5 == 0:
            return "every_fifth"
        return None

    summary = capture.run(
        _config(f"{server.url}/?mix=404:50", requests=40),
        db=str(db_path),
        hooks=capture.Hooks(is_failure=is_failure),
    )
    _accounting(db_path, summary)
    rows = query(db_path, "select seq, status, error_kind, failed from requests order by seq")
    for seq, status, kind, failed in rows:
        if status == 404:
            assert (kind, failed) == (None, 0)
        elif seq % 5 == 0:
            assert (kind, failed) == ("every_fifth", 1)
        else:
            assert (kind, failed) == (None, 0)


def test_build_request_changes_what_is_sent(server: FaultServer, db_path: Path) -> None:
    def build_request(ctx: capture.Context) -> capture.Target:
        return capture.Target.build(
            "GET", f"{server.url}/n{ctx.seq}?status={200 + 300 * (ctx.seq % 2)}"
        )

    summary = capture.run(
        _config(f"{server.url}/", requests=10, connections=2),
        db=str(db_path),
        hooks=capture.Hooks(build_request=build_request),
    )
    _accounting(db_path, summary)
    assert summary.failed == 5
    paths = sorted(e.path for e in server.entries())
    assert paths == sorted(f"/n{i}?status={200 + 300 * (i % 2)}" for i in range(1, 11))
    stored = query(db_path, "select r.seq, r.url, r.status from requests r order by seq")
    assert all(url.endswith(f"/n{seq}?status={status}") for seq, url, status in stored)


def test_raising_sleeping_mutating_hooks_keep_accounting(
    server: FaultServer, db_path: Path
) -> None:
    seen = []
    lock = threading.Lock()

    def build_request(ctx: capture.Context) -> capture.Target | None:
        if ctx.seq % 7 == 0:
            raise RuntimeError(f"build failed for {ctx.seq}")
        if ctx.seq % 3 == 0:
            time.sleep(0.01)
            return capture.Target.build("GET", f"{server.url}/mutated?status=503")
        return None

    def on_response(response: requests.Response, ctx: capture.Context) -> None:
        with lock:
            seen.append(ctx.seq)
        if ctx.seq % 11 == 0:
            raise ValueError("observer broke")

    summary = capture.run(
        _config(f"{server.url}/", requests=77, connections=4),
        db=str(db_path),
        hooks=capture.Hooks(build_request=build_request, on_response=on_response),
    )
    _accounting(db_path, summary)
    assert summary.sent == 77 and summary.status == "completed"
    kinds = dict(query(db_path, "select error_kind, count(*) from requests group by 1"))
    build_errors = {s for s in range(1, 78) if s % 7 == 0}
    observer_errors = {s for s in range(1, 78) if s % 11 == 0 and s not in build_errors}
    assert kinds["hook_error"] == len(build_errors | observer_errors)
    (message,) = query(
        db_path,
        "select f.error_message from failures f join requests r"
        " on r.id = f.request_id where r.seq = 7",
    )[0]
    assert "RuntimeError: build failed for 7" in message and "Traceback" in message
    # a build_request that raised sent nothing: the server never saw those seqs
    assert len(server.entries()) == 77 - len(build_errors)
    assert sorted(seen) == sorted(set(range(1, 78)) - build_errors)


def test_on_failure_can_stop_the_run(server: FaultServer, db_path: Path) -> None:
    stops = []

    def on_failure(outcome: capture.Outcome) -> None:
        stops.append(outcome.seq)
        outcome.stop("enough")

    summary = capture.run(
        _config(f"{server.url}/?mix=503:10", requests=100_000, connections=1),
        db=str(db_path),
        hooks=capture.Hooks(on_failure=on_failure),
    )
    _accounting(db_path, summary)
    assert summary.stop_reason == "enough" and summary.sent == 1 and stops == [1]


def _cli_run(cli, *args: object) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", *args, "--quiet")
    assert result.exit_code == 0, result.stderr


def test_example_unique_ids(cli, server: FaultServer, db_path: Path) -> None:
    _cli_run(
        cli,
        f"{server.url}/?status=500",
        "-n",
        "20",
        "-c",
        "2",
        "--db",
        db_path,
        "--hooks",
        EXAMPLES / "unique_ids.py",
    )
    headers = [
        dict(json.loads(h)) for (h,) in query(db_path, "select request_headers from failures")
    ]
    ids = {h["X-Request-Id"] for h in headers}
    assert len(ids) == 20 and all(h["X-Signature"].startswith("sha256=") for h in headers)


def test_example_graphql_errors(cli, server: FaultServer, db_path: Path) -> None:
    body = '{"data":null,"errors":[{"message":"boom"}]}'
    from urllib.parse import quote

    url_bad = f"{server.url}/graphql?ctype=application/json&body={quote(body)}"
    fine = quote('{"data":{}}')
    url_ok = f"{server.url}/graphql?ctype=application/json&body={fine}"
    _cli_run(
        cli,
        url_bad,
        url_ok,
        "-n",
        "10",
        "-c",
        "2",
        "--db",
        db_path,
        "--hooks",
        EXAMPLES / "graphql_errors.py",
    )
    assert query(
        db_path,
        "select url like '%errors%', error_kind, failed, count(*)"
        " from requests group by 1, 2, 3 order by 1",
    ) == [(0, None, 0, 5), (1, "graphql_error", 1, 5)]


def test_example_stop_on_5xx(cli, server: FaultServer, db_path: Path) -> None:
    result = cli(
        "run",
        f"{server.url}/?mix=500:2",
        "-n",
        "5000",
        "-c",
        "1",
        "--db",
        db_path,
        "--hooks",
        EXAMPLES / "stop_on_5xx.py",
        "--quiet",
    )
    assert result.exit_code == 0, result.stderr
    # mix=500:2 fails slots 0 and 1 of each 100: seqs 1, 2 (warm-up), then 101 stops it
    assert query(db_path, "select count(*), max(seq) from requests") == [(101, 101)]
    assert query(db_path, "select seq from requests where failed order by seq") == [
        (1,),
        (2,),
        (101,),
    ]
    assert "stop_on_5xx: 500 at seq 101" in result.stderr
    assert query(db_path, "select status from runs") == [("completed",)]


@pytest.mark.parametrize(
    ("rule", "url_suffix", "kind"),
    [
        (["--fail-if-body", "nope"], "status=200&body=nope", "body_match"),
        (["--expect-body", "^ok"], "status=200&body=fine", "body_mismatch"),
        (["--expect-header", "X-Fault-Id: ^[0-9a-f]{8}-[0-9]+$"], "status=200", None),
        (["--expect-header", "Content-Type: json"], "status=200", "header_mismatch"),
        (
            ["--fail-if-json", "errors"],
            "ctype=application/json&body=%7B%22errors%22%3A%5B1%5D%7D",
            "json_match",
        ),
        (
            ["--fail-if-json", "status=degraded"],
            "ctype=application/json&body=%7B%22status%22%3A%22degraded%22%7D",
            "json_match",
        ),
        (
            ["--fail-if-json", "errors"],
            "ctype=application/json&body=%7B%22errors%22%3A%5B%5D%7D",
            None,
        ),
    ],
)
def test_builtin_rules(
    cli, server: FaultServer, db_path: Path, rule: list[str], url_suffix: str, kind: str | None
) -> None:
    _cli_run(
        cli,
        f"{server.url}/?{url_suffix}",
        "-n",
        "4",
        "-c",
        "1",
        "--db",
        db_path,
        "--id-header",
        "X-Capture-Id",
        *rule,
    )
    assert query(db_path, "select error_kind, sum(failed), count(*) from requests group by 1") == [
        (kind, 4 if kind else 0, 4)
    ]
