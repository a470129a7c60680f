"""The Python API: build a run in code, run it, and query what it stored.

    import capture

    config = capture.RunConfig(
        targets=(capture.Target.build("GET", "http://127.0.0.1:8080/"),), requests=1000
    )
    summary = capture.run(config, db="capture.db")
    for row in capture.open_db("capture.db").failures(status="5xx"):
        print(row["id"], row["status"], row["url"])

The CLI is built on these functions; see docs/api.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from capture.config import DEFAULT_DB, RunConfig
from capture.load.hooks import Hooks
from capture.store import queries as query
from capture.store import sockets
from capture.store.filters import FailureQuery
from capture.store.reader import ReadOnly, open_readonly
from capture.store.report import run_report

if TYPE_CHECKING:
    from capture.results import Progress, RunSummary
    from capture.store.rows import ExchangeRow, FailureRow, Report, RunRow, SocketRow

__all__ = ["Database", "open_db", "run"]


def run(
    config: RunConfig,
    *,
    db: str = DEFAULT_DB,
    hooks: Hooks | None = None,
    on_tick: Callable[[Progress], None] | None = None,
) -> RunSummary:
    """Runs the load described by config into db (a SQLite file path, or a sqlite:/// URL).

    Returns the summary: counts, percentiles, run id and database. Safe to call from any
    thread; signal handling (Ctrl-C) is only installed when called from the main thread.
    """
    from capture.load import runner  # SQLAlchemy and requests: only when running
    from capture.store import database as store  # SQLAlchemy and requests: only when running

    engine = store.open_for_write(db)
    try:
        return runner.run(config, engine, hooks=hooks, on_tick=on_tick, db=db)
    finally:
        engine.dispose()


class Database:
    """A capture file opened read-only, with the queries of the CLI's reading commands."""

    def __init__(self, db: str = DEFAULT_DB) -> None:
        self.path = db
        self._source: ReadOnly = open_readonly(db)

    def close(self) -> None:
        """Releases the file (each query opens and closes its own connection)."""

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def runs(self) -> list[RunRow]:
        """Returns every run, oldest first."""
        return query.run_rows(self._source)

    def failures(self, run: str | int | None = None, **filters: Any) -> list[FailureRow]:
        """Returns failures, newest first, filtered like `capture failures`.

        Filters (all optional, as strings like the CLI's): status='5xx', error='reset',
        url='*/api/*', method, since='30s', until, slower_than='500ms',
        body_contains, header='Name: value', socket, session, connection, position, host, limit=50,
        offset, oldest.
        """
        q = FailureQuery.build(**filters)
        return query.failure_rows(self._source, q, None if run is None else str(run))

    def exchange(self, request_id: int) -> ExchangeRow:
        """Returns one exchange in full, with its neighbours on the same connection."""
        return query.exchange(self._source, request_id)

    def summary(self, run: str | int | None = None) -> Report:
        """Returns the data of `capture summary` for a run (default: the latest)."""
        return run_report(self._source, None if run is None else str(run))

    def diagnose(self, run: str | int | None = None) -> list[dict[str, Any]]:
        """Returns the findings of `capture diagnose` for a run (default: the latest),
        ranked; each a dict as docs/diagnose.md describes."""
        return self.summary(run)["findings"]

    def report(self, *runs: str | int) -> dict[str, Any]:
        """Returns the data of `capture report` (docs/report.md) for runs (default: the
        latest), each later one compared with the first."""
        from capture.output.report_doc import build_report

        return build_report(self._source, [str(r) for r in runs], db=self.path)

    def sockets(self, run: str | int | None = None) -> list[SocketRow]:
        """Returns each client socket of a run with its requests and failures."""
        return sockets.socket_rows(self._source, None if run is None else str(run))[1]


def open_db(db: str = DEFAULT_DB) -> Database:
    """Opens a capture file read-only for querying."""
    return Database(db)
