"""`capture summary` prints the same bytes from PostgreSQL as from SQLite where the
PostgreSQL path groups on the server (store/report_pg.py): URL templates that merge
several URLs, more templates than the summary lists (the "other URLs" row), and failure
groups that tie on their count."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from capture.cli.main import main
from capture.target.server import FaultServer
from tests.pg.copy import copy_file
from tests.pg.server import PgServer
from tests.pg.test_read_same import Stores, _same

TEMPLATES = 24  # more than report.TOP_URLS (20): the rest are summed into one row


@pytest.fixture(scope="module")
def stores(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """One run over 48 URLs, two per template, stored in SQLite and copied to PostgreSQL."""
    path = tmp_path_factory.mktemp("summary") / "capture.db"
    with FaultServer("127.0.0.1", 0) as srv:
        # /t3/101 and /t3/202 are one template, /t3/#; every other template fails.
        urls = [
            f"{srv.url}/t{k}/{item}" + ("?status=503" if k % 2 else "")
            for k in range(TEMPLATES)
            for item in (101, 202)
        ]
        code = main(["run", *urls, "-n", "96", "-c", "2", "--db", str(path), "--quiet"])
        assert code == 0
        url = pg_server.create_database(f"summary_{id(path)}")
        copy_file(path, url)
        yield Stores(str(path), url, {}, srv.url)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_summary_of_many_templates_prints_the_same(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes], fmt: str
) -> None:
    _same(stores, capsysbinary, ["summary", "--format", fmt])


def test_the_run_has_what_the_comparison_is_about(
    stores: Stores, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    report = json.loads(_same(stores, capsysbinary, ["summary", "--format", "json"]))
    urls = report["urls"]
    assert len(urls) == 21
    assert urls[-1]["templates"] == TEMPLATES - 20
    assert sum(u["requests"] for u in urls) == 96
    assert all(u["requests"] == 4 for u in urls[:20])  # two URLs of two requests each
    groups = report["failures"]["groups"]
    assert len(groups) == 20  # of 24: one per failing URL, all tied on their count
    assert {g["count"] for g in groups} == {2}
