"""The built-in fault-injecting HTTP/1.1 test target, standard library only.

It parses requests itself and writes raw bytes, so it can misbehave in ways a framework
refuses to. Behaviour is chosen per request by query parameters on any path; see
target.faults for the handlers and docs in FaultServer. Every request the server read gets
one LedgerEntry, recorded before the server's last write or close for that request.

    with FaultServer() as server:
        ...  # GET f"{server.url}/?fault=reset"
        server.entries()
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

from capture.target.exchange import PATTERN, Exchange, Reply
from capture.target.faults import FAULT_NAMES, answer, malformed
from capture.target.request import READ_BUFFER_BYTES, Malformed, Request, read_request
from capture.target.shared import Shared

__all__ = ["FAULT_NAMES", "PATTERN", "FaultServer", "LedgerEntry", "serve"]

KEEPALIVE_IDLE_S = 60.0
WRITE_TIMEOUT_S = 60.0
HANDSHAKE_TIMEOUT_S = 10.0
ACCEPT_POLL_S = 0.2
STOP_JOIN_S = 3.0
DRAIN_S = 0.5
_RST_LINGER = struct.pack("ii", 1, 0)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the server did with one request it read."""

    # server-side order in which entries were logged, 1-based. An entry is logged when its
    # reply ends, so a streamed reply logs after a later request on another connection.
    seq: int
    request_id: str | None  # value of the request's id header, if sent
    method: str
    path: str  # path with query string, as received
    fault: str  # "ok", "status", "mix", "redirect_to", "invalid", "malformed" or the fault name
    status: int | None  # status sent, None when no status line was sent
    body_bytes: int  # body bytes actually written (for chunked faults: the raw chunked bytes)
    body_sha256: str | None  # hex sha256 of the body bytes written (None if none written)
    client_addr: str  # "ip:port" of the peer as the server saw it
    connection_no: int  # server-side connection counter, 1-based
    connection_request_no: int  # 1 = first request on that connection
    action: str  # keep, close, reset, stall, idle_close, client_gone, stopped
    # (lower-case name, value) as received, last one of a name wins; left out of ==
    request_headers: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    # time.monotonic() when the entry was logged (its reply ended); left out of ==
    logged_at: float = field(default_factory=time.monotonic, compare=False)


