"""capture: drive HTTP load at a service and keep every failed response in SQLite.

The public API (see docs/api.md):

    import capture
    summary = capture.run(capture.RunConfig(targets=(...), requests=100), db="capture.db")
    capture.open_db("capture.db").failures(status="5xx")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from capture.version import __version__

__all__ = [
    "Context",
    "Database",
    "Hooks",
    "Outcome",
    "RunConfig",
    "RunSummary",
    "StatusSpec",
    "Target",
    "__version__",
    "open_db",
    "run",
]

if TYPE_CHECKING:
    from capture.api import Database, open_db, run
    from capture.config import RunConfig, Target
    from capture.load.hooks import Context, Hooks, Outcome
    from capture.parse import StatusSpec
    from capture.results import RunSummary

# Imported lazily so `capture --help` does not pay for SQLAlchemy and requests.
_LAZY = {
    "Database": "api",
    "open_db": "api",
    "run": "api",
    "RunConfig": "config",
    "StatusSpec": "parse",
    "Target": "config",
    "Context": "load.hooks",
    "Hooks": "load.hooks",
    "Outcome": "load.hooks",
    "RunSummary": "results",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'capture' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
