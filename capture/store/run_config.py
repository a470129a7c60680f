"""What a run was asked to do, read back from runs.config_json."""

from __future__ import annotations

import json
from typing import Any

from capture.store.reader import ReadOnly

__all__ = ["id_header", "run_shape"]


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


def _positive(value: object, default: int = 1) -> int:
    return value if isinstance(value, int) and value > 0 else default


def run_shape(config: dict[str, Any], hosts: int | None) -> tuple[int, int]:
    """Returns (processes, sessions) of a whole run, over all its hosts.

    A --hosts N run repeats one host's --procs and --connections N times; a run made by
    capture merge lists each source's in merged_from. One host's figures alone would
    make the pool look N times smaller and the client N times busier than it was."""
    merged = config.get("merged_from")
    if isinstance(merged, list) and merged and all(isinstance(m, dict) for m in merged):
        procs = sum(_positive(m.get("procs")) for m in merged)
        return procs, sum(_positive(m.get("sessions")) for m in merged)
    procs = _positive(config.get("procs")) * _positive(hosts)
    return procs, procs * _positive(config.get("connections"))
