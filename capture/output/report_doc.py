"""The report document (docs/report.md): the store's report data shaped into one
JSON-ready object, the same for `capture report --format json` and for the HTML page.
Pure: data in, plain dicts out; every untrusted byte made visible text here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from capture.escape import visible, visible_bytes
from capture.output.exchange import body_lines, header_pairs, wire_text
from capture.output.report_compare import comparisons
from capture.output.verdict_line import verdict
from capture.version import __version__

if TYPE_CHECKING:
    from capture.store.reader import ReadOnly
    from capture.store.report_data import RunData
    from capture.store.rows import ExchangeRow, SocketRow

__all__ = ["FORMAT_VERSION", "build_report", "report_document"]

FORMAT_VERSION = 1
BODY_PREVIEW_BYTES = 4096  # of each example's body and request body
TOP_OUTCOMES = 5  # per URL template
_RUN_KEYS = ("id", "name", "status", "started_at", "finished_at", "command_line", "hostname",
             "capture_version", "hosts")  # fmt: skip


def build_report(source: ReadOnly, runs: Sequence[str], *, db: str) -> dict[str, Any]:
    """Reads the runs (none: the latest) of the store db names and returns their report
    document, generated now; a server URL is named in it without its password."""
    from capture.store.location import is_postgres
    from capture.store.report_data import report_data
    from capture.store.source import without_password

    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    where = without_password(db) if is_postgres(db) else db
    return report_document(report_data(source, runs), database=where, generated_at=now)


def report_document(runs: list[RunData], *, database: str, generated_at: str) -> dict[str, Any]:
    """Returns the whole report: every run, and each later run against the first."""
    shaped = [_run(r) for r in runs]
    return {
        "format": "capture-report",
        "version": FORMAT_VERSION,
        "capture_version": __version__,
        "generated_at": generated_at,
        "database": database,
        "runs": shaped,
        "comparisons": comparisons(shaped),
    }


def _run(data: RunData) -> dict[str, Any]:
    rep = data["summary"]
    run = rep["run"]
    targets = data["config"].get("targets") or []
    duration = rep["duration_s"]
    totals = {
        "requests": rep["requests"],
        "ok": rep["requests"] - rep["failed"],
        "failed": rep["failed"],
        "failed_pct": round(100.0 * rep["failed"] / rep["requests"], 3)
        if rep["requests"]
        else None,
        "aborted": rep["aborted"],
        "failures_stored": run["failures_stored"],
        "failures_dropped": run["failures_dropped"],
        "sockets_used": run["sockets_used"],
        "duration_s": duration,
        "rate": round(rep["requests"] / duration, 3) if duration > 0 else None,
        "qps_asked": run["qps_asked"],
        # 'ramp 100→2000/s' or '3 stages': then qps_asked is the schedule's mean
        "schedule": rep["pacing"]["schedule"] if rep["pacing"] else None,
    }
    out: dict[str, Any] = {
        "run": {k: run[k] for k in _RUN_KEYS},  # type: ignore[literal-required]
        "targets": [
            {"method": t.get("method"), "url": visible(str(t.get("url")), one_line=True)}
            for t in targets[:20]
        ],
        "targets_total": len(targets),
        "load": {
            k: data["config"].get(k) for k in ("qps", "connections", "workers", "procs", "hosts")
        },
        "totals": totals,
        "status_counts": [list(p) for p in rep["status_counts"]],
        "error_counts": [list(p) for p in rep["error_counts"]],
        "latency_ms": {"ok": rep["latency_ok"], "failed": rep["latency_failed"]},
        "pacing": rep["pacing"],
        "client_limit": rep["client_limit"],
        "findings": rep["findings"],  # capture diagnose's (docs/diagnose.md)
        "series": data["series"],
        "distribution": data["distribution"],
        "urls": [_url(u, data) for u in rep["urls"]],
        "failure_groups": [
            {
                **g,
                "signature": _text(g["signature"]),
                "signature_from": _signature_from(g["signature"], examples),
                "path": _text(g["path"]),
                "examples": [_example(x) for x in examples],
            }
            for g, examples in zip(rep["groups"], data["examples"], strict=True)
        ],
        "failure_groups_total": data["groups_total"],
        "connections": {
            **data["connections"],
            "rows": [_connection(r) for r in data["connection_rows"]],
            "total": data["connections_total"],
        },
        "hosts": rep["hosts"],
    }
    out["failure_outcomes"] = _outcomes(data)
    out["verdict"] = verdict(out)
    return out


def _outcomes(data: RunData) -> list[list[Any]]:
    """Every failure outcome of the run, [outcome, n], most first (over all its URLs)."""
    counts: dict[str, int] = {}
    for pairs in data["url_failures"].values():
        for name, n in pairs:
            counts[name] = counts.get(name, 0) + n
    return [[k, n] for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _signature_from(signature: str | None, examples: list[ExchangeRow]) -> str | None:
    """What a group's body signature was made of (store/signature.py): its body, or, for a
    failure without one, its error message; None without a signature or an example."""
    if signature is None or not examples:
        return None
    first = examples[0]
    if first.get("body"):
        return "body"
    return "error" if first.get("error_message") else "body"


def _text(value: str | None) -> str | None:
    return None if value is None else visible(value, one_line=True)


def _url(row: Any, data: RunData) -> dict[str, Any]:
    key = (row["method"], row["template"])
    return {
        **row,
        "template": _text(row["template"]),
        "top_failures": data["url_failures"].get(key, [])[:TOP_OUTCOMES] if row["method"] else [],
    }


def _connection(row: SocketRow) -> dict[str, Any]:
    failed_at = [int(n) for n in (row["failed_at"] or "").split(",") if n]
    return {**row, "failed_at": failed_at, "failed_at_more": row["failures"] - len(failed_at)}


def _example(row: ExchangeRow) -> dict[str, Any]:
    """One failed exchange, every server-sent value as visible text (docs/report.md)."""
    body = bytes(row.get("body") or b"")
    request_body = bytes(row.get("request_body") or b"")
    size = row.get("body_size")
    return {
        "id": row["id"],
        "seq": row["seq"],
        "method": row["method"],
        "url": visible(row["url"], one_line=True),
        "status": row["status"],
        "reason": _text(row.get("reason")),
        "http_version": row.get("http_version"),
        "error_kind": row["error_kind"],
        "error_class": row.get("error_class"),
        "error_message": _text(row.get("error_message")),
        "started_at": row["started_at"],
        "offset_ms": row["offset_ms"],
        "correlation_id": row.get("correlation_id"),
        "timings": {
            k: row.get(k) for k in ("latency_ms", "ttfb_ms", "connect_ms", "wait_ms", "lag_ms")
        },
        "socket": {
            k: row.get(k)
            for k in (
                "local_addr",
                "remote_addr",
                "connection_id",
                "connection_no",
                "connection_request_no",
                "session",
                "process",
                "host",
            )
        },
        "request_headers": _pairs(row.get("request_headers"), wire=False),
        "request_body": _preview(request_body, None) if request_body else None,
        "response_headers": None
        if row.get("response_headers") is None
        else _pairs(row.get("response_headers"), wire=True),
        "body": {
            "size": size if size is not None else len(body),
            "stored": len(body),
            "truncated": bool(row.get("body_truncated")),
            "content_type": _text(row.get("content_type")),
            "content_encoding": _text(row.get("content_encoding")),
            "preview": _preview(body, row.get("content_type")),
            "preview_bytes": min(len(body), BODY_PREVIEW_BYTES),
        },
        "neighbours": row.get("neighbours") or [],
    }


def _pairs(raw: str | None, *, wire: bool) -> list[list[str]]:
    return [
        [visible(k, one_line=True), visible(wire_text(v) if wire else v, one_line=True)]
        for k, v in header_pairs(raw)
    ]


def _preview(body: bytes, content_type: str | None) -> str:
    """The body as `capture show` prints it (JSON indented, binary as hex), cut short."""
    part = body[:BODY_PREVIEW_BYTES]
    text = "\n".join(body_lines(part, content_type))
    if len(body) > BODY_PREVIEW_BYTES:
        text += f"\n… ({len(body) - BODY_PREVIEW_BYTES} more bytes stored: capture show)"
    return text if text else visible_bytes(part)
