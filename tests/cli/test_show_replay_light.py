"""`show` and `replay` of a request that did not fail: only its light row is stored, so
they say so and compare only what exists; replay sends a fresh correlation id."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.target.server import FaultServer
from tests.conftest import query


@pytest.fixture
def light(cli, server: FaultServer, db_path: Path) -> tuple[Path, int, int]:
    """A run of a 200 and a 500, same body: the ids of the 200 and of the 500."""
    body = "body=nineteen-bytes-body"
    result = cli(
        "run", f"{server.url}/ok?{body}", f"{server.url}/fail?status=500&{body}", "-n", "2",
        "-c", "1", "--id-header", "X-Capture-Id", "--db", db_path, "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert query(db_path, "select count(*), sum(failed) from requests") == [(2, 1)]
    assert query(db_path, "select count(*) from failures") == [(1,)]
    ((ok_id,),) = query(db_path, "select id from requests where failed = 0 limit 1")
    ((failed_id,),) = query(db_path, "select id from requests where failed = 1 limit 1")
    server.clear()
    return db_path, int(ok_id), int(failed_id)


def test_show_of_a_request_that_did_not_fail_says_only_the_light_row_is_stored(
    cli, light: tuple[Path, int, int]
) -> None:
    db, ok_id, _ = light
    ((bytes_in, corr, local),) = query(
        db, "select bytes_in, correlation_id, local_addr from requests where id = ?", ok_id
    )
    assert bytes_in == 19
    shown = cli("show", ok_id, "--db", db)
    assert shown.exit_code == 0, shown.stderr
    out = shown.stdout
    assert "only the light row is stored for a request that did not fail" in out
    assert "HTTP/?" not in out and "bytes received" not in out and "(empty body)" not in out
    assert "< status 200" in out.splitlines()
    assert "bytes in  19 (response body bytes on the wire)" in out.splitlines()
    assert f"id        {corr}" in out.splitlines() and str(local) in out
    for flag in ("--body", "--curl"):  # they need what was never kept
        refused = cli("show", ok_id, "--db", db, flag)
        assert refused.exit_code == 4 and "only the light row is stored" in refused.stderr
        assert refused.stdout == ""


def test_replay_of_a_request_that_did_not_fail_compares_only_what_exists(
    cli, light: tuple[Path, int, int]
) -> None:
    db, ok_id, failed_id = light
    lines = cli("replay", ok_id, "--db", db).stdout.splitlines()
    assert lines[1].split() == ["outcome", "200", "200"]
    assert lines[2].split()[:2] == ["body", "19"] and "not stored" in lines[2]
    assert lines[4].split()[:2] == ["changed", "-"] and "yes" not in lines[4]
    assert "only the light row is stored for a request that did not fail" in lines
    # A failure has its body stored: it is compared (the same 500, the same body).
    failed = cli("replay", failed_id, "--db", db).stdout.splitlines()
    assert failed[4].split() == ["changed", "no"]


def test_replay_sends_a_fresh_correlation_id_unless_told_to_reuse_it(
    cli, server: FaultServer, light: tuple[Path, int, int]
) -> None:
    db, ok_id, failed_id = light
    for rid in (ok_id, failed_id):
        ((stored,),) = query(db, "select correlation_id from requests where id = ?", rid)
        assert stored
        server.clear()
        fresh = cli("replay", rid, "--db", db)
        assert fresh.exit_code == 0, fresh.stderr
        (entry,) = server.wait_for_entries(1)
        assert entry.request_id is not None and entry.request_id != stored
        assert f"X-Capture-Id: {entry.request_id}" in fresh.stdout  # the id it sent
        server.clear()
        reused = cli("replay", rid, "--db", db, "--reuse-id")
        assert reused.exit_code == 0, reused.stderr
        (entry,) = server.wait_for_entries(1)
        assert entry.request_id == stored
        assert f"X-Capture-Id: {stored}" in reused.stdout


def test_replay_says_changed_when_the_status_did_even_with_no_stored_body(
    cli, server: FaultServer, db_path: Path
) -> None:
    # mix=500:50: of every 100 requests the first 50 get a 500. Requests 51-60 of the run
    # get a 200 (light row only); after clear() the replay is the first again: a 500.
    result = cli(
        "run", f"{server.url}/m?mix=500:50", "-n", "60", "-c", "1", "--db", db_path, "--quiet"
    )
    assert result.exit_code == 0, result.stderr
    ((ok_id,),) = query(db_path, "select id from requests where status = 200 limit 1")
    server.clear()
    replayed = cli("replay", ok_id, "--db", db_path)
    assert replayed.exit_code == 0, replayed.stderr
    (changed,) = [x for x in replayed.stdout.splitlines() if x.startswith("changed")]
    assert changed.split(None, 1)[1] == "yes (status 200 -> 500; body not stored to compare)"
    (latency,) = [x for x in replayed.stdout.splitlines() if x.startswith("latency")]
    assert latency.count(" ms") == 2  # both figures carry their unit
