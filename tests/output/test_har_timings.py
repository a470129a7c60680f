"""HAR timings as HAR 1.2 defines them: `time` is exactly the sum of the phases that
happened (blocked, dns, connect, send, wait, receive; -1 does not count, ssl is inside
connect), every value in milliseconds to the microsecond at most (issue 11, item 9).
Checked on every entry of real runs against the fault target, read back as decimals."""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path

from capture.target.server import FaultServer

PHASES = ("blocked", "dns", "connect", "send", "wait", "receive")
FAULTS = [
    "/a?status=500",
    "/b?status=503&delay=0.002",
    "/c?status=502&close_after=2",
    "/d?fault=reset",
    "/e?fault=close",
    "/f?fault=bad_status",
    "/g?fault=binary&status=502",
]


def _decimals(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def test_time_is_the_sum_of_the_phases_in_microseconds(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    urls = [server.url + f for f in FAULTS]
    ran = cli("run", *urls, "-n", "140", "-c", "3", "--db", db_path, "--quiet")
    assert ran.exit_code == 0, ran.stderr
    with socket.socket() as sock:  # a port with nothing listening: refused connects
        sock.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{sock.getsockname()[1]}/gone"
    assert cli("run", gone, "-n", "5", "--db", db_path, "--quiet").exit_code == 0
    har = tmp_path / "all.har"
    exported = cli("export", "-r", "all", "--db", db_path, "-o", har)
    assert exported.exit_code == 0, exported.stderr
    # 140 requests over 7 URLs: 20 each, all failures; then 5 refused.
    assert exported.stderr == f"145 failures written to {har}\n"
    entries = json.loads(har.read_text(), parse_float=Decimal)["log"]["entries"]
    assert len(entries) == 145
    connected = 0
    for entry in entries:
        timings = entry["timings"]
        values = [timings[p] for p in PHASES]
        assert sum(v for v in values if v != -1) == entry["time"], entry["comment"]
        assert timings["ssl"] == -1
        for value in [*values, entry["time"]]:
            assert value == -1 or value >= 0
            if isinstance(value, Decimal):
                assert _decimals(value) <= 3, (entry["comment"], value)
        connected += timings["connect"] != -1
    assert connected > 0  # new connections were timed, and counted once
