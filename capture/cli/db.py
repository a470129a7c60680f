"""`capture db`: a capture file itself: describe it, upgrade it, print Datasette metadata."""

from __future__ import annotations

import typer

from capture.cli.app import DbOpt, app
from capture.config import DEFAULT_DB
from capture.errors import UsageError

__all__ = ["db_app"]

db_app = typer.Typer(help="Inspect or upgrade a capture database file.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("info")
def db_info(*, db: DbOpt = DEFAULT_DB) -> None:
    """Print the file's path (a server's URL, password hidden), size, schema revision and counts.

    Example: capture db info --db capture.db
    """
    from capture.store.reader import describe

    for key, value in describe(db).items():
        print(f"{key:<16} {value}")


@db_app.command("upgrade")
def db_upgrade(*, db: DbOpt = DEFAULT_DB) -> None:
    """Upgrade an older capture file's schema in place.

    Example: capture db upgrade --db old-run.db
    """
    from capture.store import database as store
    from capture.store.location import is_postgres
    from capture.store.reader import sqlite_path

    # sqlite_path refuses a libpq string first: the message below must not quote one.
    if not is_postgres(db) and not sqlite_path(db).exists():
        raise UsageError(f"--db {db!r} does not exist")
    before, after = store.upgrade_file(db)
    print(f"schema {before} -> {after}" if before != after else f"schema {after}: up to date")


@db_app.command("metadata")
def db_metadata(*, db: DbOpt = DEFAULT_DB) -> None:
    """Print Datasette metadata (table and column descriptions, labels) for the file.

    Example: capture db metadata > metadata.json; datasette capture.db -m metadata.json
    """
    import json

    from capture.store.location import is_postgres
    from capture.store.metadata import datasette_metadata
    from capture.store.reader import sqlite_path

    if is_postgres(db):
        raise UsageError(
            "db metadata describes a SQLite file for Datasette; "
            "it does not apply to a PostgreSQL --db"
        )
    # Datasette names a database after its file, without the extension.
    name = sqlite_path(db).stem
    print(json.dumps(datasette_metadata(name), indent=2, ensure_ascii=False))
