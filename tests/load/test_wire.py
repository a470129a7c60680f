"""Requests sent as kept bytes (load/wire.py) are the bytes urllib3 builds, byte for byte.

A small server on 127.0.0.1 keeps every request exactly as it arrived (request line,
headers, body), so each case compares what the wire carried with the lean path on and
off, over keep-alive reuse and reconnects.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from capture.config import RunConfig, Target
from capture.load import wire
from capture.load.pool import SessionPool
from capture.load.send import Sender
from capture.store.record import Record

_LIMIT_S = 10.0  # every socket wait of the server is bounded


class _Recorder:
    """Answers every request with a 200 and keeps its raw bytes; closes a connection
    after close_after requests when given (Connection: close)."""

    def __init__(self, close_after: int | None = None) -> None:
        self.requests: list[bytes] = []
        self.connections = 0
        self._close_after = close_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_LIMIT_S)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(_LIMIT_S)
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        buffer = b""
        served = 0
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                rest += chunk
            self.requests.append(head + b"\r\n\r\n" + rest[:length])
            buffer = rest[length:]
            served += 1
            closing = self._close_after is not None and served == self._close_after
            extra = b"Connection: close\r\n" if closing else b""
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + extra + b"\r\nok")
            if closing:
                return

    @contextmanager
    def running(self) -> Iterator[_Recorder]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop = True
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a waiting accept()
            self._listener.close()
            self._thread.join(_LIMIT_S)


def _send(url: str, count: int, *, lean: bool, id_header: str | None = None) -> list[Record]:
    """Sends count requests (a POST with headers and a body) on one session."""
    target = Target.build(
        "POST", f"{url}/items?q=1", (("X-Api", "v1"), ("Content-Type", "text/plain")), b"hello"
    )
    config = RunConfig(targets=(target,), requests=count, connections=1, id_header=id_header)
    pool = SessionPool(1, trust_env=False, insecure=False, keep_cookies=False)
    saved = wire.AVAILABLE
    wire.AVAILABLE = lean
    try:
        sender = Sender(config, pool, 1, time.perf_counter())
        try:
            return [sender.send(Record(seq, 0, 0, 0)) for seq in range(1, count + 1)]
        finally:
            sender.close()
    finally:
        wire.AVAILABLE = saved
        pool.close()


@pytest.mark.parametrize("close_after", [None, 3])
def test_kept_bytes_are_the_built_bytes(close_after: int | None) -> None:
    with _Recorder(close_after).running() as built:
        built_records = _send(built.url, 10, lean=False)
    with _Recorder(close_after).running() as lean:
        lean_records = _send(lean.url, 10, lean=True)
    assert len(built.requests) == len(lean.requests) == 10
    host = built.url.removeprefix("http://").encode(), lean.url.removeprefix("http://").encode()
    expected = [r.replace(*host) for r in built.requests]  # Host: each server's own port
    assert lean.requests == expected
    assert len(set(lean.requests)) == 1  # the same bytes every time, on every connection
    assert b"X-Api: v1\r\n" in lean.requests[0] and lean.requests[0].endswith(b"\r\n\r\nhello")
    assert lean.connections == built.connections == (1 if close_after is None else 4)
    # Positions on the connection are counted the same on both paths.
    assert [r.connection_request_no for r in lean_records] == [
        r.connection_request_no for r in built_records
    ]
    assert [r.status for r in lean_records] == [200] * 10


def test_the_lean_path_keeps_the_bytes_once_per_host() -> None:
    with _Recorder().running() as server:
        target = Target.build("GET", f"{server.url}/x")
        config = RunConfig(targets=(target,), requests=3, connections=1)
        pool = SessionPool(1, trust_env=False, insecure=False, keep_cookies=False)
        try:
            sender = Sender(config, pool, 1, time.perf_counter())
            for seq in (1, 2, 3):
                sender.send(Record(seq, 0, 0, 0))
            kept = sender._targets[0].wire
            sender.close()  # the server's connection ends: its thread can stop
        finally:
            pool.close()
    assert kept is not None and kept.wire is not None
    assert list(kept.wire.values()) == [server.requests[0]]


def test_a_varying_header_is_built_every_time() -> None:
    with _Recorder().running() as server:
        records = _send(server.url, 4, lean=True, id_header="X-Capture-Id")
    ids = [r.correlation_id for r in records]
    assert ids == ["1-1", "1-2", "1-3", "1-4"]
    for sent, each in zip(server.requests, ids, strict=True):
        assert f"X-Capture-Id: {each}\r\n".encode() in sent


def test_a_changed_copy_drops_the_kept_bytes() -> None:
    headers = wire.WireHeaders([("A", "1")])
    assert headers.wire == {}
    same = headers.copy()
    assert same.wire is headers.wire  # urllib3 copies the headers on every urlopen
    same["B"] = "2"
    assert same.wire is None and headers.wire == {}
    assert "B" not in headers and same["a"] == "1"  # a copy: the target's headers unchanged
