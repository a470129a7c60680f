"""Before and after: each later run of a report against the first (docs/report.md:
DELTA). Pure: shaped runs in, deltas out. A change is run minus baseline; for a
percentage, in points. A group not among a run's listed groups is 0 only when the run
lists all its groups; otherwise unknown (None), never a made-up 0."""

from __future__ import annotations

from typing import Any

__all__ = ["caveats", "comparisons"]

_TOTALS = ("requests", "failed", "failed_pct", "rate", "duration_s", "aborted")
_LATENCY = ("p50", "p90", "p99", "p99.9", "max")
_URL_VALUES = ("requests", "failed_pct", "p50", "p95", "p99")


def comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One delta per run after the first, against the first."""
    return [_delta(runs[0], run) for run in runs[1:]]


def _change(a: Any, b: Any) -> list[Any]:
    diff = round(b - a, 6) if isinstance(a, int | float) and isinstance(b, int | float) else None
    return [a, b, diff]


def _delta(base: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    ok_a, ok_b = base["latency_ms"]["ok"] or {}, run["latency_ms"]["ok"] or {}
    return {
        "run": run["run"]["id"],
        "against": base["run"]["id"],
        "totals": {k: _change(base["totals"][k], run["totals"][k]) for k in _TOTALS},
        "latency_ms": {k: _change(ok_a.get(k), ok_b.get(k)) for k in _LATENCY},
        "urls": _urls(base["urls"], run["urls"]),
        "groups": _groups(base, run),
        "caveats": caveats(base, run),
    }


_RATE_GAP = 0.10  # achieved rates further apart than this are said


def _name(run: dict[str, Any]) -> str:
    name = run["run"]["name"]
    return f"run {run['run']['id']}" + (f" '{name}'" if name else "")


def _rate_text(run: dict[str, Any]) -> str:
    rate, asked = run["totals"]["rate"], run["totals"]["qps_asked"]
    shown = "no rate" if rate is None else f"{rate:,.1f}/s"
    if asked is None:
        return f"{shown} unpaced"
    if schedule := run["totals"].get("schedule"):
        return f"{shown} at {schedule} ({asked:g}/s on average)"
    return f"{shown} at --qps {asked:g}"


def caveats(base: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """What makes the two runs' numbers not like for like: a different load, a client at
    its limit, a different pool, different URLs. Empty when they compare."""
    out: list[str] = []
    a, b = base["totals"], run["totals"]
    rates = [x for x in (a["rate"], b["rate"]) if x]
    apart = len(rates) == 2 and abs(rates[0] - rates[1]) > _RATE_GAP * max(rates)
    shaped = a.get("schedule") != b.get("schedule")  # a ramp and a step of one mean differ
    if a["qps_asked"] != b["qps_asked"] or shaped or apart:
        out.append(f"different loads: {_name(base)} {_rate_text(base)}, {_name(run)}"
                   f" {_rate_text(run)}: latency depends on the load")  # fmt: skip
    for r in (base, run):
        if r["client_limit"]["saturated"]:
            out.append(f"{_name(r)}'s client was at its limit: its latency and rate may be"
                       " the client's, not the service's")  # fmt: skip
    pool = ("connections", "workers", "procs", "hosts")
    la, lb = base.get("load") or {}, run.get("load") or {}
    if any(la.get(k) != lb.get(k) for k in pool):

        def shown(load: dict[str, Any]) -> str:
            return ", ".join(f"{k} {load.get(k)}" for k in pool if load.get(k) is not None)

        out.append(f"different pools: {_name(base)} {shown(la)}; {_name(run)} {shown(lb)}")
    urls_a = {(u["method"], u["template"]) for u in base["urls"] if u["method"]}
    urls_b = {(u["method"], u["template"]) for u in run["urls"] if u["method"]}
    if urls_a != urls_b:
        out.append(f"different URLs: {len(urls_a - urls_b)} only in {_name(base)},"
                   f" {len(urls_b - urls_a)} only in {_name(run)}")  # fmt: skip
    return out


def _url_values(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"requests": row["requests"], "failed_pct": row["failed_pct"], **row["latency_ms"]}


def _urls(base: list[dict[str, Any]], run: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Templates of either run (the 'other URLs' rows left out: they hold different URLs)."""

    def keyed(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["method"], r["template"]): r for r in rows if r["method"] is not None}

    a, b = keyed(base), keyed(run)
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = _url_values(a.get(key)), _url_values(b.get(key))
        change = {k: _change((va or {}).get(k), (vb or {}).get(k))[2] for k in _URL_VALUES}
        out.append({"method": key[0], "template": key[1], "against": va, "run": vb,
                    "change": change})  # fmt: skip
    return out


def _groups(base: dict[str, Any], run: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Failure groups new in the run, gone from it, and in both, with both counts."""

    def keyed(r: dict[str, Any]) -> dict[tuple[Any, ...], int]:
        return {(g["outcome"], g["path"], g["signature"]): g["count"] for g in r["failure_groups"]}

    a, b = keyed(base), keyed(run)
    absent_a = 0 if base["failure_groups_total"] <= len(a) else None
    absent_b = 0 if run["failure_groups_total"] <= len(b) else None
    out: dict[str, list[dict[str, Any]]] = {"new": [], "gone": [], "both": []}
    for key in [*a, *(k for k in b if k not in a)]:
        entry = {"outcome": key[0], "path": key[1], "signature": key[2],
                 "against": a.get(key, absent_a), "run": b.get(key, absent_b)}  # fmt: skip
        if key in a and key in b:
            out["both"].append(entry)
        elif key in b:
            out["new" if absent_a == 0 else "both"].append(entry)
        else:
            out["gone" if absent_b == 0 else "both"].append(entry)
    return out
