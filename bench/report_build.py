"""Issue 13's report benchmark: how long `capture report` takes on a 1,000,000-request
capture file, how much memory it needs and how big the page is, next to `capture summary`
on the same file in the same run, and how long headless Chromium takes to draw the page.

    .venv/bin/python bench/report_build.py [--rows 1000000] [--repeat 3] [--keep FILE]
        [--section bench/RESULTS.md] [--json FILE]

The big file is bench/bigdb.py's (capture's own migrations, synthetic rows shaped like a
run), made a paced run (qps_asked and a send lag per row) so every chart is drawn. A
second, small case is a real `capture run` at the built-in target, so the figures are not
only synthetic. Every command runs in a fresh process (start-up included); the figure is
the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))  # tests/browser/chrome.py: the tests' Chromium setup
from bigdb import build  # noqa: E402
from section import write_section  # noqa: E402

from capture.target.server import FaultServer  # noqa: E402

GNU_TIME = Path("/usr/bin/time")
QPS_ASKED = 1000.0  # bigdb's rows are 1000 requests a second
REAL_REQUESTS = 4000
REAL_MIX = [
    "/api/items?mix=500:4,503:3,429:1&delay=0.001",
    "/api/orders?mix=502:2&close_after=50",
    "/api/users/7",
]
BIGDB_HELP_S = 0.121  # `capture --help` median in the bigdb section, a quieter day


@dataclass(slots=True)
class Figure:
    """One command run --repeat times: median, min and max wall seconds, peak RSS."""

    name: str
    command: str
    median_s: float
    min_s: float
    max_s: float
    rss_mib: float  # largest peak RSS over the runs


def make_paced(path: Path, rows: int) -> None:
    """Builds the bigdb file and makes it a paced run: qps_asked and a lag per row."""
    import sqlite3

    build(path, rows)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("UPDATE runs SET qps_asked = ?", (QPS_ASKED,))
    # 0 to 5 ms of send lag, different per row: a plausible paced run on a busy client
    conn.execute("UPDATE requests SET lag_ms = abs(random() % 5000) / 1000.0")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def run_once(args: list[str]) -> tuple[float, float]:
    """Runs `capture ARGS` in a fresh process; returns wall seconds and peak RSS MiB."""
    cmd = [sys.executable, "-m", "capture", *args]
    if GNU_TIME.exists():
        with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
            start = time.perf_counter()
            _run([str(GNU_TIME), "-o", out.name, "-f", "%e %M", *cmd])
            wall = time.perf_counter() - start
            rss_kib = float(out.read().split()[-1])
        return wall, rss_kib / 1024
    # without GNU time: ru_maxrss of the children is the largest child so far, not a delta
    start = time.perf_counter()
    _run(cmd)
    wall = time.perf_counter() - start
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _run(cmd: list[str]) -> None:
    """Runs cmd with its output discarded; on failure shows its stderr and stops."""
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")


def measure(name: str, args: list[str], repeat: int) -> Figure:
    """Runs one command repeat times and prints its figure."""
    samples = [run_once(args) for _ in range(repeat)]
    walls = [w for w, _ in samples]
    fig = Figure(
        name=name,
        command="capture " + " ".join(args),
        median_s=statistics.median(walls),
        min_s=min(walls),
        max_s=max(walls),
        rss_mib=max(r for _, r in samples),
    )
    print(
        f"  {name:<28} median {fig.median_s:7.2f} s  min {fig.min_s:7.2f}  "
        f"max {fig.max_s:7.2f}  peak RSS {fig.rss_mib:6.0f} MiB  (n={repeat})",
        flush=True,
    )
    return fig


def sizes(path: Path) -> dict[str, int]:
    """Returns the file's size and its gzip -6 size, in bytes."""
    data = path.read_bytes()
    return {"bytes": len(data), "gzip_bytes": len(gzip.compress(data, compresslevel=6))}


def browser_load(page: Path, repeat: int) -> dict[str, Any]:
    """Times headless Chromium opening page until body[data-ready="1"]; SEVERE entries."""
    from tests.browser.chrome import load, missing, start_chrome

    reason = missing()
    if reason:
        return {"skipped": reason}
    driver = start_chrome()
    try:
        times, severe = [], []
        for _ in range(repeat):
            driver.get("about:blank")  # a fresh navigation each time, not a no-op reload
            start = time.perf_counter()
            severe = load(driver, page, timeout_s=120.0)
            times.append(time.perf_counter() - start)
    finally:
        driver.quit()
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "severe": len(severe),
        "severe_entries": [str(e.get("message", ""))[:200] for e in severe],
    }


