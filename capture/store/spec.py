"""The shapes of capture's schema list (columns.py): tables, columns, indexes.

Plain data, no SQLAlchemy, so the read side can import it without paying for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ColumnSpec", "ColumnType", "IndexSpec", "TableSpec", "select_list"]

ColumnType = Literal["integer", "real", "text", "blob"]


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One column: its name, SQL type, nullability, and the key it is or points to."""

    name: str
    type: ColumnType
    nullable: bool = True
    primary_key: bool = False
    references: str | None = None  # "table.column", deleted with it (ON DELETE CASCADE)
    default: str | None = None  # the SQL default of a NOT NULL column added later
    doc: str = ""  # what a value means, for people: docs/schema.md and Datasette's metadata


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index over columns; its name comes from the naming convention in schema.py."""

    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its columns in stored order, and its indexes in creation order."""

    name: str
    columns: tuple[ColumnSpec, ...]
    indexes: tuple[IndexSpec, ...] = ()
    doc: str = ""  # what one row is

    @property
    def names(self) -> tuple[str, ...]:
        """Returns the column names in stored order."""
        return tuple(c.name for c in self.columns)

    def check(self, *names: str) -> tuple[str, ...]:
        """Returns names unchanged; raises KeyError for any that is not a column."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"{self.name} has no column {', '.join(unknown)}")
        return names


def select_list(alias: str, table: TableSpec, *names: str) -> str:
    """Returns 'a.x, a.y' for columns of table; raises KeyError for a name it lacks."""
    return ", ".join(f"{alias}.{n}" for n in table.check(*names))
