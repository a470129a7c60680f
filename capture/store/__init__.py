"""The capture file: its columns (columns.py, the one list), the SQLAlchemy schema and
revisions, the write side and its writer thread, the read side, queries and filters."""
