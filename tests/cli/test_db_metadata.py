"""`capture db metadata`: Datasette metadata with a description for every column of
every table of a real capture file, in the keys Datasette's documentation gives."""

from __future__ import annotations

import json
from pathlib import Path

from capture.store.columns import TABLES
from capture.store.metadata import VIEWS
from capture.target.server import FaultServer
from tests.conftest import query

# https://docs.datasette.io/en/stable/metadata.html
TOP_KEYS = {"title", "description", "license", "license_url", "source", "source_url"}
TOP_KEYS |= {"about", "about_url", "databases", "description_html"}
TABLE_KEYS = {"title", "description", "description_html", "columns", "label_column"}
TABLE_KEYS |= {"sort", "sort_desc", "size", "hidden", "fts_table", "fts_pk", "units"}


def test_metadata_describes_every_column_of_a_real_file(
    cli, server: FaultServer, tmp_path: Path
) -> None:
    db = tmp_path / "load-test.db"
    ran = cli("run", f"{server.url}/?status=500", "-n", "2", "--db", db, "--quiet")
    assert ran.exit_code == 0, ran.stderr
    result = cli("db", "metadata", "--db", db)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) <= TOP_KEYS and doc["title"]
    assert list(doc["databases"]) == ["load-test"]  # Datasette's name: the file's stem
    (database,) = doc["databases"].values()
    assert set(database) == {"tables"}
    tables = database["tables"]
    stored = {
        name
        for (name,) in query(db, "select name from sqlite_master where type in ('table', 'view')")
        if name != "alembic_version" and not name.startswith("sqlite_")
    }
    # the views too: failure_details is where a Datasette user reads failures
    assert set(tables) == stored == {t.name for t in TABLES} | set(VIEWS)
    for name, table in tables.items():
        assert set(table) <= TABLE_KEYS, name
        assert isinstance(table["description"], str) and table["description"].strip(), name
        columns = [c for (_, c, *_) in query(db, f"pragma table_info({name})")]
        assert list(table["columns"]) == columns, name  # every column, in stored order
        for column, text in table["columns"].items():
            assert isinstance(text, str) and text.strip(), (name, column)
        if "label_column" in table:
            assert table["label_column"] in columns
    assert tables["runs"]["label_column"] == "name"
    assert tables["requests"]["label_column"] == "url"
    assert "req# on conn" in tables["requests"]["columns"]["connection_request_no"]


def test_metadata_of_a_database_url_is_refused_plainly(cli) -> None:
    result = cli("db", "metadata", "--db", "postgresql://u:secret@h/db")
    assert result.exit_code == 2 and "secret" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
