"""`capture run`: one Redactor key per run, whichever process stores a row."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from capture.target.server import FaultServer
from tests.conftest import query

_SECRET = "s3cret-token-value"


@pytest.mark.parametrize("procs", ["1", "2"])
def test_one_secret_redacts_alike_in_the_run_row_urls_and_headers(
    server: FaultServer,
    db_path: Path,
    cli,
    procs: str,  # type: ignore[no-untyped-def]
) -> None:
    """The same secret, as a query value and as a header, gets one HMAC in runs.command_line,
    runs.config_json, every requests.url and every failures.request_headers of the run."""
    result = cli(
        "run", f"{server.url}/x?status=500&api_key={_SECRET}", "-H", f"X-Api-Key: {_SECRET}",
        "-n", "8", "-c", "2", "--procs", procs, "--no-pin", "--quiet", "--db", db_path,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    digests: list[str] = []
    [(command_line, config_json)] = query(db_path, "SELECT command_line, config_json FROM runs")
    for text in (str(command_line), str(config_json)):
        digests += re.findall(r"api_key=REDACTED-([0-9a-f]{12})", text)
        digests += re.findall(r"\[redacted len=18 hmac=([0-9a-f]{12})\]", text)
    # the command line's URL and -H; config_json: its command_line, its target's URL and header
    assert len(digests) == 2 + 4, (command_line, config_json)
    urls = [str(u) for (u,) in query(db_path, "SELECT url FROM requests")]
    assert len(urls) == 8
    for url in urls:
        digests += re.findall(r"api_key=REDACTED-([0-9a-f]{12})", url)
    headers = [
        json.loads(str(h)) for (h,) in query(db_path, "SELECT request_headers FROM failures")
    ]
    assert len(headers) == 8
    for pairs in headers:
        (value,) = [v for k, v in pairs if k == "X-Api-Key"]
        digests += re.findall(r"\[redacted len=18 hmac=([0-9a-f]{12})\]", value)
    assert len(digests) == 6 + 8 + 8
    assert len(set(digests)) == 1, digests
    for table in ("runs", "requests", "failures"):  # and the secret itself is nowhere
        dump = "\n".join(str(row) for row in query(db_path, f"SELECT * FROM {table}"))
        assert _SECRET not in dump
