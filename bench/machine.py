"""What the bench ran on: the machine and the versions of every tool."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import nginx
from install import which


def machine() -> dict[str, str]:
    """Returns nproc, CPU model, kernel and OS."""
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    os_name = platform.platform()
    debian = Path("/etc/debian_version")
    if debian.exists():
        os_name = f"Debian {debian.read_text().strip()}"
    return {
        "nproc": str(os.cpu_count()),
        "CPU": model,
        "kernel": f"{platform.system()} {platform.release()}",
        "OS": os_name,
    }


def versions() -> dict[str, str]:
    """Returns the version of python, the HTTP libraries, capture and each peer."""
    found = {"python": platform.python_version()}
    for dist in ("requests", "urllib3", "capture", "locust", "gevent", "geventhttpclient"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "absent"
    found["capture source"] = _git_state()
    found["nginx"] = nginx.version()
    for pkg in ("wrk", "hey"):
        found[pkg] = _deb_version(pkg) if which(pkg) else "absent"
    return found


def _git_state() -> str:
    # capture is installed editable: what ran is the work tree, committed or not.
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty=+uncommitted changes"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return "unknown (no git)"
    return f"git {out.stdout.strip()}" if out.returncode == 0 else "unknown (not a git tree)"


def _deb_version(pkg: str) -> str:
    # Neither wrk nor hey has a plain --version; Debian's package version says what ran.
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", pkg],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return "unknown"
    return f"{out.stdout.strip()} (Debian package)" if out.returncode == 0 else "not from apt"
