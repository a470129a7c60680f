"""Install what the bench needs on a fresh machine: nginx, wrk, hey (Debian), locust (PyPI)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

APT_TIMEOUT_S = 600
PIP_TIMEOUT_S = 600
# Debian package -> the executable it provides.
APT_TOOLS = {"nginx": "nginx", "wrk": "wrk", "hey": "hey"}
LOCUST_SPEC = "locust>=2.24"  # --processes and --json stable since 2.24
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def which(tool: str) -> str | None:
    """Returns the path of an executable, also looking in sbin (nginx lives there)."""
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def ensure_apt_tools(*, allow_install: bool) -> dict[str, str]:
    """Install the missing Debian tools. Returns tool -> 'present', 'installed' or why not."""
    status = {tool: "present" for tool, exe in APT_TOOLS.items() if which(exe)}
    missing = [pkg for pkg in APT_TOOLS if pkg not in status]
    if not missing:
        return status
    if not allow_install:
        return status | {pkg: "absent (--no-install)" for pkg in missing}
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return status | {pkg: "absent (needs root and apt-get to install)" for pkg in missing}
    print(f"bench: apt-get install {' '.join(missing)}", file=sys.stderr)
    _run(["apt-get", "update", "-q"], APT_TIMEOUT_S)
    installable = []
    for pkg in missing:
        if _apt_candidate(pkg):
            installable.append(pkg)
        else:
            status[pkg] = "not available from this machine's Debian sources"
    if installable:
        _apt_install(installable)
    for pkg in installable:
        status[pkg] = "installed (apt-get)" if which(APT_TOOLS[pkg]) else "apt-get install failed"
    return status


def _apt_candidate(pkg: str) -> bool:
    out = _run(["apt-cache", "policy", pkg], 60)
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip() not in ("", "(none)")
    return False


def _apt_install(pkgs: list[str]) -> None:
    # Installing nginx would start the distribution's own nginx on port 80 where services
    # may start; a policy-rc.d that answers 101 stops that. Only add one if there is none.
    added_policy = False
    if not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\n# added by capture's bench/install.py\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        added_policy = True
    try:
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *pkgs]
        _run(cmd, APT_TIMEOUT_S, env=env)
    finally:
        if added_policy:
            POLICY_RC_D.unlink(missing_ok=True)


def ensure_locust(*, allow_install: bool) -> str:
    """Install locust into this virtualenv if missing. Returns how it went."""
    if importlib.util.find_spec("locust") is not None:
        return "present"
    if not allow_install:
        return "absent (--no-install)"
    print(f"bench: pip install {LOCUST_SPEC}", file=sys.stderr)
    _run([sys.executable, "-m", "pip", "install", "--quiet", LOCUST_SPEC], PIP_TIMEOUT_S)
    importlib.invalidate_caches()
    if importlib.util.find_spec("locust") is None:
        return "pip install failed"
    return "installed (pip, into the virtualenv)"


def _run(cmd: list[str], timeout_s: float, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"bench: {' '.join(cmd)}: {exc}", file=sys.stderr)
        return ""
    if done.returncode != 0:
        print(f"bench: {' '.join(cmd)} exited {done.returncode}", file=sys.stderr)
        print(done.stderr[-2000:], file=sys.stderr)
    return done.stdout