def bench_file(db: Path, out: Path, repeat: int) -> dict[str, Any]:
    """Measures report (HTML, JSON) and its peer summary (text, JSON) on one file."""
    html, js = out / "report.html", out / "report.json"
    figures = [
        measure("capture report (html)", ["report", "--db", str(db), "-o", str(html)], repeat),
        measure(
            "capture report --format json",
            ["report", "--db", str(db), "--format", "json", "-o", str(js)],
            repeat,
        ),
        measure("capture summary", ["summary", "--db", str(db)], repeat),
        measure(
            "capture summary --format json",
            ["summary", "--db", str(db), "--format", "json"],
            repeat,
        ),
    ]
    by = {f.name: f for f in figures}
    ratios = {
        "report html / summary": by["capture report (html)"].median_s
        / by["capture summary"].median_s,
        "report json / summary json": by["capture report --format json"].median_s
        / by["capture summary --format json"].median_s,
    }
    for name, value in ratios.items():
        print(f"  ratio {name:<28} {value:5.2f}x")
    result = {
        "db_bytes": db.stat().st_size,
        "figures": [asdict(f) for f in figures],
        "ratios": ratios,
        "html": sizes(html),
        "json": sizes(js),
        "browser": browser_load(html, repeat),
    }
    for kind in ("html", "json"):
        s = result[kind]
        print(
            f"  {kind} size {s['bytes'] / 2**20:6.2f} MiB, gzip {s['gzip_bytes'] / 2**20:6.2f} MiB"
        )
    b = result["browser"]
    if "skipped" in b:
        print(f"  chromium: skipped ({b['skipped']})")
    else:
        print(
            f"  chromium load to data-ready: median {b['median_s']:.2f} s "
            f"(min {b['min_s']:.2f}, max {b['max_s']:.2f}); SEVERE console entries: {b['severe']}"
        )
    return result


def profile(db: Path, out: Path, top: int = 10) -> list[dict[str, Any]]:
    """Runs one `capture report` under cProfile; returns capture's top functions by cumtime."""
    prof = out / "report.prof"
    cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "capture", "report"]
    _run([*cmd, "--db", str(db), "-o", str(out / "profiled.html")])
    return profile_top(prof, top)


def profile_top(prof: Path, top: int = 10) -> list[dict[str, Any]]:
    """Returns the top functions of capture/store and capture/output by cumulative time."""
    import pstats

    stats: Any = pstats.Stats(str(prof)).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = max(ct for (_, _, _, ct, _) in stats.values())
    rows = [
        {"function": f"{Path(f).parent.name}/{Path(f).name}:{name}", "cum_s": ct, "self_s": tt}
        for (f, _, name), (_, _, tt, ct, _) in stats.items()
        if ("/capture/store/" in f or "/capture/output/" in f) and not name.startswith("<")
    ]
    rows.sort(key=lambda r: -r["cum_s"])
    return [{**r, "total_s": total} for r in rows[:top]]


def real_run(db: Path, requests: int) -> dict[str, Any]:
    """Sends requests at the built-in target (a mix of statuses) into a new file."""
    with FaultServer("127.0.0.1", 0) as server:
        urls = [server.url + p for p in REAL_MIX]
        args = ["run", *urls, "-n", str(requests), "-c", "8", "-d", "120s", "--qps", "1000"]
        args += ["--db", str(db), "--name", "bench-report", "--quiet"]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "capture", *args], check=True)
        wall = time.perf_counter() - start
    import sqlite3

    conn = sqlite3.connect(db)
    total, failed = conn.execute("SELECT requests_total, failed_total FROM runs").fetchone()
    conn.close()
    print(f"  real run: {total} requests, {failed} failed, in {wall:.1f} s", flush=True)
    return {"requests": total, "failed": failed, "run_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--keep", type=Path, help="build (or reuse) this file instead of a temp one"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    parser.add_argument(
        "--profile", action="store_true", help="also profile one report build of the big file"
    )
    opts = parser.parse_args()
    load_start = os.getloadavg()
    results: dict[str, Any] = {
        "command": shlex.join([".venv/bin/python", "bench/report_build.py", *sys.argv[1:]]),
        "rows": opts.rows,
        "repeat": opts.repeat,
        "load_start": load_start,
    }
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        work = Path(tmp)
        big = opts.keep or work / "big.db"
        if big.exists():
            print(f"reusing {big} ({big.stat().st_size / 2**20:.0f} MiB)", flush=True)
            results["build_s"] = None
        else:
            big.parent.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            make_paced(big, opts.rows)
            results["build_s"] = time.perf_counter() - start
            print(f"built {big} in {results['build_s']:.0f} s", flush=True)
        print("start-up alone, the machine's speed today:", flush=True)
        results["startup_n"] = max(opts.repeat, 5)
        results["startup"] = asdict(measure("capture --help", ["--help"], results["startup_n"]))
        print(f"big file, {opts.rows:,} requests:", flush=True)
        (work / "big").mkdir()
        results["big"] = bench_file(big, work / "big", opts.repeat)
        if opts.profile:
            results["profile"] = profile(big, work / "big")
            for r in results["profile"]:
                print(f"  {r['cum_s']:7.2f} s cum  {r['self_s']:6.2f} s self  {r['function']}")
        print(f"real run at the built-in target, -n {REAL_REQUESTS}:", flush=True)
        (work / "real").mkdir()
        real_db = work / "real" / "real.db"
        results["real_run"] = real_run(real_db, REAL_REQUESTS)
        results["real"] = bench_file(real_db, work / "real", opts.repeat)
    results["load_end"] = os.getloadavg()
    print(f"load average: start {_load(load_start)}, end {_load(results['load_end'])}")
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))
    if opts.section:
        write_section(opts.section, "report", _markdown(results))
    return 0


