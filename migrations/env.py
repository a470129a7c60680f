"""Alembic environment for capture.

capture runs migrations in-process and hands its connection over through
config.attributes["connection"]; the `alembic` command line (alembic.ini) gets an
engine from sqlalchemy.url instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from capture.store.schema import metadata

config = context.config


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite can barely ALTER: copy-and-move instead
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Runs the migrations on the caller's connection, or on one made from the ini file."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        _run(conn)


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
