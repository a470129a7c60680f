"""Where --db points: a SQLite file (the default) or a PostgreSQL server.

Plain string work, no driver imported: a read command on SQLite must not pay for
psycopg or SQLAlchemy, and a URL must be told apart before anything opens it.
"""

from __future__ import annotations

from capture.errors import UsageError

__all__ = ["LOST_CONNECTION", "POSTGRES_SCHEMES", "is_postgres", "require_driver", "sqlalchemy_url"]

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
LOST_CONNECTION = "lost the connection to the database"  # how a gone server's error begins


def is_postgres(db: str) -> bool:
    """Returns True when db is a postgresql:// (or postgres://) URL."""
    scheme, sep, _ = db.partition("://")
    return bool(sep) and scheme.lower() in POSTGRES_SCHEMES


def sqlalchemy_url(db: str) -> str:
    """Returns the SQLAlchemy URL of a PostgreSQL --db, with the psycopg 3 driver."""
    if not is_postgres(db):
        raise UsageError("not a postgresql:// URL")
    return "postgresql+psycopg://" + db.partition("://")[2]


def require_driver() -> None:
    """Raises a usage error naming the extra when psycopg is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise UsageError(
            "--db postgresql://…: the PostgreSQL driver is not installed; "
            "pip install 'capture[postgres]'"
        ) from None