def _load(avg: tuple[float, ...]) -> str:
    return " / ".join(f"{x:.2f}" for x in avg)


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f}"


def _case_lines(title: str, r: dict[str, Any]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| command | median s | min s | max s | peak RSS MiB |",
        "|---|--:|--:|--:|--:|",
    ]
    for f in r["figures"]:
        lines.append(
            f"| `{f['name']}` | {f['median_s']:.2f} | {f['min_s']:.2f} | {f['max_s']:.2f} "
            f"| {f['rss_mib']:.0f} |"
        )
    lines += [""]
    for name, value in r["ratios"].items():
        lines.append(f"- {name} (medians): **{value:.2f}x**")
    lines.append(
        f"- sizes: database {_mib(r['db_bytes'])} MiB; HTML {_mib(r['html']['bytes'])} MiB "
        f"(gzip {_mib(r['html']['gzip_bytes'])} MiB); JSON {_mib(r['json']['bytes'])} MiB "
        f"(gzip {_mib(r['json']['gzip_bytes'])} MiB)"
    )
    b = r["browser"]
    if "skipped" in b:
        lines.append(f"- headless Chromium: not measured ({b['skipped']})")
    else:
        lines.append(
            f'- headless Chromium, `file://` open to `body[data-ready="1"]`: median '
            f"{b['median_s']:.2f} s (min {b['min_s']:.2f}, max {b['max_s']:.2f}); "
            f"SEVERE console entries: {b['severe']}"
        )
    return [*lines, ""]


def _markdown(res: dict[str, Any]) -> str:
    built = (
        f"built in {res['build_s']:.0f} s" if res["build_s"] is not None else "reused from --keep"
    )
    rr = res["real_run"]
    lines = [
        "## Building a report (issue 13)",
        "",
        f"    {res['command']}",
        "",
        f"(repeat {res['repeat']}). Target: a 1 M-request run gives a file of at most a few MB",
        "and builds in ≤ 10 s with bounded memory.",
        "",
        "Machine: 2 cores, shared with other engineers' work and slow of late; load average",
        f"(1/5/15 min) {_load(res['load_start'])} at the start, {_load(res['load_end'])} at",
        "the end. Wall times include process start-up and are medians of fresh processes;",
        "peak RSS is the largest over the runs (GNU time `%M`). The peer is `capture summary`",
        "on the same file in the same run: it reads the same rows.",
        "",
        f"Start-up alone in the same run (`capture --help`, n={res['startup_n']}): median"
        f" {res['startup']['median_s']:.2f} s, against {BIGDB_HELP_S} s in the bigdb section"
        f" above: this machine ran {res['startup']['median_s'] / BIGDB_HELP_S:.1f}x slower"
        " than when that was measured.",
        "",
        *_case_lines(
            f"{res['rows']:,} requests (bench/bigdb.py's rows, paced: `qps_asked` 1000 and a"
            f" 0-5 ms `lag_ms` per row; {built})",
            res["big"],
        ),
        *_case_lines(
            f"A real run: `capture run` of {rr['requests']:,} requests ({rr['failed']:,} failed)"
            " at the built-in target, a mix of 5xx, 429 and keep-alive closes",
            res["real"],
        ),
        *_verdict_lines(res),
        *_profile_lines(res.get("profile"), res.get("profile_note", "in this run (--profile)")),
    ]
    return "\n".join(lines)


def _verdict_lines(res: dict[str, Any]) -> list[str]:
    big = {f["name"]: f for f in res["big"]["figures"]}
    real = {f["name"]: f for f in res["real"]["figures"]}
    html, build = res["big"]["html"]["bytes"], big["capture report (html)"]
    return [
        "### Against the target",
        "",
        f"- size: {_mib(html)} MiB of HTML for {res['rows']:,} requests: met (a few MB).",
        f"- build time: median {build['median_s']:.1f} s: "
        + ("met" if build["median_s"] <= 10 else "**not met**")
        + f" (≤ 10 s), on a machine {res['startup']['median_s'] / BIGDB_HELP_S:.1f}x slower"
        " at start-up than on the bigdb day.",
        f"- memory: peak RSS {build['rss_mib']:.0f} MiB at {res['rows']:,} requests,"
        f" {real['capture report (html)']['rss_mib']:.0f} MiB at"
        f" {res['real_run']['requests']:,}; `capture summary` of the same file"
        f" {big['capture summary']['rss_mib']:.0f} MiB.",
        "",
    ]


def _profile_lines(rows: list[dict[str, Any]] | None, note: str) -> list[str]:
    if not rows:
        return []
    lines = [
        "### Where the build goes",
        "",
        f"One more `capture report` of the big file under `python -m cProfile`, {note}:",
        f"{rows[0]['total_s']:.1f} s under the profiler; capture's functions by cumulative time.",
        "",
        "| function | cumulative s | own s |",
        "|---|--:|--:|",
    ]
    for r in rows:
        lines.append(f"| `{r['function']}` | {r['cum_s']:.1f} | {r['self_s']:.1f} |")
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
