"""Connection identity (issue 11): correlation ids are KEY-SEQ, unique across files."""

from __future__ import annotations

import re
from pathlib import Path

from capture.target.server import FaultServer
from tests.conftest import query

ID_HEADER = "X-Capture-Id"
KEY = re.compile(r"[0-9a-f]{8}")


def test_correlation_ids_are_unique_across_files(cli, server: FaultServer, tmp_path: Path) -> None:
    """Two runs in two files: ids are run_key-seq exactly, the keys differ, no id repeats."""
    found: list[set[str]] = []
    for name in ("a.db", "b.db"):
        db = tmp_path / name
        server.clear()
        ran = cli(
            "run", f"{server.url}/", "-n", "20", "--id-header", ID_HEADER, "--db", db, "--quiet"
        )
        assert ran.exit_code == 0, ran.stderr
        ((key,),) = query(db, "select run_key from runs")
        assert KEY.fullmatch(str(key))
        stored = dict(query(db, "select seq, correlation_id from requests"))
        assert stored == {seq: f"{key}-{seq}" for seq in range(1, 21)}
        assert {e.request_id for e in server.wait_for_entries(20)} == set(stored.values())
        found.append(set(stored.values()))
    assert not found[0] & found[1]
