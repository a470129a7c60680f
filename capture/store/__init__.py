"""The capture file: schema, revisions, the write side and its writer thread, the read
side, queries and filters."""
