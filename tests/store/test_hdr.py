"""store/hdr.py's SQL buckets are HdrHistogram's: the same lowest equivalent value for
every latency, so a histogram built from grouped buckets is the one every row gives."""

from __future__ import annotations

import itertools
import random
import sqlite3
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from capture.store.hdr import (
    MAX_US,
    bucket_of,
    bucket_sql,
    highest_equivalent,
    percentiles_of,
)
from capture.store.ranks import curve_levels, exact_distribution, nearest_rank


def _values() -> list[float]:
    rnd = random.Random(5)
    # every magnitude from 1 µs to an hour, in ms with three decimals as stored
    return [round(10 ** rnd.uniform(-3, 6.5), 3) for _ in range(4000)] + [
        0.0,
        0.001,
        2.047,
        2.048,
        4.095,
        4.096,
        3_600_000.0,
    ]


def test_sql_bucket_is_the_lowest_equivalent_value(tmp_path: Path) -> None:
    hist = HdrHistogram(1, MAX_US, 3)
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("CREATE TABLE t (v REAL)")
    values = _values()
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    got = [b for (b,) in conn.execute(f"SELECT {bucket_sql('v')} FROM t ORDER BY rowid")]
    conn.close()
    for value, bucket in zip(values, got, strict=True):
        us = min(round(value * 1000), MAX_US)
        assert bucket == hist.get_lowest_equivalent_value(us), value
        assert highest_equivalent(bucket) == hist.get_highest_equivalent_value(us), value


def test_bucket_percentiles_are_the_nearest_rank_bucket() -> None:
    hist = HdrHistogram(1, MAX_US, 3)
    values = sorted(_values())
    counts: dict[int, int] = {}
    for v in values:
        b = hist.get_lowest_equivalent_value(min(round(v * 1000), MAX_US))
        counts[b] = counts.get(b, 0) + 1
    percents = (50.0, 90.0, 99.0, 99.9, 100.0)
    got = percentiles_of(sorted(counts.items()), len(values), percents)
    for p, value in zip(percents, got, strict=True):
        exact_us = min(round(nearest_rank(values, p) * 1000), MAX_US)
        assert value == hist.get_highest_equivalent_value(exact_us) / 1000.0


def test_exact_distribution() -> None:
    values = sorted(_values())
    dist = exact_distribution(values)
    assert dist is not None
    assert dist["count"] == len(values) == sum(b[2] for b in dist["histogram"])
    curve = dist["percentiles"]
    assert curve[0] == [0.0, values[0]] and curve[-1] == [100.0, values[-1]]
    assert [p for p, _ in curve] == [round(p, 6) for p in curve_levels(len(values))]
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(curve))
    for low, high, n in dist["histogram"][:-1]:
        assert n == sum(1 for v in values if low <= v < high)
    assert exact_distribution([]) is None


@pytest.mark.parametrize("digits", [2, 3])
def test_bucket_of_is_the_sql_bucket(tmp_path: Path, digits: int) -> None:
    """bucket_of (the report's series, grouped in Python) gives bucket_sql's bucket for
    every magnitude, the edges of each halving, negatives and past an hour."""
    values = [*_values(), -5.0, -0.0004, 0.0004, 0.0005, 0.2555, 0.2556, 0.5115, 0.5125]
    values += [x / 1000 + d for x in (256, 512, 1024, 2048, 4096) for d in (-0.001, 0, 0.001)]
    values += [3_599_999.999, 4e6, 1e12]
    conn = sqlite3.connect(tmp_path / "b.db")
    conn.execute("CREATE TABLE t (v REAL)")
    conn.executemany("INSERT INTO t VALUES (?)", [(v,) for v in values])
    got = [b for (b,) in conn.execute(f"SELECT {bucket_sql('v', digits)} FROM t ORDER BY rowid")]
    conn.close()
    assert [bucket_of(v, digits) for v in values] == got
    assert len(set(got)) > 100
