"""The inputs of capture merge: which run of each file, read and counted, and the
checks that they are runs of one logical run (capture/store/merge.py writes them).

Plain sqlite3 through the read side (reader.py): the inputs are only ever read.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from capture.errors import CaptureError, DataError, NotFoundError, UsageError
from capture.store.location import is_postgres, looks_like_libpq
from capture.store.reader import ReadOnly, open_readonly
from capture.store.revisions import REVISIONS
from capture.store.source import ReadConnection, hide_password

__all__ = [
    "STATES",
    "TIME_FORMAT",
    "MergeOptions",
    "Selection",
    "Source",
    "check_output",
    "check_sqlite",
    "check_together",
    "parse_config",
    "parse_input",
    "read_source",
]

STATES = {"completed": "finished", "interrupted": "interrupted", "failed": "failed"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_HMAC = re.compile(r"hmac=[0-9a-f]+")  # redaction keys differ per run: compare without
_INPUT_RUN = re.compile(r"^(.+):([0-9]+)$")


@dataclass(frozen=True, slots=True)
class Selection:
    """One input as given: a file, and with FILE:RUN the run to take from it."""

    arg: str
    path: Path
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class MergeOptions:
    """What to merge into where: --name, --as, --allow-incomplete and the command line."""

    output: Path
    name: str | None = None  # the latest run of this name in each file
    rename: str | None = None  # --as: the merged run's name
    allow_incomplete: bool = False
    command_line: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """One input run as read and counted: what becomes one host slot."""

    slot: int
    selection: Selection
    run: dict[str, Any]  # its runs row
    sessions: int  # connections x procs (at least the sessions its rows use)
    requests: int
    failed: int
    stored: int
    sockets: int
    ids: tuple[int, int]  # the smallest and largest request id
    seqs: tuple[int, int]
    send_start: datetime  # when it started sending: its offsets count from here
    duration_s: float
    state: str

    @property
    def end(self) -> datetime:
        """Returns when it stopped sending."""
        return self.send_start + timedelta(seconds=self.duration_s)


def check_sqlite(args: Sequence[str]) -> None:
    """Refuses a PostgreSQL database among merge's inputs or output, its password hidden:
    merge joins files, and a --hosts run on a server is one run already."""
    for arg in args:
        if is_postgres(arg):
            raise UsageError(
                f"capture merge joins SQLite files: {hide_password(arg)} is a PostgreSQL "
                "database (a --hosts run there is one run already)"
            )
        if looks_like_libpq(arg):  # the message must not repeat it: a password is in it
            raise UsageError(
                "capture merge joins SQLite files: an argument is a libpq connection "
                "string (host=… dbname=…), a PostgreSQL database"
            )


def parse_input(arg: str) -> Selection:
    """Turns 'a.db' or 'a.db:3' into a selection; a file whose name ends ':3' is a file."""
    found = _INPUT_RUN.match(arg)
    if found and not Path(arg).exists():
        return Selection(arg, Path(found[1]), int(found[2]))
    return Selection(arg, Path(arg))


def check_output(output: Path, selections: Sequence[Selection]) -> None:
    """Refuses an output that is an input, exists, or has no directory."""
    for sel in selections:
        if output.absolute() == sel.path.absolute() or (
            output.exists() and sel.path.exists() and os.path.samefile(output, sel.path)
        ):
            raise UsageError(f"-o {str(output)!r} is one of the inputs: give a new file")
    if output.exists() or output.is_symlink():
        raise UsageError(f"-o {str(output)!r} exists: merge writes a new file")
    if not output.absolute().parent.is_dir():
        raise UsageError(f"-o {str(output)!r}: its directory does not exist")


def _open(sel: Selection) -> ReadOnly:
    """Opens one input read-only; refuses a missing, foreign or older file."""
    if not sel.path.exists():
        raise DataError(f"{sel.arg}: no such file")
    try:
        source = open_readonly(str(sel.path), any_revision=True)
    except CaptureError as exc:
        said = exc.message.replace(f"--db {str(sel.path.absolute())!r}", "the file")
        raise type(exc)(f"{sel.path}: {said.replace('the database', 'the file')}") from None
    if source.revision != REVISIONS[-1]:
        raise DataError(
            f"{sel.path} has schema revision {source.revision}, merge needs {REVISIONS[-1]}: "
            f"run `capture db upgrade --db {sel.path}` first (it upgrades that file in place)"
        )
    return source


def _pick_run(conn: ReadConnection, sel: Selection, name: str | None) -> dict[str, Any]:
    """Returns the runs row a selection names: FILE:RUN, the latest of --name, or the latest."""
    if sel.run_id is not None:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (sel.run_id,)).fetchone()
        missing = f"{sel.path} has no run {sel.run_id}"
    elif name is not None:
        sql = "SELECT * FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1"
        row = conn.execute(sql, (name,)).fetchone()
        missing = f"{sel.path} has no run named {name!r}"
    else:
        row = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        missing = f"{sel.path} has no run"
    if row is None:
        raise NotFoundError(missing)
    return dict(row)


def read_source(slot: int, sel: Selection, options: MergeOptions) -> Source:
    """Picks and counts one input run; refuses one still running or already merged."""
    with _open(sel).connect() as conn:
        run = _pick_run(conn, sel, options.name)
        where = f"{sel.path} run {run['id']}"
        if run["status"] not in STATES and not options.allow_incomplete:
            raise DataError(
                f"{where} is {run['status']!r} (crashed, or still sending): "
                "--allow-incomplete merges the rows it stored"
            )
        if (run["hosts"] or 1) > 1:
            raise DataError(f"{where} already has {run['hosts']} hosts: merge the host files")
        count = conn.execute(
            "SELECT count(*), coalesce(sum(failed), 0), count(DISTINCT connection_id),"
            " min(id), max(id), min(seq), max(seq), max(session),"
            " max(offset_ms + latency_ms) FROM requests WHERE run_id = ?",
            (run["id"],),
        ).fetchone()
        (stored,) = conn.execute(
            "SELECT count(*) FROM failures WHERE run_id = ?", (run["id"],)
        ).fetchone()
        first = conn.execute(
            "SELECT started_at, offset_ms FROM requests WHERE run_id = ? ORDER BY seq LIMIT 1",
            (run["id"],),
        ).fetchone()
    total, failed, sockets, min_id, max_id, min_seq, max_seq, top_session, span_ms = count
    # Offsets count from the start of sending, not from runs.started_at (before it, the
    # run row, and --procs children starting): any row says when that was.
    start = (
        _time(first[0]) - timedelta(milliseconds=first[1]) if first else _time(run["started_at"])
    )
    duration = run["duration_s"] if run["duration_s"] is not None else (span_ms or 0.0) / 1000
    return Source(
        slot=slot,
        selection=sel,
        run=run,
        sessions=max(_config_sessions(run["config_json"]), (top_session or 0) + 1 if total else 0),
        requests=total,
        failed=failed,
        stored=stored,
        sockets=sockets,
        ids=(min_id or 0, max_id or 0),
        seqs=(min_seq or 0, max_seq or 0),
        send_start=start,
        duration_s=float(duration),
        state=STATES.get(run["status"], "lost"),
    )


def _time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def parse_config(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:  # a file written by hand
        return {}
    return value if isinstance(value, dict) else {}


def _config_sessions(text: str | None) -> int:
    """Returns a run's sessions: --connections x --procs as its config says, or 0."""
    config = parse_config(text)
    try:
        return int(config.get("connections") or 0) * int(config.get("procs") or 1)
    except (TypeError, ValueError):
        return 0


