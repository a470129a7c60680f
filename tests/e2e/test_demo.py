"""`make demo` as a newcomer sees it: no warning, and hints that work as printed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path


def test_demo_hints_work_as_printed_and_it_warns_of_nothing(tmp_path: Path) -> None:
    # `make demo` runs .venv/bin/python without activating .venv: capture is not on PATH.
    bin_dir = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bin_dir)
    env = {**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1"}
    demo = subprocess.run(
        [sys.executable, "-m", "capture.cli.demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout + demo.stderr
    assert "WARNING" not in out, out
    (more,) = [line for line in demo.stdout.splitlines() if line.startswith("more: ")]
    hints = [h.strip() for h in more.removeprefix("more: ").split(";")]
    assert len(hints) == 2, more
    failures = [line for line in demo.stdout.splitlines() if "failures --db demo.db --run" in line]
    hints.append(failures[0].split(None, 1)[1])  # "  failures  CMD": the run's own hint
    first_id = next(  # the first failure row of the demo's table, for `show ID`
        line.split()[0] for line in demo.stdout.splitlines() if line.strip()[:1].isdigit()
    )
    for hint in hints:
        argv = shlex.split(hint.replace(" ID ", f" {first_id} "))
        ran = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert ran.returncode == 0, (hint, ran.stderr)
        assert ran.stdout, hint
