"""Issue 4's HTTP fault matrix: every fault the built-in target (and a few sockets of our
own) can produce, sent through `capture run`, and what capture stored compared with the
server's ledger by request id, as sets. FAULTS is also the README's table "What capture
records when...", and a test keeps the two in step."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sqlite3
import ssl
import threading
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from capture.redact import is_secret_header
from capture.target.faults import (
    BINARY_BODY,
    DUP_HEADERS,
    GZIP_GARBAGE_BODY,
    WEIRD_HEADERS,
    gzip_bomb,
)
from capture.target.server import FaultServer, LedgerEntry
from tests.conftest import Result, query

ID_HEADER = "X-Capture-Id"
README = Path(__file__).resolve().parents[2] / "README.md"
PATTERN = b"capture target body 0123456789 abcdefghijklmnopqrstuvwxyz ABCDE\n"
TIMEOUT = "1s"  # --timeout: 10x a healthy exchange on a busy 2-CPU machine; slow faults wait 2s
MAX_TIME = "5s"  # --max-time: far beyond any healthy exchange here, even a 50 MB body
MIB = 1 << 20
MEMORY_BOUND_BYTES = 50 * MIB
SECRETS = {
    "Authorization": "Bearer s3cret-token",
    "Cookie": "session=c00kie",
    "X-Api-Key": "k3y-value",
    "X-Auth-Token": "t0ken-value",
}


def pattern(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: what the server does, and what capture must store."""

    name: str  # the README row
    status: int | None  # status stored (None: no status line reached capture)
    kind: str | None  # error_kind stored
    query: str = ""  # the target's query string; "" for faults with a test of their own
    args: tuple[str, ...] = ()  # extra `capture run` options
    failed: bool = True
    requests: int = 4
    connections: int = 2
    mixed: bool = True  # part of the mixed run, under that run's --timeout and --max-time


FAULTS = (
    Fault("500 with a small body", 500, None, "status=500&body=db+is+down+%28code+7%29"),
    Fault("503 with Retry-After in seconds", 503, None, "status=503&retry_after=7"),
    Fault("429 with Retry-After as an HTTP-date", 429, None, "status=429&retry_after=date"),
    Fault(
        "404 with a JSON body",
        404,
        None,
        "status=404&ctype=application/json&body=%7B%22error%22%3A%22no+such+order%22%7D",
    ),
    Fault(
        "400 with a JSON body, `--fail-status 5xx`",
        400,
        None,
        "status=400&ctype=application/json&body=%7B%22error%22%3A%22bad%22%7D",
        args=("--fail-status", "5xx"),
        failed=False,
        mixed=False,
    ),
    Fault(
        "no headers within `--timeout`",
        None,
        "read_timeout",
        "delay=2",
        args=("--timeout", "0.3s"),  # nothing healthy in this run can be cut short by it
        requests=2,
        connections=1,
    ),
    Fault(
        "headers, then the body stalls",
        200,
        "body_timeout",
        "fault=body_stall&stall=2",
        requests=2,
    ),
    Fault(
        "body trickles past `--max-time`",
        200,
        "total_timeout",
        "fault=trickle&interval=0.05&bytes=200",
        args=("--max-time", "1.5s"),
        requests=2,
    ),
    Fault("connection closed after the request", None, "remote_closed", "fault=close"),
    Fault("reset before the headers", None, "reset", "fault=reset"),
    Fault("reset in the middle of the body", 200, "body_reset", "fault=body_reset"),
    Fault("Content-Length larger than the body", 200, "incomplete_body", "fault=short_body"),
    Fault("invalid chunk size", 200, "bad_chunk", "fault=bad_chunk"),
    Fault("chunked body without the last chunk", 200, "incomplete_body", "fault=no_last_chunk"),
    Fault("gzip that is not gzip", 200, "decode", "fault=gzip_garbage"),
    Fault(
        "gzip bomb (100 MiB) on a 500",
        500,
        None,
        "fault=gzip_bomb&status=500",
        args=("--max-body", "100KiB"),
        requests=2,
        connections=1,
    ),
    Fault("10 MB error body", 500, None, "fault=big&status=500", requests=2, connections=1),
    Fault(
        "50 MB error body",
        500,
        None,
        "fault=big&status=500&size=50000000",
        requests=2,
        connections=1,
        mixed=False,
    ),
    Fault("binary body (NUL, ESC, invalid UTF-8)", 500, None, "fault=binary&status=500"),
    Fault("non-UTF-8 and escape bytes in header values", 500, None, "fault=weird_headers"),
    Fault("three Set-Cookie headers", 500, None, "fault=dup_headers&status=500"),
    Fault("101 response headers", None, "protocol", "fault=many_headers"),
    Fault("a header line without a colon", 200, "protocol", "fault=no_colon_header"),
    Fault("a space before a header's colon", 200, "protocol", "fault=space_before_colon"),
    Fault("a 70 KB header line", None, "protocol", "fault=long_header"),
    Fault("garbage status line", None, "protocol", "fault=bad_status"),
    Fault("HTTP/1.0 body delimited by close", 503, None, "fault=http10&status=503"),
    Fault("103 Early Hints before a 500", 103, "protocol", "fault=early_hints&status=500"),
    Fault("server closes an idle keep-alive connection", 200, None, failed=False),
    Fault("server closes a reused connection without answering", None, "remote_closed"),
    Fault("redirect loop", 302, None, "fault=redirect_loop", failed=False),
    Fault(
        "redirect loop, `--follow-redirects`",
        302,
        "too_many_redirects",
        "fault=redirect_loop",
        args=("--follow-redirects",),
        requests=2,
        connections=1,
        mixed=False,
    ),
    Fault(
        "redirect to an unusable Location, `--follow-redirects`",
        None,
        "bad_redirect",
        "redirect_to=http://%5Bbad",
        args=("--follow-redirects",),
        requests=2,
        connections=1,
        mixed=False,
    ),
    Fault("redirect to another host, `--follow-redirects`", 500, None),
    Fault("connection refused", None, "connect_refused"),
    Fault("host name does not resolve", None, "dns"),
    Fault("listener never accepts", None, "connect_timeout"),
    Fault("TLS certificate from an untrusted CA", None, "tls_cert"),
    Fault("TLS certificate for another host name", None, "tls_cert"),
    Fault("TLS handshake cut short", None, "tls"),
)
BY_NAME = {f.name: f for f in FAULTS}
CONNECT_KINDS = {"connect_refused", "connect_timeout", "dns", "tls_cert", "tls"}
SERVER_FAULTS = [f for f in FAULTS if f.query]


