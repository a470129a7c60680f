"""Datasette metadata for a capture file, built from the column docs in columns.py, so
the descriptions Datasette shows are the ones docs/schema.md gives.

The keys are Datasette's (https://docs.datasette.io/en/stable/metadata.html): databases
-> tables -> description, columns {name: description}, label_column.
"""

from __future__ import annotations

from typing import Any

from capture.store.columns import TABLES, TableSpec

__all__ = ["LABEL_COLUMNS", "datasette_metadata"]

# The column Datasette shows for a row that another row points at: a request's run
# reads as its --name, a failure's request as its URL.
LABEL_COLUMNS = {"runs": "name", "requests": "url"}


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
        "databases": {database: {"tables": {t.name: _table(t) for t in TABLES}}},
    }
