"""The seed's plain load loop: the baseline capture is measured against.

16 threads share a queue of 16 requests.Session objects, each with a one-connection
HTTPAdapter. Each loop: take a session id, GET the URL, read the body, put the id back.
Nothing is classified or stored. Prints one JSON line: sent, errors, duration_s, rate.
--no-trust-env turns off requests' environment lookups, which capture also leaves off.

Example: python bench/seed_loop.py http://127.0.0.1:8080/ok -c 16 -d 5
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time

import requests
from requests.adapters import HTTPAdapter

TIMEOUT_S = 10.0


def _session(trust_env: bool) -> requests.Session:
    session = requests.Session()
    # trust_env (requests' default) looks up proxy variables and ~/.netrc on every request.
    session.trust_env = trust_env
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def run(
    url: str, connections: int, duration_s: float, *, trust_env: bool = True
) -> dict[str, float]:
    """Receives a URL, a pool size and a duration. Returns sent, errors, duration_s, rate."""
    sessions = [_session(trust_env) for _ in range(connections)]
    free: queue.Queue[int] = queue.Queue()
    for sid in range(connections):
        free.put(sid)
    counts = [0, 0]  # sent, errors; guarded by lock
    lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + duration_s

    def worker() -> None:
        sent = errors = 0
        while time.perf_counter() < deadline:
            sid = free.get()
            try:
                sessions[sid].get(url, timeout=TIMEOUT_S).content  # noqa: B018 - read the body
            except requests.RequestException:
                errors += 1
            finally:
                free.put(sid)
            sent += 1
        with lock:
            counts[0] += sent
            counts[1] += errors

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        # Bounded: every request has a timeout, so a worker ends by deadline + TIMEOUT_S.
        thread.join(timeout=duration_s + 2 * TIMEOUT_S)
    elapsed_s = time.perf_counter() - start
    return {
        "sent": counts[0],
        "errors": counts[1],
        "duration_s": round(elapsed_s, 6),
        "rate": round(counts[0] / elapsed_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="seconds")
    parser.add_argument(
        "--no-trust-env", action="store_true", help="session.trust_env = False, as capture does"
    )
    args = parser.parse_args()
    result = run(args.url, args.connections, args.duration, trust_env=not args.no_trust_env)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