# ---- helpers ---------------------------------------------------------------------------


def run(cli: Callable[..., Result], db: Path, *args: object) -> None:
    result = cli("run", *args, "--id-header", ID_HEADER, "--db", db, "--quiet")
    assert result.exit_code == 0, result.stderr


def run_fault(cli: Callable[..., Result], db: Path, url: str, fault: Fault) -> None:
    defaults = {"--timeout": TIMEOUT, "--max-time": MAX_TIME}
    timing = [a for k, v in defaults.items() if k not in fault.args for a in (k, v)]
    run(cli, db, url, "-n", fault.requests, "-c", fault.connections, *timing, *fault.args)


def rows(db: Path) -> dict[str, dict[str, Any]]:
    """Every request of the latest run by correlation id, with its failure row if any."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute(
            "select r.*, f.reason, f.http_version, f.response_headers, f.body, f.body_size,"
            " f.body_truncated, f.content_type, f.content_encoding, f.error_class, f.error_message,"
            " f.request_id is not null as stored"
            " from requests r left join failures f on f.request_id = r.id"
            " where r.run_id = (select max(id) from runs) order by r.seq"
        ).fetchall()
    finally:
        conn.close()
    out = {}
    for found_row in found:
        row = dict(found_row)
        pairs = row["response_headers"]
        row["response_headers"] = None if pairs is None else [tuple(p) for p in json.loads(pairs)]
        out[row["correlation_id"]] = row
    return out


def header(row: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in row["response_headers"] or () if k.lower() == name.lower()]


def ledger(server: FaultServer, count: int) -> dict[str, LedgerEntry]:
    """The server's entries by request id, once count have arrived; no id twice."""
    entries = server.wait_for_entries(count, timeout_s=10.0)
    ids = Counter(e.request_id for e in entries)
    assert not [i for i, n in ids.items() if n > 1], "a request reached the server twice"
    return {str(e.request_id): e for e in entries}


