"""Exact percentiles of sorted latencies, and a whole distribution drawn from them at the
percentile levels HdrHistogram's percentile iterator visits (docs/report.md)."""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

__all__ = ["curve_levels", "exact_distribution", "log_bin_edges", "log_histogram", "nearest_rank"]

TICKS_PER_HALF = 5  # curve points per halving of the distance to 100 %
BINS_PER_DECADE = 10


def nearest_rank(ordered: Any, p: float) -> float:
    """Returns the p-th percentile of an ascending sequence: its ceil(p/100 * n)-th value."""
    # In tenths of a percent, integers only: 99.9 * 1000 / 100 is not 999 in floats.
    rank = -(-round(p * 10) * len(ordered) // 1000)
    return float(ordered[max(1, rank) - 1])


def curve_levels(count: int) -> list[float]:
    """The percentile levels of HdrHistogram's PercentileIterator (5 ticks per half
    distance) up to the last one a run of count values resolves, then 100."""
    levels, level = [0.0], 0.0
    while True:
        gap = 100.0 - level
        level += 100.0 / (TICKS_PER_HALF * 2 ** (math.log2(100.0 / gap) + 1))
        if level >= 100.0 * (count - 1) / count or level >= 99.9999:
            break
        levels.append(level)
    return [*levels, 100.0]


def log_bin_edges(low_ms: float, high_ms: float) -> list[float]:
    """Bin edges in ms, a tenth of a decade apart, from below low to above high."""
    first = math.floor(math.log10(max(low_ms, 0.001)) * BINS_PER_DECADE)
    last = math.floor(math.log10(max(high_ms, 0.001)) * BINS_PER_DECADE) + 1
    return [round(10 ** (k / BINS_PER_DECADE), 6) for k in range(first, last + 1)]


def log_histogram(
    ordered: Sequence[float], running: Sequence[int] | None = None
) -> list[list[float]]:
    """[from_ms, to_ms, count] in bins a tenth of a decade wide, empty ones left out, of
    ascending values in ms; running[i], when given, is how many values the first i + 1
    stand for (HdrHistogram buckets with their counts), else one each."""
    if not ordered:
        return []

    def upto(i: int) -> int:  # how many values the first i entries stand for
        return i if running is None else (running[i - 1] if i else 0)

    edges = log_bin_edges(ordered[0], ordered[-1])
    edges[0] = min(edges[0], float(ordered[0]))  # a 0 ms latency: the first bin from 0
    bins: list[list[float]] = []
    start = 0
    for low, high in itertools.pairwise(edges):
        end = bisect_left(ordered, high, lo=start)
        if end > start:
            bins.append([low, high, upto(end) - upto(start)])
        start = end
    if start < len(ordered):  # values at or above the last edge
        bins.append([edges[-1], float(ordered[-1]), upto(len(ordered)) - upto(start)])
    return bins


def exact_distribution(ordered: Sequence[float]) -> dict[str, Any] | None:
    """The percentile curve (nearest rank at curve_levels) and log-binned histogram of
    ascending values in ms; None for none."""
    count = len(ordered)
    if count == 0:
        return None
    curve = [[round(p, 6), ordered[0] if p == 0 else nearest_rank(ordered, p)]
             for p in curve_levels(count)]  # fmt: skip
    bins = log_histogram(ordered)
    return {"count": count, "percentiles": curve, "histogram": bins}
