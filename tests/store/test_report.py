"""store.report.run_report reads one run: 'all' is refused as a usage error, from the
Python API as from the CLI (it was a TypeError: run 0's row, None, made a dict)."""

from __future__ import annotations

import pytest

import capture
from capture.errors import UsageError
from capture.store.reader import open_readonly
from capture.store.report import run_report
from tests.store.test_queries import known

__all__ = ["known"]  # the fixture: a file with two runs, five failures and one success


@pytest.mark.parametrize("spec", ["all", " ALL "])
def test_all_is_a_usage_error(known: str, spec: str) -> None:
    """A summary's offsets are relative to one run's start: 'all' has no meaning there."""
    with pytest.raises(UsageError, match="summary reads one run, not 'all'"):
        run_report(open_readonly(known), spec)


def test_all_from_the_python_api_is_a_usage_error(known: str) -> None:
    """Database.summary('all') raises the CaptureError the CLI would turn into exit 2."""
    with capture.open_db(known) as db, pytest.raises(UsageError):
        db.summary("all")


def test_one_run_is_still_reported(known: str) -> None:
    """Run 1 by id: its four failures of five requests (one per outcome, as stored)."""
    report = run_report(open_readonly(known), "1")
    assert (report["run"]["id"], report["requests"], report["failed"]) == (1, 5, 4)
    assert report["status_counts"] == [(None, 1), (200, 1), (404, 1), (500, 1), (503, 1)]