def check_against_ledger(
    stored: dict[str, dict[str, Any]], entries: dict[str, LedgerEntry], fault: Fault
) -> None:
    """The checks every server fault gets: exact kinds, sets equal by id, attribution."""
    assert set(stored) == set(entries), "every request reached the server exactly once"
    for cid, row in stored.items():
        assert (row["status"], row["error_kind"], bool(row["failed"])) == (
            fault.status,
            fault.kind,
            fault.failed,
        ), (cid, row["error_class"])
        assert bool(row["stored"]) == fault.failed
        assert row["local_addr"] == entries[cid].client_addr  # the socket the server saw
        if fault.status is not None and fault.status >= 200:
            assert entries[cid].status == row["status"]
        if row["response_headers"] and header(row, "X-Fault-Id"):
            assert header(row, "X-Fault-Id") == [cid]  # this response belongs to this request


def run_totals(db: Path) -> tuple[object, ...]:
    return query(
        db,
        "select requests_total, ok_total + failed_total, failed_total, failures_stored,"
        " failures_dropped, aborted_total, status from runs order by id desc limit 1",
    )[0]


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return port


@pytest.fixture
def full_backlog() -> Iterator[str]:
    """A listener that never accepts, with its accept queue already full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):  # Linux queues backlog + 1 connections; then SYNs are dropped
            sock = socket.socket()
            sock.settimeout(0.2)
            fillers.append(sock)
            try:
                sock.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.fail("the accept queue never filled up")
        yield f"http://127.0.0.1:{port}/"
    finally:
        for sock in fillers:
            sock.close()
        listener.close()


@pytest.fixture(scope="module")
def ca() -> Any:
    trustme = pytest.importorskip("trustme")
    return trustme.CA()


def tls_server(ca: Any, host_name: str) -> FaultServer:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host_name).configure_cert(context)
    return FaultServer(ssl_context=context)


@pytest.fixture
def cut_handshake() -> Iterator[str]:
    """A listener that reads the TLS ClientHello and closes without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    handlers: list[threading.Thread] = []

    def cut(sock: socket.socket) -> None:
        with sock:
            sock.settimeout(2.0)
            try:
                sock.recv(65536)
                sock.shutdown(socket.SHUT_WR)
                sock.recv(65536)  # wait for the client to give up
            except OSError:
                pass

    def serve() -> None:
        # A thread per connection: served one after another, a handshake queued behind a
        # slow one outlasted --timeout and came out as read_timeout, not tls.
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            handler = threading.Thread(target=cut, args=(sock,), daemon=True)
            handlers.append(handler)
            handler.start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(2.0)
        listener.close()
        for handler in handlers:  # the clients are gone: each ends at its next recv
            handler.join(2.0)


# ---- every fault of the built-in target: one run each, then the evidence ---------------


@dataclass
class Ctx:
    """What one fault run left behind, for the evidence checks."""

    cli: Callable[..., Result]
    db: Path
    url: str
    stored: dict[str, dict[str, Any]]
    entries: dict[str, LedgerEntry]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


MEMORY_BOUNDED = {"gzip bomb (100 MiB) on a 500", "10 MB error body", "50 MB error body"}


@pytest.mark.parametrize("fault", SERVER_FAULTS, ids=[_slug(f.name) for f in SERVER_FAULTS])
def test_server_fault(cli, server: FaultServer, db_path: Path, fault: Fault) -> None:
    gzip_bomb()  # built on first use: not inside a request with a short --timeout
    url = f"{server.url}/f?{fault.query}"
    if fault.name in MEMORY_BOUNDED:
        peak = _traced_peak(lambda: run_fault(cli, db_path, url, fault), cli, db_path, server)
        assert peak < MEMORY_BOUND_BYTES, f"peak {peak / MIB:.1f} MiB"
    else:
        run_fault(cli, db_path, url, fault)
    stored = rows(db_path)
    assert len(stored) == fault.requests
    hops = 31 if fault.kind == "too_many_redirects" else 1  # the first + 30 redirects
    entries = server.wait_for_entries(fault.requests * hops, timeout_s=10.0)
    assert Counter(e.request_id for e in entries) == dict.fromkeys(stored, hops)
    if hops == 1:
        check_against_ledger(stored, ledger(server, fault.requests), fault)
    failed = fault.requests if fault.failed else 0
    assert run_totals(db_path) == (fault.requests,) * 2 + (failed, failed, 0, 0, "completed")
    by_id = {str(e.request_id): e for e in entries}
    check = EVIDENCE.get(fault.name)
    if check is not None:
        check(Ctx(cli, db_path, url, stored, by_id))


