"""Issue 11's export benchmark: peak memory and throughput of `capture export` (har,
jsonl, csv) on a file with 35,000 and with 350,000 stored failures. Streaming means the
peak RSS of the two is the same within +-10 %; the goal for jsonl is >= 20,000 failures/s.

    .venv/bin/python bench/export.py [--failures 35000 --failures 350000] [--section FILE]

Each file is built through capture's own migrations and filled with synthetic failed
requests (statuses and bodies as bench/bigdb.py makes them, a few response headers), by
sqlite3 executemany: sending 350 k real requests would measure the target. Each export
runs in a fresh child process writing to a file; its peak RSS is the VmHWM the child
reads from /proc/self/status as it ends (the kernel's high-water mark of its resident
set), its time the wall time from start to exit, process start-up included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from capture.store import database as store
from capture.store.signature import signature

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bigdb import STATUSES, _flush
from section import write_section

FORMATS = ("har", "jsonl", "csv")
_HEADERS = json.dumps(
    [
        ["Content-Type", "application/json"],
        ["Server", "bench"],
        ["Date", "Wed, 25 Nov 2026 00:00:00 GMT"],
        ["Content-Length", "60"],
    ]
)
_REQUEST_HEADERS = json.dumps([["User-Agent", "capture/bench"], ["Accept", "*/*"]])


def build(path: Path, failures: int, seed: int = 11) -> None:
    """Creates a capture file with one run of `failures` requests, every one failed."""
    store.open_for_write(str(path)).dispose()  # schema through the real migrations
    rnd = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(
        "INSERT INTO runs (id, name, started_at, finished_at, status, capture_version,"
        " duration_s, requests_total) VALUES (1, 'export', '2026-11-25T00:00:00.000000Z',"
        " '2026-11-25T00:10:00.000000Z', 'completed', 'bench', 600.0, ?)",
        (failures,),
    )
    requests: list[tuple] = []  # type: ignore[type-arg]
    stored: list[tuple] = []  # type: ignore[type-arg]
    for i in range(1, failures + 1):
        status = rnd.choice(STATUSES)
        session = i % 16
        requests.append(
            (i, 1, i, session, session, "GET", f"http://127.0.0.1:8080/api/items/{i % 500}",
             f"2026-11-25T00:{(i // 1000) % 60:02d}:00.000000Z", i * 1.0, 0.0,
             rnd.uniform(0.5, 20.0), status, None, 1, 240, f"127.0.0.1:{40000 + session}",
             "127.0.0.1:8080", 1, i // 16, f"1-{i}")
        )  # fmt: skip
        body = json.dumps({"error": f"upstream {status} for item {i % 500}", "id": i}).encode()
        stored.append(
            (i, 1, "Error", "HTTP/1.1", _REQUEST_HEADERS, _HEADERS, body, len(body), 0,
             "application/json", signature(body))
        )  # fmt: skip
        if len(requests) >= 50_000:
            _flush(conn, requests, stored)
    _flush(conn, requests, stored)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@dataclass(frozen=True)
class Export:
    """One export's figures."""

    failures: int
    fmt: str
    peak_rss_mib: float
    seconds: float
    cpu_seconds: float  # user + system time of the child: what a shared machine cannot blur
    out_mib: float

    @property
    def rate(self) -> float:
        """Failures written per second, start-up included."""
        return self.failures / self.seconds


# The child runs the CLI, then writes its own VmHWM to stderr: the high-water mark of its
# resident set since exec. Not ru_maxrss from wait4: Linux carries that across fork and
# exec, so it would report this (bigger) parent's peak.
_CHILD = (
    "import sys\n"
    "from capture.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "with open('/proc/self/status') as status:\n"
    "    sys.stderr.write(next(x for x in status if x.startswith('VmHWM:')))\n"
    "sys.exit(code)\n"
)


