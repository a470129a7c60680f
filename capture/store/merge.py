"""Join the per-host SQLite files of one logical run into one new file (capture merge).

Each input run becomes one host slot of a new run: its rows are copied whole with
INSERT ... SELECT from the ATTACHed file (no Python row loop: a million rows take
seconds), with `host` set to the slot, sessions moved past the earlier inputs', and
connection ids recomputed with the documented formula over the merged run's sessions.
The output is built in a temporary file beside it and renamed at the end; the inputs
are attached read-only and never change. Choosing and checking the inputs is
merge_inputs.py.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import quote

from capture.errors import DataError, UsageError
from capture.store.columns import FAILURES, REQUESTS
from capture.store.merge_inputs import (
    TIME_FORMAT,
    MergeOptions,
    Selection,
    Source,
    check_output,
    check_sqlite,
    check_together,
    parse_config,
    parse_input,
    read_source,
)
from capture.store.reader import SIDECARS, sidecar, wal_file
from capture.version import __version__

__all__ = [
    "MergeOptions",
    "Merged",
    "Selection",
    "Source",
    "check_sqlite",
    "merge",
    "parse_input",
]

CACHE_KIB = 256 * 1024  # page cache while filling (SQLite's default 2 MiB thrashes)


@dataclass(frozen=True, slots=True)
class Merged:
    """The merged run: where it is, what it holds, and the sources it was made of."""

    run_id: int
    output: Path
    name: str | None
    sources: tuple[Source, ...]
    requests: int
    failed: int
    stored: int
    sockets: int
    renumbered: bool  # the inputs' seqs overlapped: renumbered 1..N


def merge(selections: Sequence[Selection], options: MergeOptions) -> Merged:
    """Reads the input runs, checks they belong together, and writes the merged file."""
    check_sqlite([*(sel.arg for sel in selections), str(options.output)])
    if len(selections) < 2:
        raise UsageError("merge needs at least two input files")
    check_output(options.output, selections)
    sources = tuple(read_source(slot, sel, options) for slot, sel in enumerate(selections))
    check_together(sources)
    return _build(sources, options)


def _build(sources: Sequence[Source], options: MergeOptions) -> Merged:
    """Writes the merged run into a temporary file beside the output, then renames it."""
    out = options.output.absolute()
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".merging")
    os.close(fd)
    tmp = Path(name)
    try:
        # The schema comes from the migrations (SQLAlchemy and Alembic, only here).
        from capture.store.database import open_for_write

        open_for_write(str(tmp)).dispose()
        conn = sqlite3.connect(tmp, isolation_level=None, uri=True)
        try:
            merged = _fill(conn, sources, options)
        finally:
            conn.close()
        _publish(tmp, out)
    except sqlite3.Error as exc:
        raise DataError(f"merge failed, nothing written: {exc}") from None
    finally:
        for path in (tmp, *(sidecar(tmp, s) for s in SIDECARS)):
            path.unlink(missing_ok=True)
    return merged


def _fill(conn: sqlite3.Connection, sources: Sequence[Source], options: MergeOptions) -> Merged:
    """Copies every source's rows into the new file and writes the run and its hosts."""
    # A file nobody sees until the rename: no journal, no syncs; _publish syncs it once.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA temp.cache_size = -{CACHE_KIB}")  # the seq order is built there
    origin = min(s.send_start for s in sources)
    run_id = _insert_run(conn, sources, options, origin)
    renumber = not _seqs_disjoint(conn, sources)
    total_sessions = sum(s.sessions for s in sources)
    base, next_id = 0, 1
    indexes = _drop_indexes(conn)
    ranges = []  # the merged request ids of each source
    for source in sources:
        delta = next_id - source.ids[0]
        params = {
            "run": run_id,
            "src_run": source.run["id"],
            "delta": delta,
            "base": base,
            "sessions": total_sessions,
            "slot": source.slot,
            "shift": (source.send_start - origin) / timedelta(milliseconds=1),
        }
        with _attached(conn, source):
            conn.execute("BEGIN")
            conn.execute(_requests_sql(renumber), params)
            conn.execute(_failures_sql(), params)
            conn.execute("COMMIT")
        base += source.sessions
        next_id = source.ids[1] + delta + 1
        ranges.append((source.ids[0] + delta, next_id - 1))
    for sql in indexes:  # the unique (run_id, seq) one checks the seqs here
        conn.execute(sql)
    merged = _finish(conn, run_id, sources, ranges, options, renumber)
    conn.execute("PRAGMA journal_mode = WAL")  # capture files are WAL files
    return merged


def _drop_indexes(conn: sqlite3.Connection) -> list[str]:
    """Drops the indexes of requests and failures; returns their SQL to create them again.

    Building an index once from sorted rows is several times faster than updating six of
    them row by row; the same statements, from the migrations, give the same schema."""
    found = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('requests', 'failures') ORDER BY name"
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


