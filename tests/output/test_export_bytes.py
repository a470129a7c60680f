"""`capture export` writes the same bytes as the export path it replaced (json.dumps of
each row as a dict, csv.writer per record, json.dumps per HAR entry), kept frozen here as
the reference: on the rows of a real run against the fault target (latin-1 and escape
bytes in headers, repeated headers, binary and quoted bodies, errors) and on a copy of
that file edited to hold what capture never writes itself (header JSON in another
spacing, a "[...]" reason that is no JSON, an infinite offset, a long header list)."""

from __future__ import annotations

import base64
import csv
import io
import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from capture.cli.main import main
from capture.output.har import _entry
from capture.store import queries
from capture.store.filters import FailureQuery
from capture.store.reader import open_readonly
from capture.target import FaultServer

REQUESTS = 70  # 7 URLs, every reply a failure


# --- the frozen reference: the export path as it was before rowtext/export.py -------


def _old_jsonable(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, str) and value[:1] == "[" and value[-1:] == "]":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _old_jsonl(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps({k: _old_jsonable(v) for k, v in row.items()})


def _old_csv_value(value: Any) -> Any:
    if type(value) in (int, float) or value is None:
        return value
    converted = _old_jsonable(value)
    if isinstance(converted, list | dict):
        converted = json.dumps(converted)
    if isinstance(converted, str) and converted.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + converted
    return converted


def _old_csv(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def take() -> str:
        text = buffer.getvalue().removesuffix("\r\n")
        buffer.seek(0)
        buffer.truncate()
        return text

    names: list[str] | None = None
    for row in rows:
        if names is None:
            names = list(row)
            writer.writerow(names)
            yield take()
        writer.writerow([_old_csv_value(row.get(name)) for name in names])
        yield take()


def _old_har(rows: Iterable[Any]) -> Iterator[str]:
    from capture.version import __version__

    head = json.dumps(
        {
            "log": {
                "version": "1.2",
                "creator": {"name": "capture", "version": __version__},
                "pages": [],
                "entries": [],
            }
        },
        indent=2,
    )
    yield head[: head.rindex("[]") + 1]
    previous: str | None = None
    for row in rows:
        if previous is not None:
            yield previous + ","
        previous = "      " + json.dumps(_entry(row))
    if previous is not None:
        yield previous
    yield "    ]\n  }\n}"


_REFERENCE = {"jsonl": _old_jsonl, "csv": _old_csv, "har": _old_har}

# --- the files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture file of one real run whose every request failed, with odd headers."""
    db = tmp_path_factory.mktemp("bytes") / "capture.db"
    with FaultServer("127.0.0.1", 0) as server:
        urls = [
            f"{server.url}/a?fault=weird_headers",
            f"{server.url}/b?fault=dup_headers&status=500",
            f"{server.url}/c?fault=binary&status=502",
            f"{server.url}/d?fault=bare_cr_header",
            f"{server.url}/e?fault=many_headers&status=503",
            f"{server.url}/f?status=500&body=%22q%22%20%5C%20%5B1%5D%20caf%C3%A9",
            f"{server.url}/g?status=404&ctype=application/json&body=%5B%22x%22%5D",
        ]
        args = ["run", *urls, "-n", str(REQUESTS), "-c", "2", "--db", str(db), "--quiet"]
        assert main(args) == 0
    conn = sqlite3.connect(db)
    counts = conn.execute("SELECT count(*), sum(failed) FROM requests").fetchone()
    stored = conn.execute("SELECT count(*) FROM failures").fetchone()
    conn.close()
    assert counts == (REQUESTS, REQUESTS)
    assert stored == (REQUESTS,)
    return db


@pytest.fixture(scope="module")
def edited_db(real_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of real_db with values capture does not write but a file may hold."""
    db = tmp_path_factory.mktemp("edited") / "capture.db"
    shutil.copy(real_db, db)
    long_list = json.dumps([[f"X-Long-{i}", "v" * 80] for i in range(60)])  # > 4096 chars
    conn = sqlite3.connect(db)
    with conn:
        first, second, third, fourth = (
            r[0] for r in conn.execute("SELECT request_id FROM failures ORDER BY 1 LIMIT 4")
        )
        conn.execute(
            "UPDATE failures SET response_headers = ?, reason = ? WHERE request_id = ?",
            ('[["A","b"],  ["C",  "\\u00e9\\/"]]', "[not json]", first),
        )
        conn.execute(
            "UPDATE failures SET response_headers = ?, error_message = ? WHERE request_id = ?",
            (long_list, "[1, 2.50, true]", second),
        )
        conn.execute("UPDATE requests SET offset_ms = 9e999 WHERE id = ?", (third,))
        conn.execute("UPDATE failures SET body = ? WHERE request_id = ?", (b"\xff\xfe\x00", fourth))
    conn.close()
    return db


def _reference(db: Path, fmt: str) -> bytes:
    """Returns the export of every failure of the latest run by the frozen old path."""
    q = FailureQuery.build(limit=None, oldest=True)
    rows = queries.iter_failure_rows(open_readonly(str(db)), q, None, full=True)
    return ("".join(line + "\n" for line in _REFERENCE[fmt](rows))).encode("utf-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "har"])
@pytest.mark.parametrize("which", ["real_db", "edited_db"])
def test_export_is_byte_identical_to_the_old_path(
    fmt: str, which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db: Path = request.getfixturevalue(which)
    out = tmp_path / f"out.{fmt}"
    assert main(["export", "-f", fmt, "-o", str(out), "--db", str(db)]) == 0
    written = out.read_bytes()
    assert written == _reference(db, fmt)
    if fmt == "jsonl":
        assert len(written.splitlines()) == REQUESTS


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("which", ["real_db", "edited_db"])
def test_failures_listing_is_byte_identical_to_the_old_path(
    fmt: str, which: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    # `failures` writes through the export's encoder too: the same bytes as the old one.
    db: Path = request.getfixturevalue(which)
    capsys.readouterr()
    assert main(["failures", "-f", fmt, "--db", str(db)]) == 0
    listed = queries.failure_rows(open_readonly(str(db)), FailureQuery.build(limit=None), None)
    old = _old_jsonl(listed) if fmt == "jsonl" else _old_csv(listed)
    assert capsys.readouterr().out == "".join(line + "\n" for line in old)