class FaultServer:
    """A threaded HTTP/1.1 server that answers each request as its query string asks.

    Normal: status=N, body=TEXT, size=BYTES, ctype=TYPE, mix=500:10,503:5, delay=S,
    close=1, close_after=N, retry_after=SECONDS|date, redirect_to=URL, idle_close=S.
    Raw faults: fault=NAME for NAME in FAULT_NAMES (see target.faults).
    mix: request i (0-based, counted per distinct mix string since start or clear()) takes
    slot i % 100; the listed percentages fill slots in order, the rest get status= or 200.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        id_header: str = "X-Capture-Id",
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(1024)
        self._listener.settimeout(ACCEPT_POLL_S)  # lets the accept loop notice stop()
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        scheme = "https" if ssl_context else "http"
        self.url = f"{scheme}://{f'[{host}]' if family == socket.AF_INET6 else host}:{self.port}"
        self._ssl_context = ssl_context
        self._id_key = id_header.lower()
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._ledger: list[LedgerEntry] = []
        self._seq = 0
        self._mix_counters: dict[str, int] = {}
        self._shared = Shared()
        self._connections = 0
        self._open: dict[int, socket.socket] = {}
        self._threads: set[threading.Thread] = set()
        self._accept_thread: threading.Thread | None = None

    def start(self) -> FaultServer:
        """Serve in a background daemon thread. Returns self."""
        if self._accept_thread is None:
            self._accept_thread = threading.Thread(
                target=self._accept_loop, name=f"capture-target-{self.port}", daemon=True
            )
            self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then join threads (bounded)."""
        self._stopping.set()
        _shutdown(self._listener, socket.SHUT_RDWR)  # wakes accept() at once on Linux
        if self._accept_thread is not None:
            self._accept_thread.join(ACCEPT_POLL_S * 5)
        self._listener.close()
        with self._cond:
            sockets, threads = list(self._open.values()), list(self._threads)
        for sock in sockets:
            _shutdown(sock, socket.SHUT_RDWR)  # wakes handlers blocked in recv or send
        deadline = time.monotonic() + STOP_JOIN_S
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def serve_forever(self) -> None:
        """Serve in the foreground until stop() or KeyboardInterrupt."""
        try:  # start() inside: a Ctrl-C can land while Thread.start() waits for the thread
            self.start()
            while not self._stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def entries(self) -> list[LedgerEntry]:
        """Return a snapshot of the ledger, in seq order."""
        with self._cond:
            return list(self._ledger)

    def wait_for_entries(self, count: int, timeout_s: float = 5.0) -> list[LedgerEntry]:
        """Wait until the ledger holds at least count entries. Returns the snapshot."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._ledger) >= count, timeout_s)
            return list(self._ledger)

    def clear(self) -> None:
        """Empty the ledger and restart seq and the mix counters."""
        with self._cond:
            self._ledger.clear()
            self._seq = 0
            self._mix_counters.clear()

    def _mix_next(self, spec: str) -> int:
        with self._cond:
            index = self._mix_counters.get(spec, 0)
            self._mix_counters[spec] = index + 1
            return index

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed listener, or out of file descriptors: back off
                self._stopping.wait(0.05)
                continue
            with self._cond:
                self._connections += 1
                conn_no = self._connections
                self._open[conn_no] = sock
                thread = threading.Thread(
                    target=self._serve_connection,
                    args=(sock, conn_no, _format_addr(addr)),
                    name=f"capture-target-conn-{conn_no}",
                    daemon=True,
                )
                self._threads.add(thread)
            thread.start()

    def _serve_connection(self, sock: socket.socket, conn_no: int, client_addr: str) -> None:
        rfile: io.BufferedReader | None = None
        try:
            sock.settimeout(HANDSHAKE_TIMEOUT_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is not None:
                sock = self._handshake(self._ssl_context, sock, conn_no)
            rfile = sock.makefile("rb")
            idle_s, request_no = KEEPALIVE_IDLE_S, 0
            done_at = time.monotonic()
            while not self._stopping.is_set():
                sock.settimeout(idle_s)
                try:
                    request = read_request(rfile, sock)
                except TimeoutError:  # idle keep-alive (or idle_close): close quietly
                    return
                except Malformed as bad:
                    ex = self._exchange(sock, bad, request_no + 1)
                    self._finish(ex, malformed(ex, str(bad)), client_addr, conn_no)
                    _close_gracefully(sock)
                    return
                if request is None:
                    return
                request_no += 1
                sock.settimeout(WRITE_TIMEOUT_S)
                ex = self._exchange(sock, request, request_no)
                ex.conn_no, ex.idle_before_s = conn_no, time.monotonic() - done_at
                reply = answer(ex)
                action = self._finish(ex, reply, client_addr, conn_no)
                done_at = time.monotonic()
                if action == "keep":
                    idle_s = KEEPALIVE_IDLE_S
                elif action == "idle_close":
                    idle_s = reply.wait_s
                else:
                    self._end_connection(sock, action, reply.wait_s)
                    return
        except OSError:  # the client went away or the handshake failed: nothing to report
            return
        finally:
            if rfile is not None:
                rfile.close()
            sock.close()  # after rfile: the fd only closes once makefile's reference is gone
            with self._cond:
                self._open.pop(conn_no, None)
                self._threads.discard(threading.current_thread())

    def _handshake(self, ctx: ssl.SSLContext, sock: socket.socket, conn_no: int) -> socket.socket:
        tls = ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._cond:  # wrap_socket detached the plain socket; stop() must see the new one
            self._open[conn_no] = tls
        if self._stopping.is_set():
            raise ConnectionAbortedError("server stopping")
        tls.do_handshake()
        return tls

    def _exchange(self, sock: socket.socket, req: Request | Malformed, no: int) -> Exchange:
        good = req if isinstance(req, Request) else None  # malformed: answer 400 and close
        return Exchange(
            sock,
            self._stopping,
            method=req.method,
            target=req.target,
            id_value=good.headers.get(self._id_key) if good else None,
            request_headers=tuple(good.headers.items()) if good else (),
            request_no=no,
            close=good is None or not good.keep_alive or self._stopping.is_set(),
            keep_alive_header=good is not None and good.http10 and good.keep_alive,
            mix_next=self._mix_next,
            shared=self._shared,
        )

    def _finish(self, ex: Exchange, reply: Reply, client_addr: str, conn_no: int) -> str:
        """Record the ledger entry, then write the reply's last bytes. Returns the action."""
        body_bytes, sha = ex.totals(reply.body)
        with self._cond:
            self._seq += 1
            entry = LedgerEntry(
                seq=self._seq,
                request_id=ex.id_value,
                method=ex.method,
                path=ex.target,
                fault=ex.fault,
                status=ex.status if ex.wire_bytes or reply.head else None,
                body_bytes=body_bytes,
                body_sha256=sha,
                client_addr=client_addr,
                connection_no=conn_no,
                connection_request_no=ex.request_no,
                action=reply.action,
                request_headers=ex.request_headers,
            )
            self._ledger.append(entry)
            index = len(self._ledger) - 1
            self._cond.notify_all()
        if not (reply.head or reply.body):
            return reply.action
        try:
            ex.send(reply.head + reply.body, len(reply.head))
        except OSError:  # correct the entry to what really reached the socket
            body_bytes, sha = ex.totals()
            fixed = dataclasses.replace(
                entry,
                status=entry.status if ex.wire_bytes else None,
                body_bytes=body_bytes,
                body_sha256=sha,
                action="client_gone",
            )
            with self._cond:  # unless clear() ran meanwhile
                if index < len(self._ledger) and self._ledger[index] is entry:
                    self._ledger[index] = fixed
            return "client_gone"
        return reply.action

    def _end_connection(self, sock: socket.socket, action: str, wait_s: float) -> None:
        if action == "reset":
            # Linger 0 makes close() send RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RST_LINGER)
        elif action in ("close", "stall"):
            if action == "stall":
                self._stopping.wait(wait_s)
            _close_gracefully(sock)


def serve(host: str, port: int) -> None:
    """Print where the target listens to stderr, then serve until interrupted."""
    server = FaultServer(host, port)
    print(f"capture target listening on {server.url}", file=sys.stderr, flush=True)
    server.serve_forever()


def _close_gracefully(sock: socket.socket) -> None:
    """Send FIN, then read what the client still sends for a moment, so no RST eats the reply."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(DRAIN_S)
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and sock.recv(READ_BUFFER_BYTES):
            pass
    except OSError:
        pass


def _shutdown(sock: socket.socket, how: int) -> None:
    # The plain-socket method: ssl.SSLSocket.shutdown would also drop its TLS state.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, how)


def _format_addr(addr: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
