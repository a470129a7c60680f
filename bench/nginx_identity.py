"""Connection identity against a real nginx: what capture stores of each TCP connection,
compared with nginx's own access log ($connection, $connection_requests).

It runs inside a private network namespace with 8 client ports, so the kernel must give
one port to several connections, and nginx closes a connection after 50 requests
(keepalive_requests), so there are many. Not a test (tests use the built-in target);
the acceptance check of issue 11, kept so that anyone can run it again:

    unshare -rn .venv/bin/python bench/nginx_identity.py

It prints the counts side by side and exits 1 when they differ.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

PORT = 18080
CONF = """
worker_processes 1;
daemon off;
user root;
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format j escape=json '{{"conn":$connection,"n":$connection_requests,'
        '"port":"$remote_port","id":"$http_x_capture_id"}}';
    access_log {p}/access.log j;
    keepalive_requests 50;
    client_body_temp_path {p}/cb; proxy_temp_path {p}/px; fastcgi_temp_path {p}/fc;
    uwsgi_temp_path {p}/uw; scgi_temp_path {p}/sc;
    server {{
        listen 127.0.0.1:{port};
        location = /ok {{ return 200 "ok\\n"; }}
        location = /fail {{ return 503 "no\\n"; }}
    }}
}}
"""


def _namespace() -> None:
    """Brings loopback up and leaves 8 client ports (this namespace only), with no
    TIME_WAIT: a port whose connection the client closed first is free at once
    (tests/e2e/test_connection_identity.py says why)."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    Path("/proc/sys/net/ipv4/tcp_max_tw_buckets").write_text("0")
    Path("/proc/sys/net/ipv4/ip_local_port_range").write_text("40000 40007")


def _nginx(prefix: Path) -> subprocess.Popen[bytes]:
    """Starts nginx in the foreground and waits until it answers."""
    conf = prefix / "nginx.conf"
    conf.write_text(CONF.format(p=prefix, port=PORT))
    cmd = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    proc = subprocess.Popen(cmd)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/ok", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("nginx did not start")


def _capture(db: Path) -> None:
    base = f"http://127.0.0.1:{PORT}"
    cmd = [sys.executable, "-m", "capture", "run", f"{base}/fail", f"{base}/ok", "-n", "2000"]
    cmd += ["-c", "4", "--procs", "2", "--id-header", "X-Capture-Id", "--db", str(db)]
    subprocess.run([*cmd, "--quiet"], check=True)


def main() -> int:
    _namespace()
    prefix = Path(tempfile.mkdtemp(prefix="capture-nginx-identity-"))
    nginx = _nginx(prefix)
    try:
        log = prefix / "access.log"
        log.write_text("")  # the start-up probe is no request of the run
        db = prefix / "run.db"
        _capture(db)
    finally:
        nginx.send_signal(signal.SIGQUIT)  # graceful: every log line written
        nginx.wait(timeout=30)
    served = {e["id"]: e for e in map(json.loads, log.read_text().splitlines())}
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT correlation_id, connection_id, connection_request_no FROM requests"
    ).fetchall()
    (sockets_used,) = conn.execute("SELECT sockets_used FROM runs").fetchone()
    nginx_of: dict[int, set[int]] = defaultdict(set)
    same_position = 0
    for cid, connection_id, position in rows:
        entry = served[cid]
        nginx_of[connection_id].add(entry["conn"])
        same_position += position == entry["n"]
    connections = {e["conn"] for e in served.values()}
    ports = {e["port"] for e in served.values()}
    one_to_one = all(len(v) == 1 for v in nginx_of.values()) and len(nginx_of) == len(connections)
    print(f"nginx:   {len(served)} requests, {len(connections)} connections, {len(ports)} ports")
    print(
        f"capture: {len(rows)} requests, {len(nginx_of)} connection ids,"
        f" sockets_used {sockets_used}"
    )
    print(f"each connection id is one nginx connection: {one_to_one}")
    print(f"position on the connection equal to nginx's: {same_position} of {len(rows)}")
    agree = (
        one_to_one
        and len(rows) == len(served)
        and sockets_used == len(connections)
        and same_position == len(rows)
    )
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
