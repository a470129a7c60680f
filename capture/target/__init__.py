"""The built-in fault-injecting HTTP/1.1 test target, standard library only."""

from capture.target.server import FaultServer, LedgerEntry, serve

__all__ = ["FaultServer", "LedgerEntry", "serve"]
