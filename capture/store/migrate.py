"""The Alembic side of the store: where the migrations are, and running them.

Alembic is imported only to migrate: read commands start faster without it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from capture.store.revisions import REVISIONS

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["head_revision", "migrate"]


def _migrations_dir() -> str:
    # Installed: the capture.migrations package. From a checkout: the top-level folder.
    try:
        return str(resources.files("capture.migrations"))
    except ModuleNotFoundError:  # pragma: no cover - only when packaging is broken
        return str(Path(__file__).resolve().parent.parent / "migrations")


def _alembic_config() -> Config:
    # Alembic is imported only to migrate: read commands start faster without it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    return cfg


def head_revision() -> str:
    """Returns the newest schema revision this version of capture knows."""
    return REVISIONS[-1]


def migrate(conn: Connection) -> None:
    """Runs every migration the database has not had yet on conn; the caller commits."""
    from alembic import command

    cfg = _alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
