"""The clients under test: how to start each one, and how to read its figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from install import which
from report import PINNED

BIN = Path(sys.executable).parent  # the virtualenv that runs the bench
HERE = Path(__file__).parent
CONNECTIONS = 16
SEED, SEED_NO_ENV = "seed loop", "seed loop, trust_env off"


class ParseError(ValueError):
    """A client's output did not hold the figures the bench needs."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A client's own report: requests/s, requests completed, and anything else of note."""

    rps: float
    requests: int
    extra: dict[str, Any] = field(default_factory=dict)


def _no_env(url: str) -> dict[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class Client:
    """One client setup: argv for (url, duration_s), and a parser for its stdout.

    Each run starts in a fresh temporary directory, so relative paths land there.
    """

    name: str
    argv: Callable[[str, int], list[str]]
    parse: Callable[[str], Parsed]
    env: Callable[[str], dict[str, str]] = _no_env  # extra environment for a URL


# -- capture -------------------------------------------------------------------------------


def capture(
    *, qps: float | None = None, procs: int | None = None, fail_status: str | None = None
) -> Client:
    """capture run, one process (or --procs N), optionally paced at qps; fail_status
    (--fail-status) changes which statuses count as failures (and are stored).

    --procs gives each process its own pool of -c sessions, so -c is split between them
    to keep 16 connections in all, like every other client here.
    """
    name = "capture" if procs is None else f"capture --procs {procs}"
    if qps is not None:
        name += f" --qps {qps:g}"
    if fail_status is not None:
        name += f" --fail-status {fail_status}"
    connections = CONNECTIONS // (procs or 1)

    def argv(url: str, duration_s: int) -> list[str]:
        cmd = [str(BIN / "capture"), "run", url, "-c", str(connections), "-d", f"{duration_s}s"]
        cmd += ["--db", "tmp.db", "--json", "--quiet"]
        if qps is not None:
            cmd += ["--qps", f"{qps:g}"]
        if procs is not None:
            cmd += ["--procs", str(procs)]
        if fail_status is not None:
            cmd += ["--fail-status", fail_status]
        return cmd

    return Client(name, argv, _parse_capture)


def _parse_capture(stdout: str) -> Parsed:
    summary = _json(stdout)
    lag = summary.get("lag_ms") or {}
    extra = {
        "failed": summary["failed"],
        "stored": summary["stored"],
        "dropped": summary["dropped"],
        "sockets_used": summary.get("sockets_used"),
        "lag_p50_ms": lag.get("p50"),
        "lag_p99_ms": lag.get("p99"),
        # the cause the summary names when a paced run fell behind (after the "; ")
        "keep_up": (summary.get("keep_up_warning") or "").partition("; ")[2] or None,
    }
    return Parsed(float(summary["rate"]), int(summary["sent"]), extra)


def capture_startup() -> Client:
    """capture run -n 1: what one process costs before and after its load."""

    def argv(url: str, duration_s: int) -> list[str]:
        cmd = [str(BIN / "capture"), "run", url, "-n", "1", "-c", str(CONNECTIONS)]
        return [*cmd, "--db", "tmp.db", "--json", "--quiet"]

    return Client("capture", argv, _parse_capture)


def capture_has_procs() -> bool:
    """Returns True when `capture run --help` lists --procs."""
    helptext = subprocess.run(
        [str(BIN / "capture"), "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=os.environ | {"COLUMNS": "200", "NO_COLOR": "1"},  # no wrapped option names
    ).stdout
    return re.search(r"--procs\b", helptext) is not None


# -- the seed's plain loop -----------------------------------------------------------------


def seed_loop(*, trust_env: bool = True) -> Client:
    """bench/seed_loop.py: 16 threads over a queue of 16 one-connection sessions."""

    def argv(url: str, duration_s: int) -> list[str]:
        script = str(HERE / "seed_loop.py")
        cmd = [sys.executable, script, url, "-c", str(CONNECTIONS), "-d", str(duration_s)]
        return cmd if trust_env else [*cmd, "--no-trust-env"]

    def parse(stdout: str) -> Parsed:
        out = _json(stdout)
        return Parsed(float(out["rate"]), int(out["sent"]), {"errors": out["errors"]})

    return Client(SEED if trust_env else SEED_NO_ENV, argv, parse)


# -- locust --------------------------------------------------------------------------------

LOCUST_USERS = {"HttpUser": "PlainHttpUser", "FastHttpUser": "FastUser"}


def locust(user: str, processes: int) -> Client:
    """locust headless: 16 users, no wait time, spawn rate 16, 1 or N processes."""
    label = f"locust {user}, {processes} proc{'s' if processes > 1 else ''}"

    def argv(url: str, duration_s: int) -> list[str]:
        parts = urlsplit(url)
        cmd = [str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), LOCUST_USERS[user]]
        cmd += ["--headless", "-u", str(CONNECTIONS), "-r", str(CONNECTIONS)]
        cmd += ["--run-time", f"{duration_s}s", "-H", f"{parts.scheme}://{parts.netloc}"]
        cmd += ["--json", "--loglevel", "WARNING"]
        if processes > 1:
            cmd += ["--processes", str(processes)]
        return cmd

    def env(url: str) -> dict[str, str]:
        return {"BENCH_PATH": urlsplit(url).path or "/"}  # read by bench/locustfile.py

    return Client(label, argv, _parse_locust, env)


def _parse_locust(stdout: str) -> Parsed:
    # With --processes every worker prints its own (empty) `[]`; the master's list comes last.
    docs = _json_documents(stdout)
    entries = next((doc for doc in reversed(docs) if doc), None)
    if not entries:
        raise ParseError("no locust stats in --json output")
    requests = sum(int(e["num_requests"]) for e in entries)
    failures = sum(int(e["num_failures"]) for e in entries)
    span_s = max(e["last_request_timestamp"] for e in entries) - min(
        e["start_time"] for e in entries
    )
    if span_s <= 0:
        raise ParseError("locust stats span no time")
    # The same figure locust prints as Aggregated req/s: requests over first start to last reply.
    return Parsed(requests / span_s, requests, {"failures": failures})


# -- hey and wrk ---------------------------------------------------------------------------


def hey() -> Client:
    """hey -z Ds -c 16 (Go; uses every core by default)."""

    def argv(url: str, duration_s: int) -> list[str]:
        return [which("hey") or "hey", "-z", f"{duration_s}s", "-c", str(CONNECTIONS), url]

    def parse(stdout: str) -> Parsed:
        rps = _number(r"Requests/sec:\s+([\d.]+)", stdout)
        responses = sum(int(n) for n in re.findall(r"\[\d{3}\]\s+(\d+) responses", stdout))
        return Parsed(rps, responses)

    return Client("hey", argv, parse)


def wrk() -> Client:
    """wrk -t1 -c16 -dDs (C, one thread: one core, like nginx's one worker)."""

    def argv(url: str, duration_s: int) -> list[str]:
        cmd = [which("wrk") or "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration_s}s", url]
        return cmd

    def parse(stdout: str) -> Parsed:
        rps = _number(r"Requests/sec:\s+([\d.]+)", stdout)
        requests = int(_number(r"(\d+) requests in", stdout))
        return Parsed(rps, requests)

    return Client("wrk", argv, parse)


# -- pinned to one CPU ----------------------------------------------------------------------


def pinned(client: Client, cpu: int = 0) -> Client:
    """The same client under `taskset -c CPU`: all its threads on one core."""

    def argv(url: str, duration_s: int) -> list[str]:
        return ["taskset", "-c", str(cpu), *client.argv(url, duration_s)]

    return Client(f"{client.name}{PINNED}", argv, client.parse, client.env)


def can_pin() -> bool:
    """Returns True when taskset is there and this machine has a second core for the server."""
    return which("taskset") is not None and (os.cpu_count() or 1) >= 2


# -- helpers -------------------------------------------------------------------------------


def _json(stdout: str) -> dict[str, Any]:
    try:
        value = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {stdout[:200]!r}") from exc
    if not isinstance(value, dict):
        raise ParseError(f"not a JSON object: {stdout[:200]!r}")
    return value


def _json_documents(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    docs, pos = [], 0
    text = text.strip()
    while pos < len(text):
        try:
            doc, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ParseError(f"not JSON at {pos}: {text[pos : pos + 200]!r}") from exc
        docs.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return docs


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise ParseError(f"no match for {pattern!r} in {text[-300:]!r}")
    return float(match.group(1))