def _traced_peak(
    action: Callable[[], None], cli: Callable[..., Result], db: Path, server: FaultServer
) -> int:
    """Runs action under tracemalloc. Returns the peak of traced memory, in bytes."""
    # A first small run imports and builds everything a run needs, outside the trace.
    run(cli, db.with_name("warm-up.db"), f"{server.url}/warm-up", "-n", "1")
    server.clear()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _small_body(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == b"db is down (code 7)"
        assert sha(row["body"]) == ctx.entries[cid].body_sha256
        assert row["body_size"] == ctx.entries[cid].body_bytes == len(row["body"])
        assert row["body_truncated"] == 0 and row["reason"] == "Internal Server Error"


def _retry_after_seconds(ctx: Ctx) -> None:
    assert all(header(row, "Retry-After") == ["7"] for row in ctx.stored.values())


def _retry_after_date(ctx: Ctx) -> None:
    http_date = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
    for row in ctx.stored.values():
        (value,) = header(row, "Retry-After")
        assert http_date.fullmatch(value), value


def _json_body(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert json.loads(row["body"]) == {"error": "no such order"}
        assert row["content_type"] == "application/json"
        text = query(ctx.db, "select body_text from failure_details where correlation_id = ?", cid)
        assert text == [('{"error":"no such order"}',)]


def _nothing_stored(ctx: Ctx) -> None:
    assert query(ctx.db, "select count(*) from failures") == [(0,)]


def _fresh_connection_each_time(ctx: Ctx) -> None:
    # -c 1: after each timeout the session's next request opened a new connection
    in_order = sorted(ctx.stored.values(), key=lambda r: r["seq"])
    assert [(r["connection_no"], r["connection_request_no"]) for r in in_order] == [
        (n, 1) for n in range(1, len(in_order) + 1)
    ]
    assert len({r["local_addr"] for r in in_order}) == len(in_order)


def _body_stall(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == pattern(10) == pattern(ctx.entries[cid].body_bytes)
        assert row["body_size"] == 10 and header(row, "Content-Length") == ["1000"]


def _trickle(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        assert 0 < row["body_size"] < 200 and row["body"] == pattern(row["body_size"])
        assert row["error_class"] == "capture.load.body.TotalTimeout"


def _body_reset(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == pattern(100) and row["body_size"] == ctx.entries[cid].body_bytes


def _short_body(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        assert (row["body"], row["body_size"], row["bytes_in"]) == (pattern(3), 3, 3)
        assert header(row, "Content-Length") == ["100"]  # the declared size


def _no_last_chunk(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        assert row["body"] == b"hello" and header(row, "Transfer-Encoding") == ["chunked"]


def _gzip_garbage(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == GZIP_GARBAGE_BODY  # the raw wire bytes, kept as evidence
        assert sha(row["body"]) == ctx.entries[cid].body_sha256
        assert row["content_encoding"] == "gzip"


def _gzip_bomb(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == bytes(100 * 1024)  # decoded, capped at --max-body
        assert row["body_truncated"] == 1
        assert row["body_size"] == row["bytes_in"] == ctx.entries[cid].body_bytes  # on the wire


def _big_body(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == pattern(64 * 1024) and row["body_truncated"] == 1
        assert row["body_size"] == row["bytes_in"] == ctx.entries[cid].body_bytes
        assert row["body_size"] in (10_000_000, 50_000_000)
    # read to the end, so the keep-alive connection was reused
    assert sorted(r["connection_request_no"] for r in ctx.stored.values()) == [1, 2]


def _binary_body(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["body"] == BINARY_BODY and sha(row["body"]) == ctx.entries[cid].body_sha256
        shown = ctx.cli("show", row["id"], "--db", ctx.db)
        assert shown.exit_code == 0, shown.stderr
        assert "\x1b" not in shown.stdout and "\x00" not in shown.stdout


def _weird_headers(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        for name, value in WEIRD_HEADERS:
            (text,) = header(row, name.decode())
            assert text.encode("latin-1") == value  # the exact bytes the server sent
        shown = ctx.cli("show", row["id"], "--db", ctx.db)
        assert shown.exit_code == 0 and "\x1b" not in shown.stdout


def _malformed_header_line(ctx: Ctx) -> None:
    # The line is no header, but the ones after it are: the body's framing with them.
    for row in ctx.stored.values():
        names = [name for name, _ in row["response_headers"]]
        spaced = "X-Spaced" in names
        after = ["X-Spaced"] if spaced else []
        assert names[names.index("X-Before") :] == ["X-Before", *after, "X-After", "Content-Length"]
        assert bytes(row["body"]) == b"200 OK\n" and row["bytes_in"] == len(b"200 OK\n")
        bad = "'X-Spaced : v'" if spaced else "'X-No-Colon-Here'"
        assert bad in row["error_message"] and "the other headers are kept" in row["error_message"]


def _set_cookies(ctx: Ctx) -> None:
    sent = [(n.decode(), v.decode("latin-1")) for n, v in DUP_HEADERS]
    cookies = [v for n, v in sent if n == "Set-Cookie"]
    for row in ctx.stored.values():
        names = [k for k, _ in row["response_headers"]]
        first = names.index("Set-Cookie")
        assert names[first : first + len(sent)] == [n for n, _ in sent]  # wire order
        stored = header(row, "Set-Cookie")
        assert len(stored) == len(cookies) == 3
        for value, cookie in zip(stored, cookies, strict=True):
            assert value.startswith(f"[redacted len={len(cookie)} hmac=")
        assert header(row, "X-Dup") == ["first", "second"]
    run(ctx.cli, ctx.db, ctx.url, "-n", "1", "--keep-secrets")
    (kept,) = rows(ctx.db).values()
    assert header(kept, "Set-Cookie") == cookies


def _http10(ctx: Ctx) -> None:
    for cid, row in ctx.stored.items():
        assert row["http_version"] == "HTTP/1.0" and row["body"] == b"503 Service Unavailable\n"
        assert row["body_size"] == ctx.entries[cid].body_bytes and row["body_truncated"] == 0
        assert row["remote_addr"] and row["local_addr"] == ctx.entries[cid].client_addr
        assert row["connection_request_no"] == 1  # the server closed each connection


def _early_hints(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        assert header(row, "Link") and row["connection_request_no"] == 1  # never reused


def _too_many_redirects(ctx: Ctx) -> None:
    for row in ctx.stored.values():
        assert row["error_class"] == "requests.exceptions.TooManyRedirects"
        assert header(row, "Location")  # the last hop's response headers


EVIDENCE: dict[str, Callable[[Ctx], None]] = {
    "500 with a small body": _small_body,
    "503 with Retry-After in seconds": _retry_after_seconds,
    "429 with Retry-After as an HTTP-date": _retry_after_date,
    "404 with a JSON body": _json_body,
    "400 with a JSON body, `--fail-status 5xx`": _nothing_stored,
    "no headers within `--timeout`": _fresh_connection_each_time,
    "headers, then the body stalls": _body_stall,
    "body trickles past `--max-time`": _trickle,
    "reset in the middle of the body": _body_reset,
    "Content-Length larger than the body": _short_body,
    "chunked body without the last chunk": _no_last_chunk,
    "gzip that is not gzip": _gzip_garbage,
    "gzip bomb (100 MiB) on a 500": _gzip_bomb,
    "10 MB error body": _big_body,
    "50 MB error body": _big_body,
    "binary body (NUL, ESC, invalid UTF-8)": _binary_body,
    "non-UTF-8 and escape bytes in header values": _weird_headers,
    "three Set-Cookie headers": _set_cookies,
    "a header line without a colon": _malformed_header_line,
    "a space before a header's colon": _malformed_header_line,
    "HTTP/1.0 body delimited by close": _http10,
    "103 Early Hints before a 500": _early_hints,
    "redirect loop": _nothing_stored,
    "redirect loop, `--follow-redirects`": _too_many_redirects,
}


# ---- faults that need a test of their own ----------------------------------------------


def test_early_hints_are_never_attributed_to_the_next_request(
    cli, server: FaultServer, db_path: Path, tmp_path: Path
) -> None:
    fault = BY_NAME["103 Early Hints before a 500"]
    targets = tmp_path / "targets.jsonl"
    urls = [f"{server.url}/hints?{fault.query}", f"{server.url}/plain?status=500"]
    targets.write_text("".join(json.dumps({"url": u}) + "\n" for u in urls))
    run(cli, db_path, "--targets", targets, "-n", 20, "-c", 1, "--timeout", TIMEOUT)
    stored = rows(db_path)
    entries = ledger(server, 20)
    assert set(stored) == set(entries)
    for cid, row in stored.items():
        if row["url"].endswith("hints?" + fault.query):
            assert (row["status"], row["error_kind"]) == (fault.status, fault.kind)
        else:  # the request after a 103 gets its own 500, on a new connection
            assert (row["status"], row["error_kind"]) == (500, None)
            assert header(row, "X-Fault-Id") == [cid] and entries[cid].path == "/plain?status=500"
            assert row["connection_request_no"] == 1


def test_idle_close_reconnects_without_a_failure(cli, server: FaultServer, db_path: Path) -> None:
    fault = BY_NAME["server closes an idle keep-alive connection"]
    # --qps 4 idles each connection 250 ms; the server closes it after 50 ms of idling, so
    # its FIN is there before the next checkout and urllib3 reconnects before sending.
    run(cli, db_path, f"{server.url}/?idle_close=0.05", "-n", 4, "-c", 1, "--qps", 4)
    stored = rows(db_path)
    entries = ledger(server, 4)
    assert set(stored) == set(entries)
    for cid, row in stored.items():
        assert (row["status"], row["error_kind"], row["failed"]) == (fault.status, fault.kind, 0)
        assert row["connection_request_no"] == 1 and row["local_addr"] == entries[cid].client_addr
        assert entries[cid].action == "idle_close"
    in_order = sorted(stored.values(), key=lambda r: r["seq"])
    assert [r["connection_no"] for r in in_order] == [1, 2, 3, 4]
    assert run_totals(db_path) == (4, 4, 0, 0, 0, 0, "completed")


def test_close_on_a_reused_connection_is_counted_once(
    cli, server: FaultServer, db_path: Path
) -> None:
    fault = BY_NAME["server closes a reused connection without answering"]
    run(cli, db_path, f"{server.url}/?fault=close_reused", "-n", 6, "-c", 1)
    stored = rows(db_path)
    entries = ledger(server, 6)  # one entry per id: nothing was retried
    assert set(stored) == set(entries)
    in_order = sorted(stored.values(), key=lambda r: r["seq"])
    # on each new connection: the first request is answered, the second is dropped
    expected = [((200, None, 0), 1), ((fault.status, fault.kind, 1), 2)] * 3
    assert [
        ((r["status"], r["error_kind"], r["failed"]), r["connection_request_no"]) for r in in_order
    ] == expected
    for row in in_order:
        entry = entries[row["correlation_id"]]
        assert entry.connection_request_no == row["connection_request_no"]
    assert run_totals(db_path) == (6, 6, 3, 3, 0, 0, "completed")


def _cross_host_redirect(cli, server: FaultServer, db: Path) -> dict[str, LedgerEntry]:
    """Follows A -> B with secret headers set. Returns what B received, by request id."""
    fault = BY_NAME["redirect to another host, `--follow-redirects`"]
    with FaultServer() as other:
        location = quote(f"{other.url}/b?status=500", safe="")
        headers = [a for name, value in SECRETS.items() for a in ("-H", f"{name}: {value}")]
        run(
            cli,
            db,
            f"{server.url}/a?redirect_to={location}",
            *headers,
            "-H",
            "X-Plain: visible",
            "-n",
            2,
            "-c",
            1,
            "--follow-redirects",
        )
        stored = rows(db)
        first_hop = ledger(server, 2)
        received = ledger(other, 2)
    assert set(stored) == set(first_hop) == set(received)
    for cid, row in stored.items():
        assert (row["status"], row["error_kind"]) == (fault.status, fault.kind)
        assert header(row, "X-Fault-Id") == [cid] and row["url"].startswith(server.url)
        sent = dict(first_hop[cid].request_headers)
        assert {name.lower() for name in SECRETS} <= set(sent)  # A got every secret header
    return received


def test_cross_host_redirect_drops_authorization_and_cookie(
    cli, server: FaultServer, db_path: Path
) -> None:
    for entry in _cross_host_redirect(cli, server, db_path).values():
        got = dict(entry.request_headers)
        assert "authorization" not in got and "cookie" not in got
        assert got["x-plain"] == "visible"


def test_cross_host_redirect_drops_every_secret_header(
    cli, server: FaultServer, db_path: Path
) -> None:
    for entry in _cross_host_redirect(cli, server, db_path).values():
        leaked = {name for name, _ in entry.request_headers if is_secret_header(name)}
        assert not leaked


def _connect_fault(
    cli, db: Path, url: str, fault: Fault, *args: object, timeout: str = TIMEOUT
) -> None:
    """Runs 3 requests that fail before any request is written, and checks the rows."""
    run(cli, db, url, "-n", 3, "-c", 1, "--timeout", timeout, *args)
    stored = rows(db)
    assert len(stored) == 3
    for cid, row in stored.items():
        assert (row["status"], row["error_kind"], row["failed"]) == (fault.status, fault.kind, 1)
        assert row["response_headers"] is None and row["stored"] == 1, cid
        assert row["bytes_in"] == 0 and row["ttfb_ms"] is None
        assert (row["local_addr"], row["connection_no"], row["connection_request_no"]) == (
            None,
            None,
            None,
        )
    assert run_totals(db) == (3, 3, 3, 3, 0, 0, "completed")


def test_connection_refused(cli, db_path: Path) -> None:
    fault = BY_NAME["connection refused"]
    _connect_fault(cli, db_path, f"http://127.0.0.1:{free_port()}/", fault)


def test_dns(cli, db_path: Path) -> None:
    # .invalid never resolves (RFC 6761). getaddrinfo ignores socket timeouts, so a
    # resolver that hangs would hang the run: find out first, in a thread of its own.
    lookup = threading.Thread(
        target=lambda: _resolves("nonexistent.invalid"), name="dns-probe", daemon=True
    )
    lookup.start()
    lookup.join(3.0)
    if lookup.is_alive():
        pytest.skip("the resolver here hangs on nonexistent.invalid")
    fault = BY_NAME["host name does not resolve"]
    _connect_fault(cli, db_path, "http://nonexistent.invalid/", fault)


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        return False
    return True


def test_listener_that_never_accepts(cli, db_path: Path, full_backlog: str) -> None:
    fault = BY_NAME["listener never accepts"]
    _connect_fault(cli, db_path, full_backlog, fault, timeout="0.3s")  # it cannot connect


def test_tls_untrusted_certificate(cli, db_path: Path, ca: Any) -> None:
    with tls_server(ca, "127.0.0.1") as tls:
        _connect_fault(cli, db_path, f"{tls.url}/", BY_NAME["TLS certificate from an untrusted CA"])
        assert tls.entries() == []


def test_tls_certificate_for_another_host(
    cli, db_path: Path, ca: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))  # read with --trust-env
    with tls_server(ca, "127.0.0.1") as good, tls_server(ca, "capture.test") as wrong:
        # the CA is trusted: a certificate for the right name passes ...
        run(cli, db_path, f"{good.url}/", "-n", 2, "-c", 1, "--trust-env")
        assert {(r["status"], r["failed"]) for r in rows(db_path).values()} == {(200, 0)}
        assert len(ledger(good, 2)) == 2
        # ... and one for another name does not
        fault = BY_NAME["TLS certificate for another host name"]
        _connect_fault(cli, db_path, f"{wrong.url}/", fault, "--trust-env")
        assert wrong.entries() == []


def test_tls_handshake_cut_short(cli, db_path: Path, cut_handshake: str) -> None:
    _connect_fault(cli, db_path, cut_handshake, BY_NAME["TLS handshake cut short"])


# ---- all of them at once ----------------------------------------------------------------

MIXED_REQUESTS = 2000
SLOW_KINDS = {"read_timeout", "body_timeout", "total_timeout", "connect_timeout"}
CLOSE_REUSED = BY_NAME["server closes a reused connection without answering"]


def _expected(
    fault: Fault | None, entry: LedgerEntry | None
) -> tuple[int | None, str | None, bool]:
    """The (status, error_kind, failed) a request must get, given what the server did."""
    if fault is None:  # the healthy mix: whatever status the server chose
        assert entry is not None
        return entry.status, None, entry.status in (500, 503)
    if fault is CLOSE_REUSED:  # dropped only when it came on a reused connection
        assert entry is not None
        return (None, fault.kind, True) if entry.connection_request_no > 1 else (200, None, False)
    return fault.status, fault.kind, fault.failed


@pytest.mark.timeout(90)
def test_mixed_run(
    cli,
    server: FaultServer,
    db_path: Path,
    tmp_path: Path,
    ca: Any,
    full_backlog: str,
    cut_handshake: str,
) -> None:
    gzip_bomb()
    faults: dict[str, Fault | None] = {}  # target URL -> its fault (None: a healthy mix)
    for i, each in enumerate(f for f in SERVER_FAULTS if f.mixed):
        faults[f"{server.url}/m{i}?{each.query}"] = each
    faults[f"{server.url}/reused?fault=close_reused"] = CLOSE_REUSED
    faults[f"http://127.0.0.1:{free_port()}/"] = BY_NAME["connection refused"]
    faults[full_backlog] = BY_NAME["listener never accepts"]
    faults[cut_handshake] = BY_NAME["TLS handshake cut short"]
    with tls_server(ca, "127.0.0.1") as untrusted:
        faults[f"{untrusted.url}/"] = BY_NAME["TLS certificate from an untrusted CA"]
        # Targets go round-robin: fast faults twice, slow ones (a second each) once, and
        # healthy traffic in between, so the run stays short and mostly healthy.
        lines = [
            u for u, f in faults.items() for _ in range(1 if f and f.kind in SLOW_KINDS else 2)
        ]
        plain = [f"{server.url}/plain{i}?mix=500:10,503:5" for i in range(60)]
        faults.update(dict.fromkeys(plain))
        targets = tmp_path / "targets.jsonl"
        targets.write_text("".join(json.dumps({"url": u}) + "\n" for u in lines + plain))
        options = ("-n", MIXED_REQUESTS, "-c", 16, "--timeout", TIMEOUT, "--max-time", "2s")
        run(cli, db_path, "--targets", targets, *options)
        assert untrusted.entries() == []  # no request got through a failed handshake

    stored = rows(db_path)
    assert len(stored) == MIXED_REQUESTS == len({r["seq"] for r in stored.values()})
    assert {r["url"] for r in stored.values()} == set(faults)  # every target had its turn
    on_server = {cid for cid, r in stored.items() if r["url"].startswith(server.url + "/")}
    entries = ledger(server, len(on_server))  # no id twice
    assert set(entries) == on_server  # each reached the server once; the others never

    for cid, row in stored.items():
        fault, entry = faults[row["url"]], entries.get(cid)
        got = (row["status"], row["error_kind"], bool(row["failed"]))
        assert got == _expected(fault, entry), (cid, row["url"], row["error_class"], entry)
        if entry is not None:
            assert row["local_addr"] == entry.client_addr
            if row["status"] is not None and row["status"] >= 200:
                assert row["status"] == entry.status
        else:  # failed before a request went out: no connection, no position on one
            assert (row["local_addr"], row["connection_no"], row["connection_request_no"]) == (
                None,
                None,
                None,
            )
        if row["stored"] and header(row, "X-Fault-Id"):
            assert header(row, "X-Fault-Id") == [cid]  # never another request's response

    # The failures the ledger predicts are exactly the ones stored, as sets of ids.
    stored_failures = {cid for cid, r in stored.items() if r["stored"]}
    predicted = {cid for cid, e in entries.items() if _expected(faults[server.url + e.path], e)[2]}
    assert stored_failures & on_server == predicted
    assert stored_failures - on_server == {
        cid for cid, r in stored.items() if cid not in on_server
    }  # every connect-phase fault failed
    assert query(db_path, "select count(*) from requests where error_kind = 'unknown'") == [(0,)]
    failed = len(stored_failures)
    assert run_totals(db_path) == (MIXED_REQUESTS,) * 2 + (failed, failed, 0, 0, "completed")


# ---- the README's table -----------------------------------------------------------------


def _readme_table() -> list[list[str]]:
    section = README.read_text().split("## What capture records when", 1)[1]
    section = section.split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_readme_table_matches_the_suite() -> None:
    def cell(value: int | str | None) -> str:
        return "—" if value is None else f"`{value}`" if isinstance(value, str) else str(value)

    table = _readme_table()
    assert [row[:3] for row in table] == [[f.name, cell(f.status), cell(f.kind)] for f in FAULTS]
    assert [row[3].startswith("not a failure") for row in table] == [not f.failed for f in FAULTS]


def test_every_fault_has_a_test() -> None:
    source = Path(__file__).read_text()
    assert [f.name for f in FAULTS if not f.query and f'BY_NAME["{f.name}"]' not in source] == []
