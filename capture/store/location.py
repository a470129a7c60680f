"""Where --db points: a SQLite file (the default) or a PostgreSQL server.

Plain string work, no driver imported: a read command on SQLite must not pay for
psycopg or SQLAlchemy, and a URL must be told apart before anything opens it.
"""

from __future__ import annotations

import re

from capture.errors import UsageError

__all__ = [
    "LOST_CONNECTION",
    "POSTGRES_SCHEMES",
    "is_postgres",
    "looks_like_libpq",
    "password_hint",
    "refuse_libpq",
    "require_driver",
    "sqlalchemy_url",
]

POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
LOST_CONNECTION = "lost the connection to the database"  # how a gone server's error begins


# libpq's connection keywords (PostgreSQL docs, "Parameter Key Words").
_LIBPQ_KEYWORDS = frozenset(
    """host hostaddr port dbname user password passfile require_auth channel_binding
    connect_timeout client_encoding options application_name fallback_application_name
    keepalives keepalives_idle keepalives_interval keepalives_count tcp_user_timeout
    replication gssencmode sslmode requiressl sslnegotiation sslcompression sslcert sslkey
    sslkeylogfile sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni
    requirepeer ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib
    gssdelegation service target_session_attrs load_balance_hosts""".split()  # noqa: SIM905
)
# One keyword = value pair: a value is 'quoted' (\' and \\ escaped) or has no space.
_LIBPQ_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s']*)\s*")


def looks_like_libpq(db: str) -> bool:
    """Tells whether db is a libpq keyword string (host=... dbname=...), not a file name:
    nothing but key=value pairs, one key at least libpq's (a misspelt one among them
    must not make the rest, password and all, a file name)."""
    if "://" in db or "=" not in db:
        return False
    at, known = 0, False
    while at < len(db):
        pair = _LIBPQ_PAIR.match(db, at)
        if pair is None or pair.end() == at:
            return False
        known = known or pair[1].lower() in _LIBPQ_KEYWORDS
        at = pair.end()
    return known


def refuse_libpq(db: str) -> None:
    """Raises a usage error for a libpq keyword string, before it becomes a file name
    (and its password a stored command line); the message does not repeat it."""
    if looks_like_libpq(db):
        raise UsageError(
            "--db looks like a libpq connection string (host=… dbname=…): "
            "give it as a URL, postgresql://user@host:port/dbname"
        )


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


def password_hint(message: str) -> str:
    """Returns a connection error with where libpq looks for a password, when it wanted one:
    the commands capture prints leave the password out of the URL."""
    if "no password supplied" in message:
        return f"{message} (give it in PGPASSWORD, ~/.pgpass or the URL)"
    return message
