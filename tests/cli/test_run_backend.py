"""requests.backend: every request row, failed or ok, names the backend that answered
(--backend-header), so failures can be compared with the ok responses by backend."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from capture.config import DEFAULT_BACKEND_HEADERS
from capture.target.server import FaultServer
from tests.conftest import query


def _run(cli, db: Path, *args: object) -> None:  # type: ignore[no-untyped-def]
    done = cli("run", *args, "-c", "2", "--db", db, "--quiet")
    assert done.exit_code == 0, done.stderr


def _config(db: Path) -> dict[str, object]:
    (text,) = query(db, "select config_json from runs order by id desc limit 1")[0]
    return dict(json.loads(str(text)))


def test_each_row_names_the_backend_of_its_response(
    cli,  # type: ignore[no-untyped-def]
    server: FaultServer,
    db_path: Path,
) -> None:
    """Two 'backends' told apart by a header: the one that answers 502 is the failed one,
    and the ok responses of the other are there to compare with."""
    good, bad = f"{server.url}/?retry_after=1", f"{server.url}/?retry_after=2&status=502"
    _run(cli, db_path, good, bad, "-n", "60", "--backend-header", "Retry-After")
    assert query(
        db_path,
        "select backend, failed, status, count(*) from requests group by 1, 2, 3 order by 1",
    ) == [("Retry-After: 1", 0, 200, 30), ("Retry-After: 2", 1, 502, 30)]
    assert query(db_path, "select backend, count(*) from failure_details group by 1") == [
        ("Retry-After: 2", 30)
    ]
    assert _config(db_path)["backend_headers"] == ["Retry-After"]


def test_the_first_name_present_wins_and_keeps_its_spelling(
    cli,  # type: ignore[no-untyped-def]
    server: FaultServer,
    db_path: Path,
) -> None:
    """Names are tried in order; the stored name is the one given, the value the one sent
    (X-Fault-Id echoes each request's --id-header value: a different value per row)."""
    _run(
        cli,
        db_path,
        f"{server.url}/?retry_after=5&status=500",
        f"{server.url}/?retry_after=5",
        "-n",
        "40",
        "--id-header",
        "X-Capture-Id",
        "--backend-header",
        "X-Not-Sent",
        "--backend-header",
        "x-fault-id",
        "--backend-header",
        "Retry-After",
    )
    rows = query(db_path, "select backend, correlation_id, failed from requests order by seq")
    assert len(rows) == 40 and sum(int(str(f)) for _, _, f in rows) == 20
    assert [b for b, _, _ in rows] == [f"x-fault-id: {c}" for _, c, _ in rows]


def test_repeated_headers_are_joined(
    cli,  # type: ignore[no-untyped-def]
    server: FaultServer,
    db_path: Path,
) -> None:
    _run(cli, db_path, f"{server.url}/?fault=dup_headers", "-n", "5", "--backend-header", "X-Dup")
    assert query(db_path, "select backend, count(*) from requests group by 1") == [
        ("X-Dup: first, second", 5)
    ]


def test_no_header_of_the_list_no_response_or_none_give_null(
    cli,  # type: ignore[no-untyped-def]
    server: FaultServer,
    db_path: Path,
) -> None:
    # The default list: the built-in target sends none of its names.
    _run(cli, db_path, f"{server.url}/?retry_after=3", "-n", "10")
    assert _config(db_path)["backend_headers"] == list(DEFAULT_BACKEND_HEADERS)
    # --backend-header none: the header is there, nothing is recorded.
    _run(cli, db_path, f"{server.url}/?retry_after=3", "-n", "10", "--backend-header", "none")
    assert _config(db_path)["backend_headers"] == []
    # No response at all: a closed port on 127.0.0.1.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    _run(cli, db_path, f"http://127.0.0.1:{port}/", "-n", "4", "--backend-header", "Retry-After")
    # A reset before any response, with a name the other responses carry.
    _run(
        cli,
        db_path,
        f"{server.url}/?retry_after=3&fault=reset",
        "-n",
        "3",
        "--backend-header",
        "Retry-After",
    )
    assert query(
        db_path,
        "select run_id, error_kind, count(*), count(backend) from requests group by 1, 2",
    ) == [(1, None, 10, 0), (2, None, 10, 0), (3, "connect_refused", 4, 0), (4, "reset", 3, 0)]


def test_bad_names_are_refused_in_one_line(
    cli,  # type: ignore[no-untyped-def]
    server: FaultServer,
    db_path: Path,
) -> None:
    for args, message in (
        (["--backend-header", "bad name"], "--backend-header 'bad name' is not a valid header"),
        (
            ["--backend-header", "none", "--backend-header", "Server"],
            "--backend-header none turns the recording off: give it alone",
        ),
    ):
        done = cli("run", f"{server.url}/", "-n", "1", "--db", db_path, *args)
        assert done.exit_code == 2, done.stderr
        assert done.stderr.startswith("capture: error: ") and message in done.stderr
        assert done.stderr.count("\n") == 1
    assert not db_path.exists()
