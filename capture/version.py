"""capture's version, in a module of its own so any layer can read it without
importing the package's public API (capture/__init__ lazily pulls in api and runner)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
