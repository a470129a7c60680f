"""Detectors 7, 8 and 10: the client's own limit, transport errors by phase and server,
and the rest of the failures by signature, so that none is left unexplained."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from capture.diagnose.model import Failure, Finding, RunEvidence
from capture.diagnose.stats import MIN_ROWS, percent
from capture.verdict.kinds import CONNECT_PHASE

__all__ = ["PHASES", "client_limit", "rest", "transport"]

# Which part of the exchange each transport error kind broke in (docs/schema.md); the
# connect phase is verdict.kinds' own list.
PHASES: dict[str, str] = {
    **dict.fromkeys(CONNECT_PHASE, "connect"),
    **dict.fromkeys(("read_timeout", "remote_closed", "reset", "protocol"), "read"),
    **dict.fromkeys(
        ("body_timeout", "body_reset", "incomplete_body", "bad_chunk", "decode"), "body"
    ),
}
_PHASE_TEXT = {
    "connect": "while connecting to",
    "read": "while waiting for the response from",
    "body": "while reading the body from",
}
MAX_GROUPS = 10


def client_limit(ev: RunEvidence) -> list[Finding]:
    """Fires when the summary's rule (store.saturation, README "Is the client the
    limit?") found the client limited the run; read first, whatever else is found."""
    if not ev.client or not ev.client.get("saturated"):
        return []
    reasons = "; ".join(ev.client.get("reasons") or [])
    rows = [["reason", r] for r in ev.client.get("reasons") or []]
    if ev.client.get("cpu_share") is not None:
        rows.append(["CPU, share of a core per process", f"{ev.client['cpu_share']:.0%}"])
    return [
        Finding(
            "client_limit",
            f"the load generator, not the service, limited this run ({reasons}): its "
            "latencies and rates include capture's own delay",
            frozenset(),
            ev.failed,
            {"columns": ["figure", "value"], "rows": rows},
            (),
            {"reasons": list(ev.client.get("reasons") or [])},
            rows=ev.requests,
            first=True,
            command="summary",
        )
    ]


def _where(f: Failure) -> str:
    """Returns the server socket, or for a request that never connected its URL's host."""
    if f.remote_addr:
        return f.remote_addr
    parts = urlsplit(f.url)
    return parts.netloc or f.url


def transport(ev: RunEvidence) -> list[Finding]:
    """Fires for each (phase, server) with MIN_ROWS transport errors: a grouping, not a
    test: it says where the exchange broke, the other detectors say why."""
    groups: dict[tuple[str, str], list[Failure]] = {}
    for f in ev.failures:
        phase = PHASES.get(f.error_kind or "")
        if phase is not None:
            groups.setdefault((phase, _where(f)), []).append(f)
    out = []
    for (phase, where), found in groups.items():
        if len(found) < MIN_ROWS:
            continue
        kinds: dict[str, int] = {}
        for f in found:
            kinds[f.error_kind or ""] = kinds.get(f.error_kind or "", 0) + 1
        listed = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        where_filter = ("--socket", where) if found[0].remote_addr else ()
        out.append(
            Finding(
                "transport",
                f"{len(found)} transport errors {_PHASE_TEXT[phase]} {where} "
                f"({percent(len(found), ev.failed)} of the failures): {listed}",
                frozenset(f.id for f in found),
                ev.failed,
                {
                    "columns": ["error kind", "failures"],
                    "rows": [[k, n] for k, n in sorted(kinds.items(), key=lambda kv: -kv[1])],
                },
                ("--error", ",".join(sorted(kinds)), *where_filter),
                {"phase": phase, "where": where, "kinds": kinds},
                rows=len(found),
            )
        )
    return out


def rest(ev: RunEvidence, explained: Iterable[frozenset[int]]) -> list[Finding]:
    """The failures no finding explains, grouped by outcome, URL path and body
    signature (as `capture summary` groups them), each with its share; the last groups
    past MAX_GROUPS are counted in one line."""
    seen = frozenset().union(*explained)
    groups: dict[tuple[str, str, str], list[Failure]] = {}
    for f in ev.failures:
        if f.id not in seen:
            key = (f.outcome, f.url.split("?", 1)[0], f.signature or "")
            groups.setdefault(key, []).append(f)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = []
    for (outcome, path, signature), found in ranked[:MAX_GROUPS]:
        first = found[0]
        status_or_kind = (
            ("--status", str(first.status)) if first.error_kind is None and first.status
            else ("--error", first.error_kind or "")
        )  # fmt: skip
        out.append(
            Finding(
                "group",
                f"{outcome} on {path}"
                + (f', body "{signature}"' if signature else "")
                + f": {len(found)} failures ({percent(len(found), ev.failed)})",
                frozenset(f.id for f in found),
                ev.failed,
                {"columns": ["outcome", "path", "signature", "failures"],
                 "rows": [[outcome, path, signature, len(found)]]},
                (*status_or_kind, "--url", path + "*"),
                {"outcome": outcome, "path": path, "signature": signature},
                rows=len(found),
            )
        )  # fmt: skip
    left = ranked[MAX_GROUPS:]
    if left:
        ids = frozenset(f.id for _, found in left for f in found)
        out.append(
            Finding(
                "group",
                f"{len(ids)} more failures in {len(left)} other groups "
                f"({percent(len(ids), ev.failed)}): capture summary lists them",
                ids,
                ev.failed,
                {"columns": [], "rows": []},
                (),
                {},
                rows=len(ids),
                command="summary",
            )
        )
    return out
