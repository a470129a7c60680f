"""What a run was asked to do, read back from runs.config_json."""

from __future__ import annotations

import json

from capture.store.reader import ReadOnly

__all__ = ["id_header"]


def id_header(db: ReadOnly, run_id: int) -> str | None:
    """Returns the --id-header name the run sent its correlation ids in, or None."""
    with db.connect() as conn:
        row = conn.execute("SELECT config_json FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None or not row[0]:
        return None
    try:
        value = json.loads(row[0]).get("id_header")
    except (ValueError, AttributeError):  # a file written by hand or by an older capture
        return None
    return value if isinstance(value, str) and value else None
