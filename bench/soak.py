"""Memory over a long run at full rate with every failure stored (issue 5): peak RSS in
the first and in the last minute of the run must stay within +-10 %.

    .venv/bin/python bench/soak.py [--duration 600] [--json FILE]

Runs `capture run NGINX/fail -c 16 -d DURATION` (a 500 with a 1 KiB body, so every
request stores a failure) and samples the process's resident set every second from
/proc. nginx comes from bench/nginx.py (installed on demand by bench/install.py).
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

from nginx import Nginx
from section import write_section

VENV_CAPTURE = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "capture"


def rss_kib(pid: int) -> int | None:
    """Returns the resident set of pid in KiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def soak(duration_s: int) -> dict[str, object]:
    """Runs capture for duration_s against nginx /fail; returns RSS samples and the summary."""
    with Nginx() as nginx, tempfile.TemporaryDirectory() as tmp:
        cmd = [
            str(VENV_CAPTURE),
            "run",
            nginx.url("/fail"),
            "-c",
            "16",
            "-d",
            f"{duration_s}s",
            "--db",
            str(Path(tmp) / "soak.db"),
            "--json",
            "--quiet",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        samples: list[tuple[float, int]] = []
        start = time.monotonic()
        while proc.poll() is None and time.monotonic() - start < duration_s + 120:
            value = rss_kib(proc.pid)
            if value is not None:
                samples.append((time.monotonic() - start, value))
            time.sleep(1.0)
        out, _ = proc.communicate(timeout=120)
    summary = json.loads(out)
    first = [kib for t, kib in samples if t <= 60]
    last = [kib for t, kib in samples if t >= max(0.0, samples[-1][0] - 60)]
    return {
        "command": " ".join(cmd),
        "duration_s": duration_s,
        "sent": summary["sent"],
        "failed": summary["failed"],
        "stored": summary["stored"],
        "rate": summary["rate"],
        "rss_first_minute_peak_mib": max(first) / 1024,
        "rss_last_minute_peak_mib": max(last) / 1024,
        "change_pct": 100.0 * (max(last) - max(first)) / max(first),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=600, help="seconds (default 600)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--section", type=Path, help="write the figures into this RESULTS.md")
    opts = parser.parse_args()
    result = soak(opts.duration)
    print(json.dumps(result, indent=2))
    if opts.json:
        opts.json.write_text(json.dumps(result, indent=2))
    if opts.section:
        write_section(opts.section, "soak", _markdown(result))
    return 0


def _markdown(r: dict[str, object]) -> str:
    return "\n".join(
        [
            "## Memory over a long run (issue 5)",
            "",
            f"`.venv/bin/python bench/soak.py --duration {r['duration_s']} --section "
            "bench/RESULTS.md`: capture at full rate against nginx `/fail` (every response a",
            "500 with a 1 KiB body, every failure stored), resident set sampled each second.",
            "Target: the peak of the last minute within +-10 % of the peak of the first.",
            "",
            "| duration s | sent | stored | req/s | first-minute peak MiB |"
            " last-minute peak MiB | change |",
            "|--:|--:|--:|--:|--:|--:|--:|",
            f"| {r['duration_s']} | {r['sent']:,} | {r['stored']:,} | {r['rate']:,.0f} |"
            f" {r['rss_first_minute_peak_mib']:.1f} | {r['rss_last_minute_peak_mib']:.1f} |"
            f" {r['change_pct']:+.1f} % |",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
