"""Tests for the target's load faults (max_requests, idle_race, bucket, backends,
per_inflight, fail_windows), over real sockets on 127.0.0.1 only."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import pytest

from capture.target.server import FaultServer, LedgerEntry

# Rebuilt here rather than imported, so the tests are an independent oracle for the bodies.
PATTERN = b"capture target body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDE\n"
DEFAULT_BODY = (PATTERN * 2)[:100]
TIMEOUT_S = 5.0


@pytest.fixture
def sockets(server: FaultServer) -> Iterator[list[socket.socket]]:
    """Connections opened by open_socket; all are closed after the test."""
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def open_socket(server: FaultServer, opened: list[socket.socket]) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)
    opened.append(sock)
    return sock


def send(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


def receive(sock: socket.socket) -> tuple[http.client.HTTPResponse, bytes]:
    """Read one whole response off a keep-alive connection."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    response.close()  # closes the makefile only; the socket stays open
    return response, body


def ask(sock: socket.socket, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    send(sock, path)
    return receive(sock)


def read_until_close(sock: socket.socket) -> bytes:
    chunks = []
    for _ in range(10_000):  # bounded: the server closes long before this
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def entries(server: FaultServer, count: int) -> list[LedgerEntry]:
    found = server.wait_for_entries(count)
    assert len(found) == count, found
    return found


def test_max_requests_answers_n_then_closes_the_next_without_bytes(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    for _ in range(3):
        response, body = ask(sock, "/?max_requests=3")
        assert (response.status, body) == (200, DEFAULT_BODY)
        assert response.getheader("Connection") is None
    send(sock, "/?max_requests=3")
    assert read_until_close(sock) == b""

    ledger = entries(server, 4)
    assert [(e.connection_no, e.connection_request_no) for e in ledger] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (1, 4),
    ]
    assert [(e.fault, e.status, e.action) for e in ledger] == [
        ("ok", 200, "keep"),
        ("ok", 200, "keep"),
        ("ok", 200, "keep"),
        ("max_requests", None, "close"),
    ]
    assert (ledger[3].body_bytes, ledger[3].body_sha256) == (0, None)


def test_max_requests_counts_per_connection(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    first = open_socket(server, sockets)
    assert ask(first, "/?max_requests=1")[0].status == 200
    second = open_socket(server, sockets)
    assert ask(second, "/?max_requests=1")[0].status == 200
    send(first, "/?max_requests=1")
    assert read_until_close(first) == b""

    ledger = entries(server, 3)
    assert [(e.connection_no, e.connection_request_no, e.fault) for e in ledger] == [
        (1, 1, "ok"),
        (2, 1, "ok"),
        (1, 2, "max_requests"),
    ]


def test_idle_race_closes_a_reused_connection_idle_past_the_limit(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    assert ask(sock, "/?idle_race=0.2")[0].status == 200
    # Waited well past 0.2 s: the server's clock starts after its write, a moment after ours.
    time.sleep(0.6)
    send(sock, "/?idle_race=0.2")
    assert read_until_close(sock) == b""

    ledger = entries(server, 2)
    assert [(e.connection_request_no, e.fault, e.status, e.action) for e in ledger] == [
        (1, "ok", 200, "keep"),
        (2, "idle_race", None, "close"),
    ]
    assert ledger[1].body_bytes == 0


def test_idle_race_answers_a_quick_reuse_and_any_first_request(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    # The limit is far above any scheduling delay, so "quick" holds on a loaded machine.
    assert ask(sock, "/?idle_race=30")[0].status == 200
    assert ask(sock, "/?idle_race=30")[0].status == 200
    fresh = open_socket(server, sockets)
    time.sleep(0.6)  # idle before a first request is not a reused connection's idle
    response, body = ask(fresh, "/?idle_race=0.2")
    assert (response.status, body) == (200, DEFAULT_BODY)

    ledger = entries(server, 3)
    assert [(e.connection_no, e.connection_request_no, e.fault, e.action) for e in ledger] == [
        (1, 1, "ok", "keep"),
        (1, 2, "ok", "keep"),
        (2, 1, "ok", "keep"),
    ]


@pytest.mark.parametrize(("query", "status"), [("", 429), ("&bucket_status=503", 503)])
def test_bucket_answers_burst_then_refuses_with_retry_after(
    server: FaultServer, sockets: list[socket.socket], query: str, status: int
) -> None:
    path = f"/?bucket=0.001&burst=2{query}"
    sock = open_socket(server, sockets)
    for _ in range(2):
        response, body = ask(sock, path)
        assert (response.status, body) == (200, DEFAULT_BODY)
        assert response.getheader("Retry-After") is None
    # A new connection: the bucket is the server's, not the connection's.
    response, body = ask(open_socket(server, sockets), path)
    assert response.status == status
    assert body == f"{status} {http.client.responses[status]}\n".encode()
    retry_after = response.getheader("Retry-After")
    assert retry_after is not None and retry_after.isdigit()
    # One token per 1000 s, none left: the next one is at most 1000 s away, at least 1.
    assert 1 <= int(retry_after) <= 1000

    ledger = entries(server, 3)
    assert [(e.fault, e.status, e.action) for e in ledger] == [
        ("ok", 200, "keep"),
        ("ok", 200, "keep"),
        ("bucket", status, "keep"),
    ]


def test_bucket_leaves_requests_without_it_alone(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    assert ask(sock, "/?bucket=0.001&burst=1")[0].status == 200
    assert ask(sock, "/?bucket=0.001&burst=1")[0].status == 429
    response, _ = ask(sock, "/")
    assert (response.status, response.getheader("Retry-After")) == (200, None)


def test_backends_round_robin_over_requests_with_one_bad(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    path = "/?backends=2&bad_backend=1"
    first = open_socket(server, sockets)
    second = open_socket(server, sockets)
    seen = []
    # Alternating connections: the round robin is the server's, over all requests.
    for sock in (first, first, second, first, second, second):
        response, body = ask(sock, path)
        seen.append((response.status, response.getheader("X-Served-By"), body))
    good = (200, "backend-0", DEFAULT_BODY)
    bad = (502, "backend-1", b"502 Bad Gateway from backend-1\n")
    assert seen == [good, bad, good, bad, good, bad]

    ledger = entries(server, 6)
    assert [(e.fault, e.status, e.action) for e in ledger] == [
        ("ok", 200, "keep"),
        ("bad_backend", 502, "keep"),
    ] * 3


def test_backends_bad_status_and_no_bad_backend(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    seen = []
    for path in ("/?backends=3", "/?backends=3", "/?backends=3&bad_backend=2&bad_status=503"):
        response, body = ask(sock, path)
        seen.append((response.status, response.getheader("X-Served-By"), body))
    assert seen == [
        (200, "backend-0", DEFAULT_BODY),
        (200, "backend-1", DEFAULT_BODY),
        (503, "backend-2", b"503 Service Unavailable from backend-2\n"),
    ]


def test_backends_by_connection_keeps_one_backend_per_connection(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    path = "/?backends=2&bad_backend=1&backend_by=connection"
    first = open_socket(server, sockets)
    second = open_socket(server, sockets)
    seen = []
    for sock in (first, second, first, second, first, second):
        response, _ = ask(sock, path)
        seen.append((response.status, response.getheader("X-Served-By")))
    assert seen == [(200, "backend-0"), (502, "backend-1")] * 3

    ledger = entries(server, 6)
    by_connection = {(e.connection_no, e.fault, e.status) for e in ledger}
    assert by_connection == {(1, "ok", 200), (2, "bad_backend", 502)}


def test_per_inflight_zero_and_small_answer_normally(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    for path in ("/?per_inflight=0", "/?per_inflight=1&status=201"):
        response, body = ask(sock, path)
        assert response.status in (200, 201)
        assert body == (DEFAULT_BODY if response.status == 200 else b"201 Created\n")
    ledger = entries(server, 2)
    assert [(e.fault, e.status, e.action) for e in ledger] == [
        ("ok", 200, "keep"),
        ("status", 201, "keep"),
    ]


def test_fail_windows_covering_now_fail_every_request(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    seen = [ask(sock, "/?fail_windows=0-3600")[0].status for _ in range(3)]
    response, body = ask(sock, "/?fail_windows=0-3600&window_status=500")
    assert seen == [503, 503, 503]
    assert (response.status, body) == (500, b"500 Internal Server Error\n")
    ledger = entries(server, 4)
    assert [(e.fault, e.status, e.action) for e in ledger] == [
        ("fail_window", 503, "keep"),
        ("fail_window", 503, "keep"),
        ("fail_window", 503, "keep"),
        ("fail_window", 500, "keep"),
    ]


def test_fail_windows_later_than_now_pass(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    for path in ("/?fail_windows=3000-3600", "/?fail_windows=1000-2000,3000-3600"):
        response, body = ask(sock, path)
        assert (response.status, body) == (200, DEFAULT_BODY)
    assert [e.fault for e in entries(server, 2)] == ["ok", "ok"]


BAD = [
    "max_requests=0",
    "max_requests=x",
    "idle_race=abc",
    "idle_race=0",
    "bucket=0",
    "bucket=0.001&burst=0",
    "bucket=0.001&bucket_status=500",
    "bucket=0.001&bucket_status=200",
    "backends=1",
    "backends=65",
    "backends=2&bad_backend=5",
    "backends=2&bad_backend=-1",
    "backends=2&backend_by=x",
    "backends=2&bad_backend=1&bad_status=199",
    "per_inflight=-1",
    "per_inflight=abc",
    "per_inflight=10001",
    "fail_windows=3-2",
    "fail_windows=2-2",
    "fail_windows=0-2,1-3",
    "fail_windows=abc",
    "fail_windows=1",
    "fail_windows=0-3601",
    "fail_windows=0-1&window_status=199",
]


@pytest.mark.parametrize("query", BAD)
def test_bad_values_get_a_clean_400(
    server: FaultServer, sockets: list[socket.socket], query: str
) -> None:
    sock = open_socket(server, sockets)
    response, body = ask(sock, f"/?{query}")
    assert response.status == 400
    assert body.startswith(b"400 Bad Request: ")
    assert body.endswith(b"\n") and body.count(b"\n") == 1
    assert response.getheader("Retry-After") is None
    assert response.getheader("X-Served-By") is None
    assert response.getheader("Connection") is None
    (entry,) = entries(server, 1)
    assert (entry.fault, entry.status, entry.action) == ("invalid", 400, "keep")
    # The connection stays usable.
    assert ask(sock, "/")[0].status == 200


def test_a_bad_value_is_refused_before_any_load_fault_acts(
    server: FaultServer, sockets: list[socket.socket]
) -> None:
    sock = open_socket(server, sockets)
    # Past max_requests, with a bad value: the 400 comes first, the connection stays.
    assert ask(sock, "/?max_requests=1")[0].status == 200
    assert ask(sock, "/?max_requests=1&backend_by=x&backends=2")[0].status == 400
    # The refused requests took no token and did not advance the round robin.
    assert ask(sock, "/?bucket=0.001&burst=1&per_inflight=-1")[0].status == 400
    assert ask(sock, "/?backends=2&bad_backend=1&fail_windows=3-2")[0].status == 400
    other = open_socket(server, sockets)
    assert ask(other, "/?bucket=0.001&burst=1")[0].status == 200
    response, _ = ask(other, "/?backends=2&bad_backend=1")
    assert (response.status, response.getheader("X-Served-By")) == (200, "backend-0")

    ledger = entries(server, 6)
    assert [(e.connection_no, e.connection_request_no, e.fault, e.status) for e in ledger] == [
        (1, 1, "ok", 200),
        (1, 2, "invalid", 400),
        (1, 3, "invalid", 400),
        (1, 4, "invalid", 400),
        (2, 1, "ok", 200),
        (2, 2, "ok", 200),
    ]
