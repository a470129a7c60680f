"""Stats counts values per microsecond before they reach HdrHistogram: the percentiles,
the export to another process and the merge are those of recording each value at once."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from capture.store import stats as stats_module
from capture.store.record import Record
from capture.store.stats import Stats


def _records(count: int, seed: int) -> list[Record]:
    rnd = random.Random(seed)
    out = []
    for seq in range(count):
        rec = Record(seq, 0, 0, 0)
        rec.latency_s = rnd.lognormvariate(-6, 1.2)  # ~2.5 ms, a long tail
        rec.wait_s = rnd.choice((0.0, rnd.uniform(0, 0.01)))
        rec.lag_s = None if seq % 3 else rnd.uniform(-0.001, 0.02)
        rec.status = rnd.choice((200, 200, 500, None))
        rec.failed = rec.status != 200
        rec.start_s = seq / 1000.0
        out.append(rec)
    return out


def _direct(values: list[float]) -> HdrHistogram:
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for value in values:
        hist.record_value(min(3_600_000_000, max(1, int(value * 1_000_000))))
    return hist


def test_batched_counts_give_the_percentiles_of_each_value(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(stats_module, "_PENDING_MAX", 50)  # flushes mid-run too
    records = _records(5000, 1)
    stats = Stats()
    for start in range(0, len(records), 137):
        stats.add_many(records[start : start + 137])
    snap = stats.snapshot()
    latency = _direct([r.latency_s for r in records])
    lag = _direct([r.lag_s for r in records if r.lag_s is not None])
    for name, hist in (("latency_ms", latency), ("lag_ms", lag)):
        got = getattr(snap, name)
        for p in (50.0, 90.0, 99.0, 99.9):
            assert got[f"p{p:g}"] == hist.get_value_at_percentile(p) / 1000.0
        assert got["max"] == hist.get_max_value() / 1000.0
    assert snap.sent == 5000 and snap.failed == sum(1 for r in records if r.failed)
    assert snap.status_counts[500] == sum(1 for r in records if r.status == 500)
    assert snap.last_offset_s == max(r.start_s + r.latency_s for r in records)


def test_an_export_holds_the_values_not_yet_flushed() -> None:
    records = _records(300, 2)
    one, other = Stats(), Stats()
    one.add_many(records)  # far fewer than _PENDING_MAX: nothing flushed yet
    other.merge(one.export())
    assert other.snapshot().latency_ms == one.snapshot().latency_ms
    assert other.latency.get_total_count() == 300
