"""capture's fast header parser serves capture's own connections and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from capture.target.server import FaultServer

from ..conftest import query

# Run in a child process, so that this test process, which imports capture in every
# other test, cannot hide a patch or be the one that made it.
_CHILD = textwrap.dedent(
    """
    import http.client, io, json, sys

    stdlib_parse, stdlib_begin = http.client.parse_headers, http.client.HTTPResponse.begin
    import capture
    from capture.load.pool import build_session

    url, db = sys.argv[1], sys.argv[2]
    session = build_session()
    response = session.get(url, timeout=10)
    summary = capture.run(
        capture.RunConfig(targets=(capture.Target.build("GET", url),), requests=2), db=db
    )
    block = b"Content-Type: text/plain;\\rcharset=utf-8\\r\\nContent-Length: 5\\r\\n\\r\\n"
    json.dump(
        {
            "parse_headers_is_stdlib": http.client.parse_headers is stdlib_parse,
            "begin_is_stdlib": http.client.HTTPResponse.begin is stdlib_begin,
            "stdlib_result": list(http.client.parse_headers(io.BytesIO(block)).items()),
            "session_headers": list(response.headers.items())[:2],
            "body_bytes": len(response.content),
            "failed": summary.failed,
        },
        sys.stdout,
    )
    """
)


def test_capture_leaves_http_client_alone_and_parses_its_own_headers(
    server: FaultServer, db_path: Path
) -> None:
    url = f"{server.url}/?fault=bare_cr_header"
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, url, str(db_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    got = json.loads(child.stdout)
    # The process's http.client is the stdlib's: a bare CR still ends its header block.
    assert got["parse_headers_is_stdlib"] and got["begin_is_stdlib"]
    assert got["stdlib_result"] == [["Content-Type", "text/plain;"]]
    # capture's own connections keep the headers after a bare CR (capture/load/headers.py).
    expected = [
        ["Content-Type", "text/plain;\rcharset=utf-8"],
        ["Content-Length", str(got["body_bytes"])],
    ]
    assert got["session_headers"] == expected
    assert got["failed"] == 2
    stored = query(
        db_path,
        "select r.status, r.error_kind, f.response_headers from requests r"
        " join failures f on f.request_id = r.id",
    )
    assert [(status, kind) for status, kind, _ in stored] == [(500, None), (500, None)]
    for _, _, headers in stored:
        assert json.loads(headers)[:2] == expected
