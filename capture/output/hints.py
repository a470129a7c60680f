"""How a printed hint spells the capture command, so that it works as printed."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["program"]


def program() -> str:
    """Returns 'capture' when that is this capture on PATH, else the script beside this
    Python, relative to the current directory when under it (`make demo` runs
    .venv/bin/python without activating .venv, so `capture` alone is not found)."""
    script = Path(sys.executable).parent / "capture"
    found = shutil.which("capture")
    if found and Path(found).resolve() == script.resolve():
        return "capture"
    if not script.exists():
        return f"{sys.executable} -m capture"
    try:
        relative = os.path.relpath(script)
    except ValueError:  # on another drive (Windows): the full path works as printed
        return str(script)
    return str(script) if relative.startswith("..") else os.path.join(".", relative)