def _targets(source: Source) -> list[tuple[str, str]] | None:
    """Returns what a run sent to, as (method, URL), or None when its config does not say."""
    targets = parse_config(source.run["config_json"]).get("targets")
    if not isinstance(targets, list):
        return None
    return [(str(t.get("method")), _HMAC.sub("hmac=", str(t.get("url")))) for t in targets]


def check_together(sources: Sequence[Source]) -> None:
    """Refuses the same run twice, and runs that sent to different targets."""
    seen: dict[object, Source] = {}
    for source in sources:
        path = source.selection.path
        keys: list[object] = [(os.stat(path).st_dev, os.stat(path).st_ino, source.run["id"])]
        if source.run["run_key"]:
            keys.append(source.run["run_key"])  # the same run, copied to a second file
        for key in keys:
            if key in seen:
                raise UsageError(
                    f"{source.selection.arg} and {seen[key].selection.arg} are the same run "
                    f"({source.run['run_key'] or 'run ' + str(source.run['id'])}): give each once"
                )
            seen[key] = source
    first = sources[0]
    for source in sources[1:]:
        mine, theirs = _targets(source), _targets(first)
        if mine is not None and theirs is not None and mine != theirs:
            raise UsageError(
                f"{source.selection.arg} sent to {_show(mine)}, {first.selection.arg} to "
                f"{_show(theirs)}: merge joins the files of one run"
            )


def _show(targets: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{m} {u}" for m, u in targets[:2])
    return shown + (f" (+{len(targets) - 2} more)" if len(targets) > 2 else "")