class _attached:
    """Attaches one source file read-only as `src` for a with block."""

    def __init__(self, conn: sqlite3.Connection, source: Source) -> None:
        self.conn, self.path = conn, source.selection.path.absolute()

    def __enter__(self) -> None:
        # With no -wal, the file holds everything and nothing writes it: immutable reads
        # it without creating a -wal and -shm beside an input (a read-only open would).
        has_wal = wal_file(self.path).exists()
        uri = f"file:{quote(str(self.path))}?mode=ro{'' if has_wal else '&immutable=1'}"
        self.conn.execute("ATTACH DATABASE ? AS src", (uri,))

    def __exit__(self, *exc: object) -> None:
        with suppress(sqlite3.Error):  # after an error: the file is thrown away anyway
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.execute("DETACH DATABASE src")


def _seqs_disjoint(conn: sqlite3.Connection, sources: Sequence[Source]) -> bool:
    """Returns whether the inputs' seqs are disjoint; if not, fills temp.merge_seq with
    their new seqs: 1..N in the order of (started_at, slot, seq)."""
    spans = sorted(s.seqs for s in sources if s.requests)
    if all(a[1] < b[0] for a, b in pairwise(spans)):
        return True
    conn.execute(
        "CREATE TEMP TABLE merge_order (id INTEGER PRIMARY KEY, started_at TEXT,"
        " slot INTEGER, seq INTEGER)"
    )
    next_id = 1
    for source in sources:
        delta = next_id - source.ids[0]
        with _attached(conn, source):
            conn.execute(
                "INSERT INTO temp.merge_order SELECT id + ?, started_at, ?, seq"
                " FROM src.requests WHERE run_id = ?",
                (delta, source.slot, source.run["id"]),
            )
        next_id = source.ids[1] + delta + 1
    (clash,) = conn.execute(
        "SELECT count(*) > count(DISTINCT seq) FROM temp.merge_order"
    ).fetchone()
    if clash:
        conn.execute(
            "CREATE TEMP TABLE merge_seq AS SELECT id, row_number() OVER"
            " (ORDER BY started_at, slot, seq) AS seq FROM temp.merge_order"
        )
        conn.execute("CREATE UNIQUE INDEX temp.merge_seq_id ON merge_seq (id)")
    conn.execute("DROP TABLE temp.merge_order")
    return not clash


def _requests_sql(renumber: bool) -> str:
    """Returns the INSERT that copies one source's requests rows as one host's."""
    changed = {
        "id": "r.id + :delta",
        "run_id": ":run",
        "seq": "(SELECT s.seq FROM temp.merge_seq s WHERE s.id = r.id + :delta)"
        if renumber
        else "r.seq",
        "session": "r.session + :base",
        "offset_ms": "r.offset_ms + :shift",
        # The documented formula over the merged run's sessions: (cno - 1) x S + session + 1.
        "connection_id": "CASE WHEN r.connection_id IS NULL THEN NULL ELSE"
        " (r.connection_no - 1) * :sessions + r.session + :base + 1 END",
        "host": ":slot",
    }
    names = REQUESTS.names
    select = ", ".join(changed.get(n, f"r.{n}") for n in names)
    return (
        f"INSERT INTO main.requests ({', '.join(names)}) SELECT {select}"
        " FROM src.requests r WHERE r.run_id = :src_run ORDER BY r.id"
    )


def _failures_sql() -> str:
    """Returns the INSERT that copies one source's failures, bodies byte for byte."""
    changed = {"request_id": "f.request_id + :delta", "run_id": ":run"}
    names = FAILURES.names
    select = ", ".join(changed.get(n, f"f.{n}") for n in names)
    return (
        f"INSERT INTO main.failures ({', '.join(names)}) SELECT {select}"
        " FROM src.failures f WHERE f.run_id = :src_run ORDER BY f.request_id"
    )


