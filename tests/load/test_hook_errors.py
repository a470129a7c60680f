"""A hook that misbehaves is the hook's failure (hook_error), never capture's (unknown),
and nothing a hook builds reaches the wire unless it is valid HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.target import FaultServer
from tests.conftest import query

REQUESTS = 4

# build_request hands back a requests.Request whose headers -H would have refused.
BAD_REQUEST_HOOK = """
import requests

def build_request(ctx):
    return requests.Request("GET", ctx.target.url, headers={{"X-Bad": {value!r}}})
"""

# Each hook in turn raises something that is not an Exception.
RAISING_HOOK = """
import sys

def {hook}(*args):
    {raise_}
"""


def _run(cli, server: FaultServer, db: Path, hooks: Path, query_string: str) -> None:  # type: ignore[no-untyped-def]
    url = f"{server.url}/{query_string}"
    result = cli("run", url, "-n", REQUESTS, "-c", "1", "--hooks", hooks, "--db", db, "--quiet")
    assert result.exit_code == 0, result.stderr


def _kinds(db: Path) -> list[tuple[str | None, int]]:
    return query(db, "select error_kind, failed from requests order by seq")


@pytest.mark.parametrize(
    ("value", "why"),
    [("a\x00b", "control characters"), ("a\r\nX-Injected: 1", "line break"), ("€", "latin-1")],
)
def test_a_bad_header_from_build_request_is_a_hook_error_and_never_sent(  # type: ignore[no-untyped-def]
    cli, server: FaultServer, db_path: Path, tmp_path: Path, value: str, why: str
) -> None:
    hooks = tmp_path / "bad_request.py"
    hooks.write_text(BAD_REQUEST_HOOK.format(value=value))
    _run(cli, server, db_path, hooks, "")
    assert _kinds(db_path) == [("hook_error", 1)] * REQUESTS
    messages = query(db_path, "select error_message from failures")
    assert len(messages) == REQUESTS and all(why in m for (m,) in messages), messages
    assert server.entries() == []  # nothing reached the server


@pytest.mark.parametrize("raise_", ["sys.exit(7)", "raise KeyboardInterrupt", "raise SystemExit"])
@pytest.mark.parametrize(
    ("hook", "query_string"),
    [
        ("build_request", ""),
        ("is_failure", ""),
        ("on_response", ""),
        ("on_failure", "?status=500"),
    ],
)
def test_a_hook_that_exits_is_a_hook_error(  # type: ignore[no-untyped-def]
    cli,
    server: FaultServer,
    db_path: Path,
    tmp_path: Path,
    hook: str,
    query_string: str,
    raise_: str,
) -> None:
    hooks = tmp_path / "raising.py"
    hooks.write_text(RAISING_HOOK.format(hook=hook, raise_=raise_))
    _run(cli, server, db_path, hooks, query_string)
    assert _kinds(db_path) == [("hook_error", 1)] * REQUESTS
    assert query(db_path, "select count(*) from failures") == [(REQUESTS,)]
    assert query(db_path, "select requests_total, failed_total from runs") == [(REQUESTS, REQUESTS)]
    sent = 0 if hook == "build_request" else REQUESTS
    assert len(server.entries()) == sent
