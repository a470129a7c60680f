"""Peak memory of a real run at 100 % failures with big bodies stays within --max-queue
plus a fixed margin: the writer's statements keep no copy of past batches' bodies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from capture.target.server import FaultServer
from tests.conftest import query

MiB = 1024**2
QUEUE = 32 * MiB
# What a run holds beyond its imports and the queue: the one failures statement's copy
# of its chunk (insert.STATEMENT_BYTES, 4 MiB), SQLite's page cache (2 MiB), each
# worker's body buffers and the allocator's slack; about 10 MiB measured, 24 allowed.
MARGIN = 24 * MiB
# VmHWM, the peak resident set of this process image (ru_maxrss would include the
# memory of the forking test process, carried across exec).
_PROBE = (
    "import sys; from capture.cli import main; rc = main(sys.argv[1:]);"
    "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]);"
    "sys.exit(rc)"
)


def _peak_bytes(url: str, db: Path, requests: int) -> int:
    """Runs capture in a child process; returns its peak resident set in bytes."""
    args = ["run", url, "-n", str(requests), "--max-body", "64KiB"]
    args += ["--max-queue", f"{QUEUE // MiB}MiB", "--db", str(db), "--quiet"]
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) * 1024


def test_peak_memory_stays_within_the_queue_bound(server: FaultServer, tmp_path: Path) -> None:
    """2,000 responses of 1 MB, 64 KiB of each stored: the peak stays under the peak of a
    one-request run plus --max-queue plus MARGIN (it was ~110 MiB over it: SQLite kept a
    copy of the bodies of each batch size's cached INSERT)."""
    url = f"{server.url}/?status=500&size=1000000"
    baseline = _peak_bytes(url, tmp_path / "one.db", 1)
    peak = _peak_bytes(url, tmp_path / "big.db", 2000)
    assert peak - baseline < QUEUE + MARGIN, f"{(peak - baseline) / MiB:.0f} MiB over baseline"
    rows = query(
        tmp_path / "big.db",
        "select count(*), sum(r.failed), count(f.request_id), sum(length(f.body) = 65536)"
        " from requests r left join failures f on f.request_id = r.id",
    )
    assert rows == [(2000, 2000, 2000, 2000)]
    totals = query(tmp_path / "big.db", "select requests_total, ok_total, failed_total from runs")
    assert totals == [(2000, 0, 2000)]
