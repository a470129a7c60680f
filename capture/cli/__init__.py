"""The command line: the Typer app, its shared options, one module per command group.

No SQL and no threads here: each command parses, calls the library, renders, exits."""

from capture.cli.main import app, entry_point, main

__all__ = ["app", "entry_point", "main"]
