"""The `capture summary` view of a stored run: store.report's dict in, lines out. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from capture.escape import visible
from capture.output.cells import short_url
from capture.output.diagnose import DEFAULT_PREFIX, Prefix, brief_lines
from capture.output.units import NONE, ms, percent, rate, seconds
from capture.store.host_sql import hosts_cell
from capture.store.saturation import LAG_LIMIT_MS

if TYPE_CHECKING:
    from capture.store.rows import ClientLimit, Pacing, PerSecond, Report, UrlRow

__all__ = ["report_json", "report_lines", "sparkline"]

_CHART_WIDTH = 60
_ORIGIN = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")
_CLASS_NAMES = {"error": "no resp."}  # transport errors: no status arrived

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 60) -> str:
    """Returns values as a one-line bar chart, summed into at most width buckets."""
    if not values:
        return ""
    size = max(1, -(-len(values) // width))
    buckets = [sum(values[i : i + size]) for i in range(0, len(values), size)]
    top = max(buckets)
    if top == 0:
        return " " * len(buckets)
    return "".join(" " if v == 0 else _BARS[min(7, (v * 8 - 1) // top)] for v in buckets)


def _percentiles(values: dict[str, float]) -> str:
    return "  ".join(f"{k} {ms(v)}" for k, v in values.items()) or NONE


def report_lines(
    rep: Report, *, show: str = "capture show", prefix: Prefix = DEFAULT_PREFIX
) -> Iterator[str]:
    """Yields the summary of one run; prefix starts the commands it prints."""
    run, total, failed = rep["run"], rep["requests"], rep["failed"]
    name = f" {visible(run['name'], one_line=True)!r}" if run["name"] else ""
    duration = run["duration_s"]
    yield f"run {run['id']}{name}: {run['status']}, started {run['started_at']}" + (
        f", {seconds(duration)}" if duration else ""
    )
    yield f"  requests {total}, failed {failed} ({percent(failed, total)})" + (
        f"; {rep['aborted']} abandoned in flight (sent, outcome unknown, no row)"
        if rep["aborted"]
        else ""
    )
    yield from _host_lines(rep.get("hosts"))
    yield from brief_lines(rep.get("findings", []), failed, prefix=prefix)
    yield ""
    yield "status codes:"
    for status, n in rep["status_counts"]:
        yield f"  {'(no response)' if status is None else status:<14} {n:>9}  {percent(n, total)}"
    if rep["error_counts"]:
        yield "error kinds:"
        for kind, n in rep["error_counts"]:
            yield f"  {kind:<20} {n:>9}  {percent(n, total)}"
    yield ""
    yield f"latency ok:      {_percentiles(rep['latency_ok'])}"
    yield f"latency failed:  {_percentiles(rep['latency_failed'])}"
    yield from _pacing_lines(rep.get("pacing"))
    yield from _client_lines(rep.get("client_limit"))
    yield from _url_lines(rep.get("urls", []))
    yield from _timeline_lines(rep.get("per_second"))
    if failed:
        counted: tuple[tuple[str, Sequence[tuple[str | None, int]], bool, str], ...] = (
            ("top failing URLs", rep["top_urls"], True, "urls"),
            ("failures by remote address", rep["by_remote"], False, "remotes"),
            ("failures by connection", rep["by_socket"], False, "connections"),
        )
        distinct = rep.get("distinct", {})
        for title, values, short, key in counted:
            total = distinct.get(key, len(values))
            # the busiest ten: say so when there are more, so none look like all of them
            of = f" (the {len(values)} busiest of {total:,})" if total > len(values) else ""
            yield ""
            yield f"{title}{of}:"
            for value, n in values:
                shown = short_url(value, 60) if short and value else value or "(no connection)"
                yield f"  {n:>9}  {visible(str(shown), one_line=True)}"
        yield ""
        yield "failure groups (outcome, path, body signature):"
        for g in rep["groups"]:
            signature = visible(g["signature"] or "", one_line=True)
            path = visible(short_url(g["path"], 50), one_line=True)
            yield (
                f"  {g['count']:>7}  {g['outcome']:<18} {path}"
                f"  first {seconds(g['first_ms'] / 1000, 2)} last {seconds(g['last_ms'] / 1000, 2)}"
                f"  e.g. {show} {g['example_id']}"
            )
            if signature:
                yield f"           {signature[:100]}"


def _host_lines(slots: list[dict[str, Any]] | None) -> Iterator[str]:
    """Yields a --hosts (or merged) run's slots: who sent what, and which were lost."""
    if not slots:
        return
    yield f"  hosts {hosts_cell(slots)}:"
    for s in slots:
        host = visible(str(s["hostname"] or "?"), one_line=True)
        line = f"    slot {s['slot']} {host}: {s['state']}"
        if s["requests"] is not None:
            line += f", {s['requests']:,} requests, {s['failures'] or 0:,} failed"
        if s["error"]:
            line += f" ({visible(str(s['error']), one_line=True)})"
        yield line


