"""The schema revisions this capture knows, oldest first; the last is the head.

Kept apart from schema.py (SQLAlchemy tables) so read commands can check a file's
revision without importing SQLAlchemy or Alembic. A test keeps this list equal to the
scripts in migrations/versions.
"""

REVISIONS = ("0001", "0002", "0003", "0004", "0005")
