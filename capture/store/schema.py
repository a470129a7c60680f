"""SQLAlchemy Core tables: the public schema of a capture file (see docs/schema.md).

Built from the plain list in columns.py, the one place columns are named. The migrations
under migrations/versions create exactly these tables; a test runs `alembic check` to
prove the two never drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

from capture.store.columns import FAILURES, REQUESTS, RUNS, ColumnSpec, TableSpec
from capture.store.revisions import REVISIONS

__all__ = ["REVISIONS", "failures", "metadata", "requests", "runs"]


# Every constraint named, so batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

_TYPES: dict[str, type[TypeEngine[Any]]] = {
    "integer": Integer,
    "real": Float,
    "text": Text,
    "blob": LargeBinary,
}


def _column(spec: ColumnSpec) -> Column[Any]:
    keys = [] if spec.references is None else [ForeignKey(spec.references, ondelete="CASCADE")]
    return Column(
        spec.name,
        _TYPES[spec.type],
        *keys,
        primary_key=spec.primary_key,
        nullable=spec.nullable,
    )


def _table(spec: TableSpec) -> Table:
    """Returns the SQLAlchemy table for spec, registered in metadata."""
    indexes = [Index(None, *ix.columns, unique=ix.unique) for ix in spec.indexes]
    return Table(spec.name, metadata, *(_column(c) for c in spec.columns), *indexes)


runs = _table(RUNS)
requests = _table(REQUESTS)
failures = _table(FAILURES)
