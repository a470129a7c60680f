"""columns.py is the one list of the schema: the migrated file, the SQLAlchemy tables, the
writer's INSERTs and the read side's SQL all agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capture.store import columns, database, queries, run_pass, schema, writer
from capture.store.columns import FAILURES, REQUESTS, TABLES, TableSpec
from tests.conftest import query

_SQL_TYPES = {"integer": "INTEGER", "real": "FLOAT", "text": "TEXT", "blob": "BLOB"}


@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_the_migrated_file_has_exactly_the_listed_columns(db_path: Path, table: TableSpec) -> None:
    """Name, type, NOT NULL and key of every column, in order, as the migrations made them."""
    database.open_for_write(str(db_path)).dispose()
    found = query(
        db_path, f"SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table.name}')"
    )
    keys = [c.name for c in table.columns if c.primary_key]  # pk: position in the key
    listed = [
        (
            c.name,
            _SQL_TYPES[c.type],
            int(not c.nullable),
            keys.index(c.name) + 1 if c.primary_key else 0,
        )
        for c in table.columns
    ]
    assert found == listed
    keys = query(
        db_path, f'SELECT "from", "table", "to" FROM pragma_foreign_key_list(\'{table.name}\')'
    )
    assert sorted(keys) == sorted(
        (c.name, *c.references.split(".")) for c in table.columns if c.references
    )
    indexes = query(
        db_path,
        "SELECT il.name, il.\"unique\" FROM pragma_index_list(?) AS il WHERE il.origin = 'c'",
        table.name,
    )
    assert sorted(indexes) == sorted(
        (f"ix_{table.name}_{'_'.join(ix.columns)}", int(ix.unique)) for ix in table.indexes
    )


def test_sqlalchemy_tables_and_inserts_come_from_the_list() -> None:
    """schema.py's tables and the writer's INSERT heads name the listed columns in order."""
    for spec in TABLES:
        assert tuple(schema.metadata.tables[spec.name].columns.keys()) == spec.names
    heads = (writer._REQUESTS_HEAD, writer._FAILURES_HEAD)
    listed = (f"INSERT INTO {t.name} ({', '.join(t.names)}) VALUES " for t in (REQUESTS, FAILURES))
    assert heads == tuple(listed)


def test_select_list_refuses_a_column_the_table_lacks() -> None:
    """A renamed column fails where the SQL is built, at import, not in front of a user."""
    assert columns.select_list("r", REQUESTS, "id", "url") == "r.id, r.url"
    with pytest.raises(KeyError, match="requests has no column uri"):
        columns.select_list("r", REQUESTS, "id", "uri")


# report.py's failure pass reads run_pass's failed rows (issue 15).
@pytest.mark.parametrize("module", [queries, run_pass], ids=["queries", "run_pass"])
def test_every_aliased_column_in_the_read_sql_is_listed(module: object) -> None:
    """r.NAME and f.NAME in the read side's SQL (requests AS r, failures AS f) exist."""
    source = Path(str(getattr(module, "__file__", ""))).read_text()
    used = set(re.findall(r"\b([rf])\.([a-z_]+)\b", source))
    known = {"r": set(REQUESTS.names), "f": set(FAILURES.names)}
    assert used, "no aliased columns found: the pattern no longer matches the SQL"
    assert sorted((a, n) for a, n in used if n not in known[a]) == []


def _schema_md_rows(table: str) -> dict[str, tuple[str, str]]:
    """Returns {column: (type, meaning)} from docs/schema.md's table of that table."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "schema.md").read_text()
    section = text.split(f"## `{table}`", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        found = re.fullmatch(r"\| `(\w+)` \| (\w+) \| (.*) \|", line)
        if found:
            rows[found[1]] = (found[2], found[3])
    return rows


def _plain(markdown: str) -> str:
    """Returns a meaning cell as plain text: no code marks or links, ASCII operators."""
    text = markdown.replace("`", "").replace("\u00d7", "x").replace("\u2212", "-")
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)
    return " ".join(text.split())


_MD_TYPES = {"integer": "integer", "real": "float", "text": "text", "blob": "blob"}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_schema_md_documents_each_column_as_columns_py_does(table: TableSpec) -> None:
    # columns.py's docs feed `capture db metadata` (Datasette); schema.md is for people:
    # one may not drift from the other.
    rows = _schema_md_rows(table.name)
    assert set(rows) == set(table.names)
    for column in table.columns:
        md_type, meaning = rows[column.name]
        assert md_type == _MD_TYPES[column.type], column.name
        assert _plain(meaning) == _plain(column.doc), column.name
