"""Datasette metadata for a capture file, built from the column docs in columns.py, so
the descriptions Datasette shows are the ones docs/schema.md gives.

The keys are Datasette's (https://docs.datasette.io/en/stable/metadata.html): databases
-> tables -> description, columns {name: description}, label_column.
"""

from __future__ import annotations

from typing import Any

from capture.store.columns import FAILURES, REQUESTS, TABLES, TableSpec

__all__ = ["LABEL_COLUMNS", "VIEWS", "datasette_metadata"]

# The column Datasette shows for a row that another row points at: a request's run
# reads as its --name, a failure's request as its URL.
LABEL_COLUMNS = {"runs": "name", "requests": "url"}


_RUN_ID = "-> runs.id"
_SHARE = "of the run's requests, %"

# The views of docs/schema.md ("Views"): what a row is, and the columns that are not
# a table's column under the same name (those take the table's description).
VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "failure_details": (
        "one row per failure: its request row joined with its failure row",
        {
            "body_text": (
                "the body as text when its content type is textual (text/*, JSON, XML, "
                "JavaScript, form), else NULL"
            )
        },
    ),
    "status_counts": (
        "one row per run and status",
        {
            "run_id": _RUN_ID,
            "status": "HTTP status; NULL: no response",
            "requests": "requests with this status",
            "failed": "of those, failed",
            "share_pct": _SHARE,
        },
    ),
    "error_counts": (
        "one row per run and error kind",
        {
            "run_id": _RUN_ID,
            "error_kind": "the error kind (docs/schema.md has the vocabulary)",
            "requests": "requests of this kind",
            "share_pct": _SHARE,
        },
    ),
    "per_second": (
        "one row per run and second",
        {
            "run_id": _RUN_ID,
            "second": "whole seconds after the run's start",
            "requests": "requests started in that second",
            "failures": "of those, failed",
            "latency_min_ms": "their shortest latency, ms",
            "latency_avg_ms": "their mean latency, ms",
            "latency_max_ms": "their longest latency, ms",
        },
    ),
}
_FAILURE_DETAIL_COLUMNS = [
    "id",
    "run_id",
    "seq",
    "started_at",
    "offset_ms",
    "method",
    "url",
    "status",
    "error_kind",
    "latency_ms",
    "ttfb_ms",
    "bytes_in",
    "local_addr",
    "remote_addr",
    "host",
    "backend",
    "process",
    "connection_id",
    "session",
    "connection_no",
    "connection_request_no",
    "correlation_id",
    "reason",
    "http_version",
    "content_type",
    "content_encoding",
    "body_size",
    "body_truncated",
    "body_signature",
    "body_text",
    "response_headers",
    "request_headers",
    "error_class",
    "error_message",
]


def _view(name: str) -> dict[str, Any]:
    """Returns a view's metadata; failure_details' columns take their tables' docs."""
    description, own = VIEWS[name]
    if name != "failure_details":
        return {"description": description, "columns": dict(own)}
    docs = {c.name: c.doc for c in (*FAILURES.columns, *REQUESTS.columns)}
    columns = {c: own.get(c) or docs[c] for c in _FAILURE_DETAIL_COLUMNS}
    return {"description": description, "columns": columns}


def _table(spec: TableSpec) -> dict[str, Any]:
    table: dict[str, Any] = {
        "description": spec.doc,
        "columns": {c.name: c.doc for c in spec.columns},
    }
    if spec.name in LABEL_COLUMNS:
        table["label_column"] = LABEL_COLUMNS[spec.name]
    return table


def datasette_metadata(database: str) -> dict[str, Any]:
    """Returns the metadata document for the capture file Datasette names database (its
    file name without .db)."""
    return {
        "title": "capture",
        "description": "HTTP load runs: every request (light row) and every failure in full.",
        "databases": {
            database: {
                "tables": {
                    **{t.name: _table(t) for t in TABLES},
                    **{name: _view(name) for name in VIEWS},
                }
            }
        },
    }
