"""`capture diagnose` and the summary's diagnosis: findings as lines of text. Pure."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from typing import Any

from capture.escape import visible

__all__ = [
    "DEFAULT_PREFIX",
    "Prefix",
    "brief_lines",
    "command_text",
    "diagnosis_json",
    "diagnosis_lines",
]

_NAMES = {
    "client_limit": "the client's own limit",
    "position": "connection position",
    "idle_gap": "idle connections",
    "rate_threshold": "rate threshold",
    "backend": "one backend",
    "remote": "one server address",
    "target": "one URL",
    "latency_before_failure": "latency before failure",
    "big_body": "big bodies",
    "slow_body": "slow bodies",
    "bursts": "bursts in time",
    "transport": "transport errors",
    "group": "the rest",
}


Prefix = tuple[str, str]  # the program, and " --db FILE" (quoted) or ""
DEFAULT_PREFIX: Prefix = ("capture", "")


def command_text(finding: dict[str, Any], prefix: Prefix) -> str:
    """Returns the shell command that lists a finding's rows."""
    program, where = prefix
    words = finding["command"]
    return f"{program} {words[0]}{where} " + " ".join(shlex.quote(str(w)) for w in words[1:])


def _sure(finding: dict[str, Any], failed: int) -> str:
    """Returns how sure: '73 % of the failures, 146 of 200; 2,000 rows'."""
    if finding["detector"] == "client_limit":
        return f"{finding['rows']:,} requests"
    share = 100 * finding["share"]
    of = f"{finding['failures']:,} of {failed:,}"
    return f"{share:.0f} % of the failures, {of}; {finding['rows']:,} rows"


def _table(evidence: dict[str, Any]) -> Iterator[str]:
    """Yields an evidence table as aligned text, four spaces in."""
    columns: Sequence[str] = evidence.get("columns") or []
    if not columns:
        return
    rows = [[visible(str(c), one_line=True) for c in row] for row in evidence["rows"]]
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    for row in [[str(c) for c in columns], *rows]:
        yield ("    " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True))).rstrip()


def diagnosis_lines(
    findings: list[dict[str, Any]], failed: int, *, prefix: Prefix = DEFAULT_PREFIX
) -> Iterator[str]:
    """Yields `capture diagnose`: each finding with its evidence, examples and command."""
    if not findings:
        yield "nothing stands out: no finding (docs/diagnose.md lists what is looked for)"
        return
    for i, f in enumerate(findings, 1):
        name = _NAMES.get(f["detector"], f["detector"])
        yield f"{i}. {name} ({_sure(f, failed)})"
        yield f"   {visible(f['sentence'], one_line=True)}"
        yield from _table(f["evidence"])
        if f["examples"]:
            ids = ", ".join(str(x) for x in f["examples"])
            yield f"   examples: {ids} ({prefix[0]} show{prefix[1]} ID)"
        yield f"   rows: {command_text(f, prefix)}"
        yield ""


def brief_lines(
    findings: list[dict[str, Any]], failed: int, *, prefix: Prefix = DEFAULT_PREFIX
) -> Iterator[str]:
    """Yields the summary's diagnosis: one line a finding and its command (capture
    diagnose gives the evidence); nothing when there is no finding."""
    if not findings:
        return
    yield ""
    yield "diagnosis (capture diagnose for the evidence):"
    for i, f in enumerate(findings, 1):
        yield f"  {i}. {visible(f['sentence'], one_line=True)}"
        yield f"     ({_sure(f, failed)}) {command_text(f, prefix)}"


def diagnosis_json(run_id: int, requests: int, failed: int, findings: list[dict[str, Any]]) -> str:
    """Returns `capture diagnose --format json`: the run and its findings."""
    data = {"run_id": run_id, "requests": requests, "failed": failed, "findings": findings}
    return json.dumps(data, indent=2)
