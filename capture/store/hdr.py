"""Latency buckets as HdrHistogram keeps them, grouped by the database: a million rows
become a few thousand (bucket, count) rows, and the histogram built from them is the one
recording every row would give (values of one bucket are equivalent to HdrHistogram).

Microseconds, 3 significant digits, as the live histograms (store/stats.py): values
below 2,048 are exact, each power of two above halves the resolution.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from hdrh.histogram import HdrHistogram

from capture.store.ranks import log_histogram

__all__ = [
    "MAX_US",
    "SIG_DIGITS",
    "bucket_of",
    "bucket_sql",
    "buckets_of",
    "distribution",
    "highest_equivalent",
    "histogram_of",
    "percentiles_of",
]

MAX_US = 3_600_000_000  # one hour: longer latencies are counted as one hour
SIG_DIGITS = 3  # as the live histograms'
_CURVE_TICKS = 5  # percentile curve points per halving of the distance to 100 %


def _exact_below(digits: int) -> int:
    """HdrHistogram's sub-bucket count for these significant digits: 2 x 10^d, rounded
    up to a power of two (3 digits: 2,048; 2 digits: 256)."""
    return 1 << math.ceil(math.log2(2 * 10**digits))


def bucket_sql(column: str, digits: int = SIG_DIGITS) -> str:
    """Returns SQL that maps a column in ms to its HdrHistogram bucket in microseconds
    (the lowest value equivalent to it, at these significant digits); negative values
    count as 0."""
    us = (
        f"(CASE WHEN {column} >= {MAX_US // 1000} THEN {MAX_US}"
        # to the nearest µs: a stored 2.026 ms may be 2.02599999 in binary
        f" WHEN {column} <= 0 THEN 0 ELSE CAST({column} * 1000 + 0.5 AS INTEGER) END)"
    )
    exact = _exact_below(digits)
    whens = [f"WHEN {us} < {exact} THEN {us}"]
    shift = 1
    while exact << (shift - 1) <= MAX_US:
        size = 1 << shift
        whens.append(f"WHEN {us} < {exact << shift} THEN {us} / {size} * {size}")
        shift += 1
    return f"(CASE {' '.join(whens)} ELSE {MAX_US} END)"


def bucket_of(value_ms: float, digits: int = SIG_DIGITS) -> int:
    """Returns bucket_sql's bucket of one value in ms (buckets_of)."""
    return buckets_of([value_ms], digits)[0]


def buckets_of(values_ms: Iterable[float], digits: int = SIG_DIGITS) -> list[int]:
    """Returns bucket_sql's bucket of each value in ms, computed here: the same
    microseconds (rounded, clamped), and below 2^k x the exact range the value with its
    lowest k bits cleared, as the SQL's `/ 2^k * 2^k` on a positive integer."""
    exact = _exact_below(digits)
    kept = exact.bit_length() - 1  # the bits a bucket keeps
    top_ms = MAX_US // 1000
    out: list[int] = []
    add = out.append
    for value in values_ms:
        if value >= top_ms:
            us = MAX_US
        elif value <= 0:
            add(0)
            continue
        else:
            us = int(value * 1000 + 0.5)
        if us < exact:
            add(us)
        else:
            shift = us.bit_length() - kept
            add(us >> shift << shift)
    return out


def highest_equivalent(bucket_us: int, digits: int = SIG_DIGITS) -> int:
    """The highest value of a bucket, which HdrHistogram reports for a percentile."""
    shift = max(0, bucket_us.bit_length() - _exact_below(digits).bit_length() + 1)
    return bucket_us + (1 << shift) - 1


def percentiles_of(
    buckets: Sequence[tuple[int, int]],
    total: int,
    percents: Sequence[float],
    digits: int = SIG_DIGITS,
) -> list[float]:
    """Percentiles in ms of ascending (bucket µs, count) pairs: the bucket of the
    nearest-rank value (the ceil(p/100 * total)-th, as the summary's exact percentiles),
    reported as HdrHistogram reports a bucket, by its highest equivalent value."""
    out: list[float] = []
    # In tenths of a percent, integers only, as ranks.nearest_rank
    targets = [max(1, -(-round(p * 10) * total // 1000)) for p in percents]
    running, i = 0, 0
    for bucket, n in buckets:
        running += n
        while i < len(targets) and running >= targets[i]:
            out.append(highest_equivalent(bucket, digits) / 1000.0)
            i += 1
        if i == len(targets):
            break
    return out


def histogram_of(buckets: Iterable[tuple[int, int]]) -> HdrHistogram:
    """An HdrHistogram holding every (bucket µs, count)."""
    hist = HdrHistogram(1, MAX_US, SIG_DIGITS)
    for bucket, n in buckets:
        hist.record_value(bucket, n)
    return hist


def distribution(buckets: Sequence[tuple[int, int]]) -> dict[str, Any] | None:
    """The percentile curve and the log-binned histogram of ascending (bucket, count)
    pairs (docs/report.md: distribution); None when there are none."""
    total = sum(n for _, n in buckets)
    if total == 0:
        return None
    hist = histogram_of(buckets)
    curve: list[list[float]] = []
    for item in hist.get_percentile_iterator(_CURVE_TICKS):
        point = [round(item.percentile_level_iterated_to, 6), item.value_iterated_to / 1000.0]
        if curve and curve[-1][0] == point[0]:
            curve[-1] = point
        else:
            curve.append(point)
    values = [bucket / 1000.0 for bucket, _ in buckets]
    histogram = log_histogram(values, list(itertools.accumulate(n for _, n in buckets)))
    return {"count": total, "percentiles": curve, "histogram": histogram}
