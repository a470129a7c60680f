"""Tests for the fault-injecting test target, over real sockets on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import http.client
import re
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from capture.target.server import FaultServer, LedgerEntry

# Rebuilt here rather than imported, so the tests are an independent oracle for the bodies.
PATTERN = b"capture target body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDE\n"
TEXT_HEAD = b"Content-Type: text/plain; charset=utf-8\r\n"
TIMEOUT_S = 5.0


def pattern(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def no_thread_tracebacks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if any server thread died with an exception (checked after stop())."""
    failures: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    yield
    assert not [f"{f.thread.name if f.thread else '?'}: {f.exc_value!r}" for f in failures]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


Connect = Callable[[FaultServer], http.client.HTTPConnection]


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Open http.client connections to a server; all are closed after the test."""
    opened: list[http.client.HTTPConnection] = []

    def open_connection(server: FaultServer) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT_S)
        opened.append(conn)
        return conn

    yield open_connection
    for conn in opened:
        conn.close()


def fetch(
    conn: http.client.HTTPConnection, path: str, headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def read_until_close(sock: socket.socket) -> bytes:
    chunks = []
    for _ in range(10_000):  # bounded: the server closes long before this
        data = sock.recv(65536)
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    for _ in range(size):  # bounded: each recv returns at least one byte or ends the loop
        if len(data) == size:
            break
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def raw(server: FaultServer, request: bytes) -> bytes:
    """Send raw bytes, return everything the server wrote before it closed."""
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(request)
        return read_until_close(sock)


def raw_get(server: FaultServer, path: str) -> bytes:
    return raw(server, f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())


def only_entry(server: FaultServer) -> LedgerEntry:
    entries = server.wait_for_entries(1)
    assert len(entries) == 1, entries
    return entries[0]


def test_default_200_keeps_alive_and_ledger_matches(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    first, body1 = fetch(conn, "/")
    client_port = conn.sock.getsockname()[1]
    second, body2 = fetch(conn, "/anything?x=1")
    conn.close()

    assert (first.status, second.status) == (200, 200)
    assert body1 == body2 == pattern(100)
    assert first.getheader("Content-Length") == "100"
    assert first.getheader("Content-Type") == "text/plain; charset=utf-8"
    assert first.getheader("Connection") is None
    one, two = server.entries()
    assert one == LedgerEntry(
        seq=1,
        request_id=None,
        method="GET",
        path="/",
        fault="ok",
        status=200,
        body_bytes=100,
        body_sha256=sha(body1),
        client_addr=f"127.0.0.1:{client_port}",
        connection_no=1,
        connection_request_no=1,
        action="keep",
    )
    assert (two.seq, two.path, two.connection_no, two.connection_request_no) == (
        2,
        "/anything?x=1",
        1,
        2,
    )


@pytest.mark.parametrize(
    ("path", "status", "body", "ctype"),
    [
        ("/?status=404", 404, b"404 Not Found\n", "text/plain; charset=utf-8"),
        ("/x?status=503&body=busy", 503, b"busy", "text/plain; charset=utf-8"),
        ("/?size=1000", 200, pattern(1000), "text/plain; charset=utf-8"),
        ("/?status=500&size=0", 500, b"", "text/plain; charset=utf-8"),
        ("/?status=799", 799, b"799 Unknown\n", "text/plain; charset=utf-8"),
        ("/?status=422&ctype=application/json&body=%7B%7D", 422, b"{}", "application/json"),
    ],
)
def test_status_body_size_ctype(
    server: FaultServer, path: str, status: int, body: bytes, ctype: str, connect: Connect
) -> None:
    response, got = fetch(connect(server), path)
    assert (response.status, got, response.getheader("Content-Type")) == (status, body, ctype)
    assert response.getheader("Content-Length") == str(len(body))
    entry = only_entry(server)
    assert (entry.status, entry.body_bytes, entry.action) == (status, len(body), "keep")
    assert entry.body_sha256 == (sha(body) if body else None)


def test_mix_gives_exact_counts_by_slot(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    statuses = [fetch(conn, "/?mix=500:10,503:5")[0].status for _ in range(200)]
    expected = [500 if i % 100 < 10 else 503 if i % 100 < 15 else 200 for i in range(200)]
    assert statuses == expected
    assert Counter(statuses) == {500: 20, 503: 10, 200: 170}
    assert [e.status for e in server.entries()] == expected
    assert {e.fault for e in server.entries()} == {"mix"}
    # Each distinct spec has its own counter; the rest of the slots take status=.
    assert fetch(conn, "/?mix=500:1&status=418")[0].status == 500
    assert fetch(conn, "/?mix=500:1&status=418")[0].status == 418
    server.clear()
    assert fetch(conn, "/?mix=500:10,503:5")[0].status == 500
    assert server.entries()[0].seq == 1


def test_close_after_closes_on_the_nth_request(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    responses = [fetch(conn, "/?close_after=3")[0] for _ in range(3)]
    assert [r.getheader("Connection") for r in responses] == [None, None, "close"]
    assert conn.sock is None  # http.client honoured Connection: close
    fetch(conn, "/?close_after=3")  # reconnects
    entries = server.entries()
    assert [e.action for e in entries] == ["keep", "keep", "close", "keep"]
    assert [(e.connection_no, e.connection_request_no) for e in entries] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 1),
    ]


def test_close_param_closes_after_the_response(server: FaultServer) -> None:
    assert raw_get(server, "/?close=1&status=204") == b"HTTP/1.1 204 No Content\r\n" + (
        TEXT_HEAD + b"Connection: close\r\n\r\n"
    )
    entry = only_entry(server)
    assert (entry.status, entry.body_bytes, entry.body_sha256, entry.action) == (
        204,
        0,
        None,
        "close",
    )


def test_reset_before_any_response(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    conn.request("GET", "/?fault=reset")
    with pytest.raises(ConnectionResetError):
        conn.getresponse()
    entry = only_entry(server)
    assert (entry.status, entry.body_bytes, entry.body_sha256, entry.action) == (
        None,
        0,
        None,
        "reset",
    )


def test_close_without_response(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    conn.request("GET", "/?fault=close")
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    entry = only_entry(server)
    assert (entry.fault, entry.status, entry.body_sha256, entry.action) == (
        "close",
        None,
        None,
        "close",
    )


def test_short_body_is_an_incomplete_read(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    conn.request("GET", "/?fault=short_body&status=500")
    response = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert (response.status, caught.value.partial, caught.value.expected) == (500, b"cap", 97)
    entry = only_entry(server)
    assert (entry.body_bytes, entry.body_sha256, entry.action) == (3, sha(b"cap"), "close")


@pytest.mark.parametrize(
    ("fault", "wire_body"),
    [("bad_chunk", b"zz\r\nabc\r\n0\r\n\r\n"), ("no_last_chunk", b"5\r\nhello\r\n")],
)
def test_broken_chunked_bodies(
    server: FaultServer, fault: str, wire_body: bytes, connect: Connect
) -> None:
    head = b"HTTP/1.1 200 OK\r\n" + TEXT_HEAD + b"Transfer-Encoding: chunked\r\n"
    assert raw(server, f"GET /?fault={fault} HTTP/1.1\r\nHost: t\r\n\r\n".encode()) == (
        head + b"\r\n" + wire_body
    )
    conn = connect(server)
    conn.request("GET", f"/?fault={fault}")
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    entry = server.wait_for_entries(2)[0]
    assert (entry.body_bytes, entry.body_sha256, entry.action) == (
        len(wire_body),
        sha(wire_body),
        "close",
    )


def test_early_hints_precede_the_final_response(server: FaultServer, connect: Connect) -> None:
    assert raw_get(server, "/?fault=early_hints&status=500") == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n"
        b"HTTP/1.1 500 Internal Server Error\r\n" + TEXT_HEAD + b"Content-Length: 26\r\n"
        b"Connection: close\r\n\r\n500 Internal Server Error\n"
    )
    # http.client returns the 103 as if it were final (python/cpython#42550).
    response, body = fetch(connect(server), "/?fault=early_hints")
    assert (response.status, body) == (103, b"")
    assert response.getheader("Link") == "</style.css>; rel=preload; as=style"
    first, second = server.wait_for_entries(2)
    assert (first.status, first.action, second.status, second.action) == (500, "close", 200, "keep")


def test_dup_headers_are_sent_separately(server: FaultServer, connect: Connect) -> None:
    data = raw_get(server, "/?fault=dup_headers")
    assert data.count(b"\r\nSet-Cookie: ") == 3
    assert b"\r\nSet-Cookie: b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/\r\n" in data
    assert data.count(b"\r\nX-Dup: ") == 2
    response, _ = fetch(connect(server), "/?fault=dup_headers")
    assert response.msg.get_all("Set-Cookie") == [
        "a=1; Path=/",
        "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/",
        "c=3; HttpOnly",
    ]
    assert response.msg.get_all("X-Dup") == ["first", "second"]


def test_http10_body_is_delimited_by_close(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    response, body = fetch(conn, "/?fault=http10&status=503")
    assert (response.version, response.status, body) == (10, 503, b"503 Service Unavailable\n")
    assert response.getheader("Content-Length") is None
    assert raw_get(server, "/?fault=http10").startswith(b"HTTP/1.0 200 OK\r\n")
    entry = server.wait_for_entries(2)[0]
    assert (entry.status, entry.body_bytes, entry.action) == (503, 24, "close")


def test_id_header_is_echoed_and_recorded(connect: Connect) -> None:
    with FaultServer(id_header="X-Req") as server:
        conn = connect(server)
        response, _ = fetch(conn, "/?status=500", {"X-Req": "run1-7"})
        assert response.getheader("X-Fault-Id") == "run1-7"
        response, _ = fetch(conn, "/", {"X-Capture-Id": "ignored"})
        assert response.getheader("X-Fault-Id") is None
        assert [e.request_id for e in server.entries()] == ["run1-7", None]


def test_default_id_header_round_trips_latin1(server: FaultServer) -> None:
    data = raw(server, b"GET / HTTP/1.1\r\nx-capture-id: caf\xe9-1\r\nConnection: close\r\n\r\n")
    assert b"\r\nX-Fault-Id: caf\xe9-1\r\n" in data
    assert only_entry(server).request_id == "caf\xe9-1"


def test_big_body_is_streamed_and_hashed(server: FaultServer, connect: Connect) -> None:
    response, body = fetch(connect(server), "/?fault=big&size=3000000&status=500")
    assert (response.status, len(body)) == (500, 3_000_000)
    assert body == pattern(3_000_000)
    entry = only_entry(server)
    assert (entry.body_bytes, entry.body_sha256) == (3_000_000, sha(body))


def test_client_leaving_mid_body_is_recorded(server: FaultServer) -> None:
    sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)
    sock.sendall(b"GET /?fault=big&size=200000000 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 200 OK\r\n")
    sock.close()  # unread data makes the kernel send RST, so the server's next write fails
    entry = only_entry(server)
    assert entry.action == "client_gone"
    assert 0 < entry.body_bytes < 200_000_000


def test_stop_does_not_hang_on_open_connections(connect: Connect) -> None:
    server = FaultServer().start()
    stalled = connect(server)
    stalled.request("GET", "/?fault=body_stall&stall=30")
    response = stalled.getresponse()
    assert (response.status, response.read(10)) == (200, pattern(10))
    delayed = connect(server)
    delayed.request("GET", "/?delay=30")
    idle = connect(server)
    fetch(idle, "/")
    time.sleep(0.3)  # let the server read the delayed request

    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        delayed.getresponse()
    actions = {e.path: (e.status, e.body_bytes, e.action) for e in server.entries()}
    assert actions == {
        "/?fault=body_stall&stall=30": (200, 10, "stall"),
        "/?delay=30": (None, 0, "stopped"),
        "/": (200, 100, "keep"),
    }


def test_malformed_requests_get_400_and_close(server: FaultServer) -> None:
    data = raw(server, b"garbage\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nConnection: close\r\n" in data
    assert data.endswith(b"400 Bad Request: bad request line\n")
    data = raw(server, b"GET /p?q=1 HTTP/1.1\r\nno colon here\r\n\r\n")
    assert data.endswith(b"400 Bad Request: bad header line\n")
    first, second = server.wait_for_entries(2)
    assert (first.method, first.path, first.fault, first.status, first.action) == (
        "",
        "",
        "malformed",
        400,
        "close",
    )
    assert (second.method, second.path, second.fault) == ("GET", "/p?q=1", "malformed")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/?status=abc", "status='abc' is not a whole number in 0..999"),
        ("/?status=100", "status 100 is outside 200..999"),
        ("/?fault=nope", "unknown fault 'nope'"),
        ("/?mix=500:80,503:30", "mix: percentages add up to 110, more than 100"),
        ("/?delay=-1", "delay='-1' is not a number in 0..3600"),
        ("/?redirect_to=/a%0d%0aX:%201", "redirect_to contains control characters"),
        ("/?retry_after=soon", "retry_after='soon' is neither SECONDS nor 'date'"),
    ],
)
def test_bad_parameters_get_400(
    server: FaultServer, path: str, message: str, connect: Connect
) -> None:
    conn = connect(server)
    response, body = fetch(conn, path)
    assert (response.status, body) == (400, f"400 Bad Request: {message}\n".encode())
    assert fetch(conn, "/")[0].status == 200  # same connection still usable
    entry = server.wait_for_entries(2)[0]
    assert (entry.fault, entry.status, entry.action) == ("invalid", 400, "keep")


def test_close_reused_drops_the_second_request(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    assert fetch(conn, "/?fault=close_reused")[0].status == 200
    conn.request("GET", "/?fault=close_reused")
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    first, second = server.wait_for_entries(2)
    assert (first.status, first.action) == (200, "keep")
    assert (second.status, second.action, second.connection_request_no) == (None, "close", 2)


def test_gzip_garbage_and_bomb(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    response, body = fetch(conn, "/?fault=gzip_garbage&status=500")
    assert (response.status, response.getheader("Content-Encoding")) == (500, "gzip")
    with pytest.raises(zlib.error):
        zlib.decompress(body, 31)
    response, body = fetch(conn, "/?fault=gzip_bomb")
    assert response.getheader("Content-Encoding") == "gzip"
    assert len(body) < 150_000
    inflater, inflated, pending = zlib.decompressobj(31), 0, body
    for _ in range(1000):  # 1 MiB at a time keeps memory bounded
        out = inflater.decompress(pending, 1 << 20)
        inflated, pending = inflated + len(out), inflater.unconsumed_tail
        if not out:
            break
    assert inflated == 100 << 20
    assert server.wait_for_entries(2)[1].body_sha256 == sha(body)


def test_retry_after_seconds_and_date(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    response, _ = fetch(conn, "/?status=503&retry_after=7")
    assert (response.status, response.getheader("Retry-After")) == (503, "7")
    response, _ = fetch(conn, "/?status=429&retry_after=date")
    when = parsedate_to_datetime(response.getheader("Retry-After", ""))
    assert 50 <= (when - datetime.now(UTC)).total_seconds() <= 61


def test_redirects(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    response, _ = fetch(conn, "/loop?fault=redirect_loop")
    assert (response.status, response.getheader("Location")) == (302, "/loop?fault=redirect_loop")
    response, _ = fetch(conn, "/?redirect_to=http%3A%2F%2F127.0.0.1%3A9%2Fx&status=307")
    assert (response.status, response.getheader("Location")) == (307, "http://127.0.0.1:9/x")
    assert [e.fault for e in server.entries()] == ["redirect_loop", "redirect_to"]


def test_trickle_sends_one_byte_per_interval(server: FaultServer, connect: Connect) -> None:
    started = time.monotonic()
    _, body = fetch(connect(server), "/?fault=trickle&interval=0.05&bytes=4")
    assert body == pattern(4)
    assert time.monotonic() - started >= 0.2
    entry = only_entry(server)
    assert (entry.body_bytes, entry.action) == (4, "keep")


def test_body_reset_after_partial_body(server: FaultServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /?fault=body_reset HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            for _ in range(1000):
                chunk = sock.recv(65536)
                assert chunk, "expected RST, got FIN"
                received += chunk
    head = b"HTTP/1.1 200 OK\r\n" + TEXT_HEAD + b"Content-Length: 1000\r\n\r\n"
    assert received == head + pattern(100)
    entry = only_entry(server)
    assert (entry.body_bytes, entry.action) == (100, "reset")


def test_idle_close_closes_an_idle_connection(server: FaultServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(b"GET /?idle_close=0.2 HTTP/1.1\r\nHost: t\r\n\r\n")
        started = time.monotonic()
        data = read_until_close(sock)
        assert 0.15 < time.monotonic() - started < 3.0
    assert data.endswith(b"Content-Length: 100\r\n\r\n" + pattern(100))
    assert only_entry(server).action == "idle_close"


def test_delay_holds_back_the_status_line(server: FaultServer, connect: Connect) -> None:
    started = time.monotonic()
    assert fetch(connect(server), "/?delay=0.3")[0].status == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("many_headers", http.client.HTTPException, 200),
        ("long_header", http.client.LineTooLong, 200),
        ("bad_status", http.client.BadStatusLine, None),
    ],
)
def test_header_faults_break_http_client(
    server: FaultServer, fault: str, error: type[Exception], status: int | None, connect: Connect
) -> None:
    conn = connect(server)
    conn.request("GET", f"/?fault={fault}")
    with pytest.raises(error):
        conn.getresponse()
    assert only_entry(server).status == status


def test_weird_headers_and_binary_body_are_exact_bytes(server: FaultServer) -> None:
    data = raw_get(server, "/?fault=weird_headers")
    assert data.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert b"\r\nX-Weird: caf\xc3\xa9 \xff\xfe\r\n" in data
    assert b"\r\nX-Escape: \x1b[31mred\x1b[0m\r\n" in data
    data = raw_get(server, "/?fault=binary&status=502")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/octet-stream")
    assert body == b"binary\x00body \x1b[31mred\x1b[0m \xff\xfe\xc3\x28 end\n"


def test_request_bodies_are_consumed(server: FaultServer, connect: Connect) -> None:
    conn = connect(server)
    conn.request("POST", "/?status=201", body=b"x" * 100_000)
    assert conn.getresponse().read() == b"201 Created\n"
    assert fetch(conn, "/")[0].status == 200  # framing intact on the same connection
    pipelined = (
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n"
        b"HEAD /?size=5000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    data = raw(server, pipelined)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert data.endswith(b"Content-Length: 5000\r\nConnection: close\r\n\r\n")
    head = server.wait_for_entries(4)[-1]
    assert (head.method, head.body_bytes, head.body_sha256) == ("HEAD", 0, None)


def test_http10_clients_close_unless_they_ask_for_keep_alive(server: FaultServer) -> None:
    assert raw(server, b"GET /?body=a HTTP/1.0\r\n\r\n") == (
        b"HTTP/1.1 200 OK\r\n" + TEXT_HEAD + b"Content-Length: 1\r\nConnection: close\r\n\r\na"
    )
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        request = b"GET /?body=b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        expected = b"HTTP/1.1 200 OK\r\n" + TEXT_HEAD + b"Content-Length: 1\r\n"
        for _ in range(2):  # the second answer proves the connection stayed open
            sock.sendall(request)
            answer = expected + b"Connection: keep-alive\r\n\r\nb"
            assert recv_exact(sock, len(answer)) == answer
    assert [e.connection_request_no for e in server.wait_for_entries(3)] == [1, 1, 2]


def test_expect_100_continue(server: FaultServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT_S) as sock:
        sock.sendall(
            b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        interim = b"HTTP/1.1 100 Continue\r\n\r\n"
        assert recv_exact(sock, len(interim)) == interim
        sock.sendall(b"abc")
        assert read_until_close(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_concurrent_connections_keep_an_exact_ledger(server: FaultServer, connect: Connect) -> None:
    def worker(n: int) -> None:
        conn = connect(server)
        for i in range(50):
            fetch(conn, "/?status=202", {"X-Capture-Id": f"{n}-{i}"})
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S * 4)
    entries = server.entries()
    assert [e.seq for e in entries] == list(range(1, 401))
    assert {e.request_id for e in entries} == {f"{n}-{i}" for n in range(8) for i in range(50)}
    by_conn: dict[int, list[int]] = {}
    for e in entries:
        by_conn.setdefault(e.connection_no, []).append(e.connection_request_no)
    assert sorted(by_conn) == list(range(1, 9))
    assert all(numbers == list(range(1, 51)) for numbers in by_conn.values())


def test_tls() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    with FaultServer(ssl_context=server_ctx) as server:
        assert server.url == f"https://127.0.0.1:{server.port}"
        conn = http.client.HTTPSConnection(
            server.host, server.port, timeout=TIMEOUT_S, context=client_ctx
        )
        assert [fetch(conn, "/?status=201")[0].status for _ in range(2)] == [201, 201]
        assert [e.connection_request_no for e in server.entries()] == [1, 2]
        conn.request("GET", "/?fault=body_stall&stall=30")
        assert conn.getresponse().status == 200
        started = time.monotonic()
    assert time.monotonic() - started < 2.0
    conn.close()


def test_serve_prints_its_address_and_stops_on_sigint() -> None:
    code = "from capture.target import serve; serve('127.0.0.1', 0)"
    argv = [sys.executable, "-c", code]
    cwd = Path(__file__).resolve().parents[2]
    with subprocess.Popen(argv, cwd=cwd, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stderr is not None
            assert select.select([proc.stderr], [], [], 10)[0], "no startup line"
            line = proc.stderr.readline()
            match = re.fullmatch(r"capture target listening on http://127\.0\.0\.1:(\d+)\n", line)
            assert match, line
            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=TIMEOUT_S)
            assert fetch(conn, "/?status=418")[0].status == 418
            conn.close()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(TIMEOUT_S) == 0
            assert proc.stderr.read() == ""  # no traceback
        finally:
            if proc.poll() is None:
                proc.kill()