def _url_lines(urls: list[UrlRow]) -> Iterator[str]:
    """The per-URL table: one row per method and URL template, the others summed last."""
    if not urls:
        return
    yield ""
    yield (
        f"  {'requests':>9} {'failed':>7} {'rate':>10} {'p50':>9} {'p95':>9} {'p99':>9}"
        "  per URL (method, template)"
    )
    for u in urls:
        lat = u["latency_ms"]
        if u["template"] is None:
            what = f"({u['templates']} other URLs)"
        else:
            what = f"{u['method']} {visible(_short_template(u['template']), one_line=True)}"
        yield (
            f"  {u['requests']:>9} {percent(u['failed'], u['requests']):>7}"
            f" {rate(u['rate']):>10} {ms(lat.get('p50')):>9} {ms(lat.get('p95')):>9}"
            f" {ms(lat.get('p99')):>9}  {what}"
        )


def _short_template(template: str, width: int = 60) -> str:
    """Returns a template's path and query, cut in the middle to width characters.

    Not cells.short_url: a template's '#' masks a number, and urlsplit would take the
    rest for a fragment."""
    text = _ORIGIN.sub("", template, count=1) or "/"
    if len(text) <= width:
        return text
    keep = (width - 1) // 2
    return f"{text[:keep]}…{text[-(width - 1 - keep) :]}"


def _timeline_lines(per_second: PerSecond | None) -> Iterator[str]:
    """A row per status class that occurred: its sparkline and its busiest second."""
    if not per_second or not per_second["seconds"]:
        return
    total = per_second["seconds"]
    size = max(1, -(-total // _CHART_WIDTH))
    bar = "1 s" if size == 1 else f"{size} s"
    yield ""
    yield f"status over time, requests per second by class (a bar: {bar}):"
    for cls, series in per_second["counts"].items():
        if any(series):
            name = _CLASS_NAMES.get(cls, cls)
            chart = sparkline(series, _CHART_WIDTH)
            yield f"  {name:<8} {chart:<{_CHART_WIDTH}}  max {max(series)}/s"
    width = -(-total // size)
    end = f"{total} s"
    yield f"  {'':<8} 0 s{end:>{max(len(end) + 1, width - 3)}}"


def _pacing_lines(pacing: Pacing | None) -> Iterator[str]:
    """A --qps run's asked and achieved rate and its send lag."""
    if pacing is None:
        return
    asked, achieved, lag = pacing["qps_asked"], pacing["achieved"], pacing["lag_ms"]
    share = f" ({percent(achieved, asked)})" if achieved is not None else ""
    by = f" on average by {pacing['schedule']}" if pacing.get("schedule") else ""
    yield f"pacing:          asked {rate(asked)}{by}, achieved {rate(achieved)}{share}"
    yield f"send lag:        {_percentiles(lag)}"
    if pacing.get("pool_bound") and lag.get("p99", 0.0) > LAG_LIMIT_MS:
        # the same words as the end-of-run warning: the pool, not the client, was short
        yield (
            f"WARNING:         the pool did not keep up (send lag p99 {ms(lag['p99'])}): "
            "add connections (-c), workers (-w) or processes (--procs)"
        )


def _client_lines(limit: ClientLimit | None) -> Iterator[str]:
    """The client's own CPU use, and the warning when the client limited the run."""
    if limit is None:
        return
    if limit["cpu_share"] is not None and limit["cpu_s"] is not None:
        each = f" per process, {limit['procs']} processes" if limit["procs"] > 1 else ""
        share = f"{limit['cpu_share']:.0%} of a core{each}"
        yield f"client CPU:      {seconds(limit['cpu_s'], 2)}, {share}"
    if limit["advice"]:
        yield f"WARNING:         {limit['advice']}"


def report_json(rep: Report) -> str:
    """Returns every section of the summary as one JSON object (README: its keys)."""
    data: dict[str, Any] = {
        "run": rep["run"],
        "requests": rep["requests"],
        "failed": rep["failed"],
        "aborted": rep["aborted"],
        "duration_s": rep["duration_s"],
        "status_counts": [{"status": s, "requests": n} for s, n in rep["status_counts"]],
        "error_counts": [{"error_kind": k, "requests": n} for k, n in rep["error_counts"]],
        "latency_ms": {"ok": rep["latency_ok"], "failed": rep["latency_failed"]},
        "urls": rep["urls"],
        "per_second": rep["per_second"],
        "pacing": rep["pacing"],
        "client_limit": rep["client_limit"],
        "hosts": rep.get("hosts"),
        "findings": rep.get("findings", []),
        "failures": {
            "per_second": [{"second": s, "failures": n} for s, n in rep["failures_per_second"]],
            "top_urls": [{"url": u, "failures": n} for u, n in rep["top_urls"]],
            "by_remote": [{"remote_addr": a, "failures": n} for a, n in rep["by_remote"]],
            "by_socket": [{"local_addr": a, "failures": n} for a, n in rep["by_socket"]],
            "groups": rep["groups"],
        },
    }
    return json.dumps(data, indent=2)
