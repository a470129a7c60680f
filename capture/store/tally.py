"""What a writer did with its records: one tally, summed over processes.

Data only, so that capture/results.py can carry it without importing the writer.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StorageTally"]


@dataclass(frozen=True, slots=True)
class StorageTally:
    """What a writer did with its records; summed over processes with +.

    stored_requests and stored_failures got their rows (stripped_bodies of those failures
    without their bodies, after a storage error); dropped_failures kept a requests row
    but no failures row; lost_requests got no row at all, lost_failures of them failed.
    doubtful_requests of the lost ones were in a PostgreSQL COMMIT whose answer never
    came (the server went away): the server may hold them.
    """

    stored_requests: int = 0
    stored_failures: int = 0
    dropped_failures: int = 0
    lost_requests: int = 0
    lost_failures: int = 0
    stripped_bodies: int = 0
    doubtful_requests: int = 0

    def __add__(self, other: StorageTally) -> StorageTally:
        return StorageTally(
            self.stored_requests + other.stored_requests,
            self.stored_failures + other.stored_failures,
            self.dropped_failures + other.dropped_failures,
            self.lost_requests + other.lost_requests,
            self.lost_failures + other.lost_failures,
            self.stripped_bodies + other.stripped_bodies,
            self.doubtful_requests + other.doubtful_requests,
        )