def export(db: Path, fmt: str, out: Path, failures: int) -> Export:
    """Runs `capture export -r 1 -f FMT -o OUT` in a child; returns its peak RSS and time."""
    args = ["export", "-r", "1", "-f", fmt, "-o", str(out), "--db", str(db)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    written, _, hwm = done.stderr.partition("\n")
    if done.returncode != 0 or written != f"{failures:,} failures written to {out}":
        raise SystemExit(f"export {fmt} failed ({done.returncode}): {done.stderr}")
    size = out.stat().st_size / 2**20
    out.unlink()
    peak_kib = int(hwm.split()[1])  # "VmHWM:   40424 kB"
    return Export(failures, fmt, peak_kib / 1024, seconds, cpu, size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, action="append")
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    opts = parser.parse_args()
    sizes = opts.failures or [35_000, 350_000]
    results: list[Export] = []
    with tempfile.TemporaryDirectory() as tmp:
        for failures in sizes:
            db = Path(tmp) / f"f{failures}.db"
            start = time.perf_counter()
            build(db, failures)
            print(
                f"built {failures:,} failures ({db.stat().st_size / 2**20:.0f} MiB)"
                f" in {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
            for fmt in FORMATS:
                r = export(db, fmt, Path(tmp) / f"out.{fmt}", failures)
                results.append(r)
                print(
                    f"{failures:>8,} {fmt:<5} peak RSS {r.peak_rss_mib:6.1f} MiB"
                    f"  {r.seconds:6.2f} s ({r.cpu_seconds:6.2f} CPU s)  {r.rate:9,.0f} failures/s"
                    f"  {r.out_mib:.0f} MiB out"
                )
            db.unlink()
    if opts.section:
        write_section(opts.section, "export", _markdown(sizes, results))
    return 0


def _markdown(sizes: list[int], results: list[Export]) -> str:
    lines = [
        "## Exporting failures (issue 11)",
        "",
        "`capture export -r 1 -f FORMAT -o FILE` on a file holding only failed requests",
        f"({', '.join(f'{n:,}' for n in sizes)} failures, bodies of ~60 bytes, four response",
        "headers), built by `.venv/bin/python bench/export.py --section bench/RESULTS.md`.",
        "Peak RSS is the export process's own high-water mark (VmHWM, read as it ends); time",
        "is wall time and the child's CPU time (user + system), process start-up included;",
        f"the machine's load average was {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        "at the end (other jobs share it). Goals: the peak RSS of the two sizes",
        "within +-10 % of each other (rows are streamed, not held), >= 20,000 failures/s",
        "to jsonl.",
        "",
        "| failures | format | peak RSS MiB | wall s | CPU s | failures/s (wall) |"
        " failures/CPU s | output MiB |",
        "|--:|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        lines.append(
            f"| {r.failures:,} | {r.fmt} | {r.peak_rss_mib:.1f} | {r.seconds:.2f}"
            f" | {r.cpu_seconds:.2f} | {r.rate:,.0f} | {r.failures / r.cpu_seconds:,.0f}"
            f" | {r.out_mib:.0f} |"
        )
    if len(sizes) >= 2:
        lines += ["", f"{sizes[-1]:,} against {sizes[0]:,} failures:", ""]
        for fmt in FORMATS:
            small, big = (
                next(r for r in results if r.failures == n and r.fmt == fmt)
                for n in (sizes[0], sizes[-1])
            )
            grown = 100 * (big.peak_rss_mib / small.peak_rss_mib - 1)
            # The difference of the two sizes: what each further failure costs, start-up out.
            more = big.failures - small.failures
            wall = more / (big.seconds - small.seconds)
            cpu = more / (big.cpu_seconds - small.cpu_seconds)
            lines.append(
                f"- {fmt}: peak RSS {grown:+.1f} %; between the two sizes (start-up out)"
                f" {wall:,.0f} failures/s of wall time, {cpu:,.0f} per CPU second"
            )
        lines += ["", _verdict(sizes, results)]
    return "\n".join(lines)


def _verdict(sizes: list[int], results: list[Export]) -> str:
    """Returns the line that says whether each goal was met, with the figure it rests on."""
    worst = max(
        abs(100 * (big.peak_rss_mib / small.peak_rss_mib - 1))
        for small, big in (
            (next(r for r in results if r.failures == sizes[0] and r.fmt == fmt),
             next(r for r in results if r.failures == sizes[-1] and r.fmt == fmt))
            for fmt in FORMATS
        )
    )  # fmt: skip
    jsonl = next(r for r in results if r.failures == sizes[-1] and r.fmt == "jsonl").rate
    memory = "met" if worst <= 10 else "missed"
    speed = "met" if jsonl >= 20_000 else "missed"
    return (
        f"Goals: memory {memory} (the largest peak RSS change between the sizes is"
        f" {worst:.1f} %); jsonl throughput {speed} ({jsonl:,.0f} failures/s of wall time"
        f" at {sizes[-1]:,} failures)."
    )


if __name__ == "__main__":
    sys.exit(main())