def _insert_run(
    conn: sqlite3.Connection, sources: Sequence[Source], options: MergeOptions, origin: datetime
) -> int:
    """Inserts the merged run's row (totals come in _finish); returns its id."""
    runs = [s.run for s in sources]
    names = {r["name"] for r in runs}
    name = options.rename or options.name or (names.pop() if len(names) == 1 else None)
    config = parse_config(runs[0]["config_json"])
    config["merged_from"] = [
        {
            "file": s.selection.path.name,
            "run_id": s.run["id"],
            "run_key": s.run["run_key"],
            # What the summary's pool and client-limit rules count (run_config.run_shape).
            "sessions": s.sessions,
            "procs": _int(parse_config(s.run["config_json"]).get("procs"), 1),
        }
        for s in sources
    ]
    qps = [r["qps_asked"] for r in runs]
    cpu = [r["cpu_s"] for r in runs]
    statuses = {r["status"] for r in runs}
    status = "completed" if statuses == {"completed"} else "interrupted"
    if statuses - {"completed", "interrupted"}:
        status = "failed"  # a source failed, or crashed and came with --allow-incomplete
    ends = [r["finished_at"] for r in runs]
    cursor = conn.execute(
        "INSERT INTO runs (name, started_at, finished_at, status, command_line, config_json,"
        " hostname, pid, capture_version, duration_s, qps_asked, failures_dropped,"
        " aborted_total, run_key, cpu_s, hosts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            name,
            min(r["started_at"] for r in runs),
            max(ends) if None not in ends else max(s.end for s in sources).strftime(TIME_FORMAT),
            status,
            options.command_line,
            json.dumps(config, sort_keys=True),
            socket.gethostname(),
            os.getpid(),
            __version__,
            (max(s.end for s in sources) - origin).total_seconds(),
            None if None in qps else sum(qps),
            sum(r["failures_dropped"] or 0 for r in runs),
            sum(r["aborted_total"] or 0 for r in runs),
            secrets.token_hex(4),  # a key of its own: each row keeps its source's KEY-SEQ
            None if None in cpu else sum(cpu),
            len(sources),
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _finish(
    conn: sqlite3.Connection,
    run_id: int,
    sources: Sequence[Source],
    ranges: Sequence[tuple[int, int]],
    options: MergeOptions,
    renumbered: bool,
) -> Merged:
    """Writes the run_hosts rows and the run's totals, counted from the copied rows."""
    conn.execute("BEGIN")
    for s, (low, high) in zip(sources, ranges, strict=True):
        run = s.run
        lost = None if s.state != "lost" else f"source run was {run['status']!r}: merged as is"
        conn.execute(
            "INSERT INTO run_hosts (run_id, slot, hostname, pid, state, joined_at, finished_at,"
            " heartbeat_at, requests_total, failed_total, failures_stored, failures_dropped,"
            " aborted_total, duration_s, cpu_s, error)"
            # Its rows are the request ids low..high: ranges of the primary key, no scan.
            " SELECT ?, ?, ?, ?, ?, ?, ?, ?, count(*), coalesce(sum(failed), 0),"
            " (SELECT count(*) FROM failures WHERE request_id BETWEEN ? AND ?), ?, ?, ?, ?, ?"
            " FROM requests WHERE id BETWEEN ? AND ?",
            (
                *(run_id, s.slot, run["hostname"], run["pid"], s.state, run["started_at"]),
                *(run["finished_at"], run["finished_at"], low, high),
                *(run["failures_dropped"] or 0, run["aborted_total"] or 0),
                *(s.duration_s, run["cpu_s"], lost, low, high),
            ),
        )
    # Each count on its own index, as database.run_totals counts a run.
    total, failed, stored, sockets = (
        conn.execute(sql, (run_id,)).fetchone()[0]
        for sql in (
            "SELECT count(*) FROM requests WHERE run_id = ?",
            "SELECT count(*) FROM requests WHERE run_id = ? AND failed = 1",
            "SELECT count(*) FROM failures WHERE run_id = ?",
            "SELECT count(DISTINCT connection_id) FROM requests WHERE run_id = ?",
        )
    )
    counts = (total, failed, stored, sockets)
    expected = tuple(sum(getattr(s, k) for s in sources) for k in _COUNTS)
    if counts != expected:  # nothing lost, nothing invented: never publish a wrong file
        raise DataError(f"merged rows {counts} differ from the inputs' {expected}: nothing written")
    conn.execute(
        "UPDATE runs SET requests_total = ?, ok_total = ?, failed_total = ?,"
        " failures_stored = ?, sockets_used = ? WHERE id = ?",
        (total, total - failed, failed, stored, sockets, run_id),
    )
    conn.execute("COMMIT")
    (name,) = conn.execute("SELECT name FROM runs WHERE id = ?", (run_id,)).fetchone()
    return Merged(run_id, options.output, name, tuple(sources), *counts, renumbered)


_COUNTS = ("requests", "failed", "stored", "sockets")


def _publish(tmp: Path, out: Path) -> None:
    """Syncs the finished file and gives it its name, never over a file that appeared."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, out)  # fails if out exists: a rename would replace it
    except FileExistsError:
        raise UsageError(f"-o {str(out)!r} appeared while merging: left as it is") from None
    except OSError:  # a file system without hard links
        if out.exists():
            raise UsageError(f"-o {str(out)!r} appeared while merging: left as it is") from None
        os.replace(tmp, out)
    dirfd = os.open(out.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def _int(value: object, default: int) -> int:
    """Returns value when it is a positive int (config_json is anyone's text), else default."""
    return value if isinstance(value, int) and value > 0 else default
