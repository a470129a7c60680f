"""SQLAlchemy Core tables: the public schema of a capture file (see docs/schema.md).

Built from the plain list in columns.py, the one place columns are named. The migrations
under migrations/versions create exactly these tables; a test runs `alembic check` to
prove the two never drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeEngine

from capture.store.columns import FAILURES, REQUESTS, RUN_HOSTS, RUNS, ColumnSpec, TableSpec
from capture.store.revisions import REVISIONS

__all__ = ["REVISIONS", "failures", "metadata", "requests", "run_hosts", "runs"]


# Every constraint named, so batch migrations on SQLite can find them again.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# On PostgreSQL every integer is a bigint (revision 0004): ids, sizes and counts of a
# store shared by many runs outgrow 2^31. SQLite's INTEGER is 64-bit already.
_TYPES: dict[str, TypeEngine[Any]] = {
    "integer": Integer().with_variant(BigInteger(), "postgresql"),
    "real": Float(),
    "text": Text(),
    "blob": LargeBinary(),
}


def _column(spec: ColumnSpec) -> Column[Any]:
    keys = [] if spec.references is None else [ForeignKey(spec.references, ondelete="CASCADE")]
    return Column(
        spec.name,
        _TYPES[spec.type],
        *keys,
        primary_key=spec.primary_key,
        nullable=spec.nullable,
        server_default=None if spec.default is None else text(spec.default),
    )


def _table(spec: TableSpec) -> Table:
    """Returns the SQLAlchemy table for spec, registered in metadata."""
    indexes = [Index(None, *ix.columns, unique=ix.unique) for ix in spec.indexes]
    return Table(spec.name, metadata, *(_column(c) for c in spec.columns), *indexes)


runs = _table(RUNS)
requests = _table(REQUESTS)
failures = _table(FAILURES)
run_hosts = _table(RUN_HOSTS)
