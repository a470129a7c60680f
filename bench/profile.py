"""Where capture's CPU goes per request: py-spy flame graphs of `capture run` against
nginx /ok and /fail, and the functions holding the GIL most, as a section of RESULTS.md.

    .venv/bin/python bench/profile.py [--duration 10] [--section bench/RESULTS.md]

py-spy samples the process from outside (no instrumentation, so the figures are the
run's own) with `--gil`: only the thread holding the GIL is sampled, and since one
process's Python runs one thread at a time, that is where its CPU time goes. The SVGs
are written to bench/profiles/. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from install import ensure_apt_tools
from nginx import Nginx
from section import write_section

HERE = Path(__file__).parent
OUT = HERE / "profiles"
BIN = Path(sys.executable).parent
PYSPY_SPEC = "py-spy>=0.3.14"
RATE = 250  # samples per second
TOP = 15
# Frames that only wrap others; their own share says nothing.
_WRAPPERS = re.compile(r"^(Thread\.|_bootstrap|<module>|run \(threading)")


def ensure_pyspy() -> Path:
    """Installs py-spy into this virtualenv when missing; returns its path."""
    if importlib.util.find_spec("py_spy") is None and not (BIN / "py-spy").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PYSPY_SPEC], check=True)
    return BIN / "py-spy"


def record(pyspy: Path, url: str, name: str, duration_s: int, tmp: Path) -> Path:
    """Profiles one `capture run` of url; returns the collapsed stacks (raw format)."""
    run = [str(BIN / "capture"), "run", url, "-c", "16", "-d", f"{duration_s}s"]
    run += ["--db", str(tmp / f"{name}.db"), "--quiet"]
    spy = [str(pyspy), "record", "--gil", "-r", str(RATE), "--nonblocking"]
    OUT.mkdir(exist_ok=True)
    svg = OUT / f"{name}.svg"
    subprocess.run([*spy, "-o", str(svg), "--", *run], check=True, capture_output=True)
    raw = tmp / f"{name}.txt"
    subprocess.run([*spy, "-f", "raw", "-o", str(raw), "--", *run], check=True, capture_output=True)
    return raw


def shares(raw: Path) -> tuple[int, list[tuple[str, float]], list[tuple[str, float]]]:
    """Returns the samples, and the top frames by inclusive and by own share."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [_short(f) for f in stack.split(";")[1:]]
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    top = [(f, n / total) for f, n in inclusive.most_common() if not _WRAPPERS.match(f)]
    return total, top[:TOP], [(f, n / total) for f, n in own.most_common(TOP)]


def _short(frame: str) -> str:
    """Returns 'function (module/file.py)' without line numbers or install paths."""
    frame = re.sub(r":\d+\)$", ")", frame)
    return re.sub(r"\((?:.*/site-packages/|.*/lib/python3\.\d+/|.*?/(?=capture/))", "(", frame)


def markdown(
    results: dict[str, tuple[int, list[tuple[str, float]], list[tuple[str, float]]]],
    duration_s: int,
) -> str:
    """Returns the RESULTS.md section."""
    lines = [
        "## Where the CPU goes (issue 15)",
        "",
        "`.venv/bin/python bench/profile.py --section bench/RESULTS.md`:",
        f"`py-spy record --gil -r {RATE}` of `capture run URL -c 16 -d {duration_s}s`",
        "against nginx; flame graphs in",
        "`bench/profiles/` (open the SVGs in a browser). Shares are of the samples in which",
        "a thread held the GIL: inclusive (the function and what it calls), then own.",
    ]
    for name, (total, top, own) in results.items():
        lines += ["", f"### {name} ({total:,} samples)", "", "| inclusive | frame |", "|--:|---|"]
        lines += [f"| {share:.1%} | `{frame}` |" for frame, share in top]
        lines += ["", "| own | frame |", "|--:|---|"]
        lines += [f"| {share:.1%} | `{frame}` |" for frame, share in own]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--section", type=Path, help="write the tables into this RESULTS.md")
    opts = parser.parse_args()
    ensure_apt_tools(allow_install=True)
    pyspy = ensure_pyspy()
    results = {}
    with Nginx() as ngx, tempfile.TemporaryDirectory() as tmp:
        for name, path in (("run-ok", "/ok"), ("run-fail", "/fail")):
            raw = record(pyspy, ngx.url(path), name, opts.duration, Path(tmp))
            results[f"`capture run` {path}"] = shares(raw)
            print(f"bench: profiled {path} into {OUT / (name + '.svg')}", file=sys.stderr)
    text = markdown(results, opts.duration)
    print(text)
    if opts.section:
        write_section(opts.section, "profile", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
