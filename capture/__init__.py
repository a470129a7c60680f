"""capture: drive HTTP load at a service and keep every failed response in SQLite."""

__version__ = "0.1.0"
