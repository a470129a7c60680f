"""What `capture summary` tallies over a run's rows, read from PostgreSQL in few rows.

report.py's SQLite path reads each request and failure row and counts in Python; over
a network connection that is a million rows to decode (seconds). Here the server
groups (per URL, per failure key, per second, remote and socket) and sends the groups;
report.py shapes both into the same summary, so the output is byte for byte the same.
Imported by report.py; psycopg only through pgread's connection, never at import.
"""

from __future__ import annotations

from array import array
from collections import Counter
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from capture.store.source import ReadConnection
from capture.store.urls import url_template

if TYPE_CHECKING:
    from capture.store.pgread import PgConnection

__all__ = [
    "FailureKey",
    "FailureTally",
    "UrlTally",
    "failure_tally",
    "latency_ranks",
    "second_classes",
    "truncated",
    "url_tally",
]

# (status, error_kind, url, body_signature): what a failure group is counted by.
FailureKey = tuple[int | None, str | None, str, str | None]
UrlKey = tuple[str, str]  # method and URL template


class UrlTally(NamedTuple):
    """Each (method, URL template)'s latencies and its number of failed requests."""

    latencies: dict[UrlKey, array[float]]
    failed: Counter[UrlKey]


class FailureTally(NamedTuple):
    """The counts one pass over a run's failures gives, each in first-seen order.

    groups: key -> [count, first request id, its offset_ms, the last one's offset_ms];
    sockets: counted by (connection_id, local_addr).
    """

    groups: dict[FailureKey, list[Any]]
    seconds: Counter[int]
    remotes: Counter[str | None]
    sockets: Counter[tuple[int | None, str | None]]


# Latencies as one float8[] per URL, in binary: 8 bytes a value, no text to parse.
_PER_URL = """
SELECT method, url, count(*) FILTER (WHERE failed <> 0), array_agg(latency_ms)
FROM requests WHERE run_id = %s GROUP BY method, url
"""


def url_tally(conn: ReadConnection, run_id: int) -> UrlTally:
    """Returns the latencies and failures of a run per method and URL template."""
    latencies: dict[UrlKey, array[float]] = {}
    failed: Counter[UrlKey] = Counter()
    for method, url, failures, values in _pg(conn).fetch_binary(_PER_URL, (run_id,)):
        key = (method, url_template(url))
        found = latencies.get(key)
        if found is None:
            latencies[key] = array("d", values)
        else:
            found.extend(values)
        if failures:
            failed[key] += failures
    return UrlTally(latencies, failed)


# GROUPING's bits, url (8), second (4), remote_addr (2), connection_id (1), are 1 where a
# column is not grouped: each set groups by exactly one of them.
_GROUPS, _SECONDS, _REMOTES, _SOCKETS = 7, 11, 13, 14

# One join of the failures with their requests, counted four ways in one scan. min(id)
# and max(id) place each group: first seen (report.py's order), first and last row.
_FAILURE_SETS = """
SELECT GROUPING(url, second, remote_addr, connection_id), status, error_kind, url,
       body_signature, second, remote_addr, connection_id, local_addr,
       count(*), min(id), max(id)
FROM (SELECT r.id, r.status, r.error_kind, r.url, f.body_signature, r.remote_addr,
             r.connection_id, r.local_addr, trunc(r.offset_ms / 1000)::bigint AS second
      FROM failures AS f JOIN requests AS r ON r.id = f.request_id
      WHERE f.run_id = %s) AS j
GROUP BY GROUPING SETS ((status, error_kind, url, body_signature), (second), (remote_addr),
                        (connection_id, local_addr))
ORDER BY min(id)
"""


def failure_tally(read: ReadConnection, run_id: int) -> FailureTally:
    """Returns a run's failures counted by group, second, remote address and socket."""
    conn = _pg(read)
    rows = conn.fetch_binary(_FAILURE_SETS, (run_id,))
    keyed = [r for r in rows if r[0] == _GROUPS]
    ids = sorted({r[10] for r in keyed} | {r[11] for r in keyed})
    offsets = dict(
        conn.fetch_binary("SELECT id, offset_ms FROM requests WHERE id = ANY(%s)", (ids,))
    )
    tally = FailureTally({}, Counter(), Counter(), Counter())
    for kind, status, error, url, sig, second, remote, connection, local, n, low, high in rows:
        if kind == _GROUPS:
            tally.groups[(status, error, url, sig)] = [n, low, offsets[low], offsets[high]]
        elif kind == _SECONDS:
            tally.seconds[second] = n
        elif kind == _REMOTES:
            tally.remotes[remote] = n
        elif kind == _SOCKETS:
            tally.sockets[(connection, local)] = n
    return tally


def latency_ranks(
    conn: ReadConnection, run_id: int, failed: int, count: int, ranks: list[int]
) -> tuple[list[float], float]:
    """Returns the latencies at 0-based ranks among a run's count rows of this failed
    value, ascending, and the largest: one sort, where an OFFSET walks per rank."""
    # percentile_disc(f) takes row ceil(f * n) (1-based): f = (rank + 0.5) / n lands
    # half a row inside the wanted one, out of reach of float rounding.
    fractions = [(rank + 0.5) / count for rank in ranks]
    ((values, top),) = _pg(conn).fetch_binary(
        "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY latency_ms),"
        " max(latency_ms) FROM requests WHERE run_id = %s AND failed = %s",
        (fractions, run_id, failed),
    )
    return [float(v) for v in values], float(top)


def second_classes(conn: ReadConnection, run_id: int) -> list[tuple[int, str, int]]:
    """Returns (second, status class, requests) of a run, by second then class: counted
    per status by the server (no text built per row), classed here as SQLite's SQL does."""
    counts: Counter[tuple[int, str]] = Counter()
    for second, status, n in _pg(conn).fetch_binary(
        "SELECT trunc(offset_ms / 1000)::bigint, status, count(*) FROM requests"
        " WHERE run_id = %s GROUP BY 1, 2",
        (run_id,),
    ):
        counts[(second, "error" if status is None else f"{truncated(status, 100)}xx")] += n
    return [(second, cls, n) for (second, cls), n in sorted(counts.items())]


def truncated(value: int, divisor: int) -> int:
    """Integer division toward zero, as SQLite's (Python's // floors)."""
    quotient = abs(value) // divisor
    return quotient if value >= 0 else -quotient


def _pg(conn: ReadConnection) -> PgConnection:
    """Returns the connection of a PostgreSQL source (ReadOnly.postgres) as what it is."""
    return cast("PgConnection", conn)
