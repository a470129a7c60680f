"""Peak memory of a run at 100 % failures with big bodies, per --max-queue: the bound the
README promises (peak RSS within a fixed constant plus --max-queue).

    .venv/bin/python bench/memory.py [--duration 30] [--queue 1MiB --queue 64MiB ...]

Starts `capture target --port 0`, runs
`capture run "http://127.0.0.1:PORT/?status=500&size=1000000" -d DURATION --max-body 64KiB
--max-queue Q` for each Q, and reads the child's VmHWM (peak resident set) and peak
anonymous memory (sampled from /proc/PID/smaps_rollup every 20 ms) from /proc.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from section import write_section

VENV_CAPTURE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "capture"
_QUEUES = ("1MiB", "16MiB", "64MiB", "128MiB")


def _field_kib(path: str, name: str) -> int | None:
    """Returns field name (in kB) of a /proc file, or None once the process is gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _start_target() -> tuple[subprocess.Popen[str], str]:
    """Starts the built-in target; returns it and its base URL (printed on stderr)."""
    proc = subprocess.Popen(
        [str(VENV_CAPTURE), "target", "--port", "0"], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    return proc, line.split()[-1]


def measure(url: str, duration: str, queue: str) -> dict[str, object]:
    """Runs capture once against url; returns its peaks (MiB) and its counts."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(VENV_CAPTURE),
            "run",
            f"{url}/?status=500&size=1000000",
            "-d",
            duration,
            "--max-body",
            "64KiB",
            "--max-queue",
            queue,
            "--db",
            str(Path(tmp) / "mem.db"),
            "--json",
            "--quiet",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        hwm = anon = 0
        while proc.poll() is None:
            hwm = max(hwm, _field_kib(f"/proc/{proc.pid}/status", "VmHWM:") or 0)
            anon = max(anon, _field_kib(f"/proc/{proc.pid}/smaps_rollup", "Anonymous:") or 0)
            time.sleep(0.02)
        out, err = proc.communicate()
    summary = json.loads(out)
    return {
        "queue": queue,
        "sent": summary["sent"],
        "failed": summary["failed"],
        "stored": summary["stored"],
        "peak_rss_mib": hwm / 1024,
        "peak_anon_mib": anon / 1024,
        "writer_behind": "writer behind" in err,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="30s", help="-d of each run (default 30s)")
    parser.add_argument("--queue", action="append", help="a --max-queue to try (repeatable)")
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    opts = parser.parse_args()
    target, url = _start_target()
    try:
        results = [measure(url, opts.duration, q) for q in opts.queue or _QUEUES]
    finally:
        target.terminate()
        target.wait(10)
    print(json.dumps(results, indent=2))
    if opts.section:
        write_section(opts.section, "memory", _markdown(opts.duration, results))
    return 0


def _markdown(duration: str, results: list[dict[str, object]]) -> str:
    rows = [
        f"| {r['queue']} | {r['sent']:,} | {r['stored']:,} | {r['peak_rss_mib']:.0f} |"
        f" {r['peak_anon_mib']:.0f} | {'yes' if r['writer_behind'] else 'no'} |"
        for r in results
    ]
    return "\n".join(
        [
            "## Memory",
            "",
            f"`.venv/bin/python bench/memory.py --duration {duration} --section bench/RESULTS.md`:",
            '`capture run "http://127.0.0.1:PORT/?status=500&size=1000000" -d '
            f"{duration} --max-body 64KiB --max-queue Q` against `capture target`",
            "(every response a 500 with a 1 MB body, 64 KiB of it stored); VmHWM of the",
            "capture process, and its peak anonymous memory sampled every 20 ms.",
            "",
            "| --max-queue | sent | stored | peak RSS MiB | peak anon MiB | writer behind |",
            "|---|--:|--:|--:|--:|---|",
            *rows,
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
